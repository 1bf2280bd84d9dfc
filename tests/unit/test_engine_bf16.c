/* tests/unit/test_engine_bf16.c: inference on a bf16 copy of the matrices
 * (model/infer_weights.h): the copy follows the fp32 weights it is packed from (a weight
 * update repacks it, the same version does not), and on the real SmolLM2-135M, the
 * gap it opens between rollout log-probs and the learner's fp32 forward. */
#define _POSIX_C_SOURCE 200809L
#include "test.h"

#include "learn/synth.h"
#include "model/infer_weights.h"
#include "model/load.h"
#include "ops/gemm_bf16.h"
#include "rollout/engine.h"

#include <stdlib.h>
#include <string.h>

/* Logits (V) of the last of n tokens through a fresh cache. */
static cada_status last_logits(const cada_model *m, const int *tok, int n, float *logits) {
    cada_kv_cache kv;
    CADA_TRY(cada_kv_cache_init(&kv, &m->cfg, 1, 32, 32, 0, 0));
    cada_infer_seq s = {0, n, tok};
    cada_status st = cada_model_infer(m, &kv, &s, 1, logits);
    cada_kv_cache_free(&kv);
    return st;
}

typedef struct {
    const uint16_t *h;
    const float *f;
    size_t n;
} mat;

/* m->bf16 holds exactly bf16_pack of m's current fp32 matrices. */
static int pack_matches(const cada_model *m) {
    const cada_infer_weights *b = m->bf16;
    const cada_model_config *c = &m->cfg;
    const size_t C = (size_t)c->hidden_size, I = (size_t)c->intermediate_size, HD = (size_t)c->n_heads * c->head_dim;
    const size_t QKV = HD + 2 * (size_t)c->n_kv_heads * c->head_dim;
    mat mats[4 * 8 + 1];
    int k = 0;
    for (int l = 0; l < c->n_layers && l < 8; l++) {
        mats[k++] = (mat){CADA_BF16_LAYER(b, qkv, l), CADA_LAYER(&m->p, qkv_w, l), QKV * C};
        mats[k++] = (mat){CADA_BF16_LAYER(b, o, l), CADA_LAYER(&m->p, o_w, l), C * HD};
        mats[k++] = (mat){CADA_BF16_LAYER(b, gu, l), CADA_LAYER(&m->p, gu_w, l), 2 * I * C};
        mats[k++] = (mat){CADA_BF16_LAYER(b, down, l), CADA_LAYER(&m->p, down_w, l), C * I};
    }
    mats[k++] = (mat){b->lm_head, m->p.lm_head, (size_t)c->vocab_size * C};
    for (int i = 0; i < k; i++) {
        uint16_t *want = malloc(sizeof(uint16_t) * mats[i].n);
        if (!want) return 0;
        bf16_pack(want, mats[i].f, mats[i].n);
        int same = !memcmp(want, mats[i].h, sizeof(uint16_t) * mats[i].n);
        free(want);
        if (!same) return 0;
    }
    return 1;
}

/* What the weight sync and the colocated learner do to a rollout model: new fp32
 * weights, then cada_infer_weights_pack / _refresh with the new version. */
TEST(infer_bf16_pack_follows_weight_updates) {
    for (int tie = 0; tie <= 1; tie++) {
        cada_model_config cfg;
        cada_synth_config(&cfg, 64, 32, 2, tie);
        cada_model m, other;
        REQUIRE_OK(cada_synth_model(&m, &cfg, 11, 0.1f));
        REQUIRE_OK(cada_synth_model(&other, &cfg, 12, 0.1f)); /* the "learner's" next weights */
        const int tok[5] = {3, 9, 27, 17, 51};
        const int V = cfg.vocab_size;
        float *fp32 = malloc(sizeof(float) * V), *v1 = malloc(sizeof(float) * V), *v2 = malloc(sizeof(float) * V),
              *again = malloc(sizeof(float) * V);
        REQUIRE(fp32 && v1 && v2 && again);
        REQUIRE_OK(last_logits(&m, tok, 5, fp32));
        REQUIRE_OK(cada_infer_weights_pack(&m, 1));
        EXPECT(m.bf16 && m.bf16->version == 1 && m.bf16->bytes == cada_infer_weights_bytes(&cfg));
        EXPECT(pack_matches(&m), "tie %d: the pack is not bf16 of the weights", tie);
        REQUIRE_OK(last_logits(&m, tok, 5, v1));
        /* the bf16 copy is used: logits move, by about the weights' rounding (2^-8) */
        double moved = 0, scale = 0;
        for (int v = 0; v < V; v++) moved = fmax(moved, fabs(v1[v] - fp32[v])), scale = fmax(scale, fabs(fp32[v]));
        EXPECT(moved > 0 && moved < 0.05 * scale + 1e-3, "tie %d: bf16 logits moved %g (scale %g)", tie, moved, scale);
        /* a weight update: new fp32 weights. The same version does not repack (the copy
         * is stale until the caller says which version it now holds) ... */
        memcpy(m.params, other.params, sizeof(float) * m.n_params);
        uint16_t *before = malloc(m.bf16->bytes);
        REQUIRE(before);
        memcpy(before, m.bf16->buf, m.bf16->bytes);
        REQUIRE_OK(cada_infer_weights_refresh(&m, 1));
        EXPECT(!memcmp(before, m.bf16->buf, m.bf16->bytes), "same version: repacked");
        /* ... a new version does, and inference follows */
        REQUIRE_OK(cada_infer_weights_refresh(&m, 2));
        EXPECT(m.bf16->version == 2 && memcmp(before, m.bf16->buf, m.bf16->bytes) != 0, "tie %d: the new weights were not packed", tie);
        EXPECT(pack_matches(&m), "tie %d: the repack is not bf16 of the new weights", tie);
        REQUIRE_OK(last_logits(&m, tok, 5, v2));
        REQUIRE_OK(cada_infer_weights_pack(&other, 2));
        REQUIRE_OK(last_logits(&other, tok, 5, again));
        EXPECT(!memcmp(v2, again, sizeof(float) * V), "tie %d: the repacked model differs from one packed fresh", tie);
        /* dropped: the fp32 path again, bit for bit (m now holds other's weights) */
        cada_infer_weights_drop(&other);
        cada_infer_weights_drop(&m);
        EXPECT(other.bf16 == NULL && m.bf16 == NULL);
        REQUIRE_OK(last_logits(&m, tok, 5, v1));
        REQUIRE_OK(last_logits(&other, tok, 5, again));
        EXPECT(!memcmp(v1, again, sizeof(float) * V) && memcmp(v1, v2, sizeof(float) * V) != 0, "tie %d: fp32 path after drop", tie);
        free(before);
        free(fp32), free(v1), free(v2), free(again);
        cada_model_free(&m);
        cada_model_free(&other);
    }
}
