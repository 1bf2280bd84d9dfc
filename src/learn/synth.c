/* learn/synth.c: see synth.h. */
#include "learn/synth.h"

#include "base/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void cada_synth_config(cada_model_config *c, int vocab, int hidden, int layers, int tie) {
    memset(c, 0, sizeof *c);
    c->arch = CADA_ARCH_LLAMA;
    c->vocab_size = vocab;
    c->hidden_size = hidden;
    c->intermediate_size = 2 * hidden;
    c->n_layers = layers;
    c->head_dim = 8;
    c->n_heads = hidden / 8 > 0 ? hidden / 8 : 1;
    c->n_kv_heads = c->n_heads >= 2 && c->n_heads % 2 == 0 ? 2 : c->n_heads;
    c->rms_eps = 1e-5f;
    c->rope_theta = 10000.0f;
    c->rope_type = CADA_ROPE_DEFAULT;
    c->rope_factor = 1.0f;
    c->max_position_embeddings = 4096;
    c->tie_embeddings = tie;
    c->bos_token_id = -1;
    c->eos_token_id = -1;
    strcpy(c->dtype, "float32");
}

void cada_synth_config_tp(cada_model_config *cfg, int qwen) {
    cada_synth_config(cfg, 96, 64, 2, !qwen);
    cfg->n_kv_heads = 4;
    if (qwen) {
        cfg->arch = CADA_ARCH_QWEN2;
        cfg->qkv_bias = 1;
    }
}

cada_status cada_synth_model(cada_model *m, const cada_model_config *cfg, uint64_t seed, float std) {
    CADA_TRY(cada_model_init(m, cfg));
    cada_rng r;
    cada_rng_init(&r, seed, 0x5e17, 0, 0);
    for (size_t i = 0; i < m->n_params; i++) m->params[i] = std * cada_rng_normal(&r);
    const int C = cfg->hidden_size;
    for (int l = 0; l < cfg->n_layers; l++) {
        float *a = CADA_LAYER(&m->p, attn_norm, l), *f = CADA_LAYER(&m->p, ffn_norm, l);
        for (int i = 0; i < C; i++) a[i] = f[i] = 1.0f;
    }
    for (int i = 0; i < C; i++) m->p.final_norm[i] = 1.0f;
    return CADA_OK;
}

cada_status cada_synth_batch_make(cada_synth_batch *b, int n, int group, int V, int P, int maxc, int fixed_len, int with_ref,
                                  uint64_t seed) {
    memset(b, 0, sizeof *b);
    if (n < 0 || group < 1 || V < 2 || P < 1 || maxc < 1)
        return CADA_ERR(CADA_ERR_ARG, "synthetic batch: n %d, group %d, vocab %d, prompt %d, completion %d", n, group, V, P, maxc);
    cada_rng r;
    cada_rng_init(&r, seed, 0xba7c, 0, 0);
    int *lens = malloc(sizeof(int) * (size_t)(n ? n : 1));
    size_t ntok = 0, nlp = 0;
    if (!lens) return CADA_ERR(CADA_ERR_NOMEM, "synthetic batch");
    for (int i = 0; i < n; i++) {
        lens[i] = fixed_len ? maxc : 1 + (int)(cada_rng_u32(&r) % (uint32_t)maxc);
        ntok += (size_t)(P + lens[i]);
        nlp += (size_t)lens[i];
    }
    b->t = calloc((size_t)(n ? n : 1), sizeof *b->t);
    b->tokens = malloc(sizeof(int) * (ntok ? ntok : 1));
    b->lp = malloc(sizeof(float) * (nlp ? 2 * nlp : 1));
    if (!b->t || !b->tokens || !b->lp) {
        free(lens);
        cada_synth_batch_free(b);
        return CADA_ERR(CADA_ERR_NOMEM, "synthetic batch of %d sequences", n);
    }
    b->n = n;
    int *tk = b->tokens;
    float *ro = b->lp, *ref = b->lp + nlp;
    const float base = -logf((float)V);
    for (int i = 0; i < n; i++) {
        cada_traj *s = &b->t[i];
        s->tokens = tk;
        s->prompt_len = P;
        s->completion_len = lens[i];
        s->group = i / group;
        if (i % group == 0)
            for (int k = 0; k < P; k++) tk[k] = (int)(cada_rng_u32(&r) % (uint32_t)V);
        else
            memcpy(tk, b->t[i - 1].tokens, sizeof(int) * (size_t)P); /* a group shares its prompt */
        for (int k = 0; k < lens[i]; k++) {
            tk[P + k] = (int)(cada_rng_u32(&r) % (uint32_t)V);
            ro[k] = base + 0.1f * cada_rng_normal(&r);
            ref[k] = base + 0.1f * cada_rng_normal(&r);
        }
        s->rollout_logprob = ro;
        s->ref_logprob = with_ref ? ref : NULL;
        s->reward = 0.25f * (float)(cada_rng_u32(&r) % 5);
        s->chosen = i % 2 == 0;
        tk += P + lens[i];
        ro += lens[i];
        ref += lens[i];
    }
    free(lens);
    return CADA_OK;
}

void cada_synth_batch_free(cada_synth_batch *b) {
    free(b->t);
    free(b->tokens);
    free(b->lp);
    memset(b, 0, sizeof *b);
}
