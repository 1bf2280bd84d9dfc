/* tests/unit/test_engine_bf16.c: inference on a bf16 copy of the matrices
 * (model/infer_weights.h): the copy follows the fp32 weights it is packed from (a weight
 * update repacks it, the same version does not), and on the real SmolLM2-135M (skipped
 * when `make fetch-models` has not fetched it): the gap greedy decoding with it opens
 * against the fp32 engine, and every kernel family this CPU runs against the scalar one. */
#define _POSIX_C_SOURCE 200809L
#include "test.h"

#include "learn/synth.h"
#include "model/infer_weights.h"
#include "model/load.h"
#include "base/cpu.h"
#include "ops/gemm_bf16.h"
#include "rollout/engine.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    int rows, cols;
} mat;

/* m->bf16 holds exactly the panels (bf16_pack_panels) of m's current fp32 matrices. */
static int pack_matches(const cada_model *m) {
    const cada_infer_weights *b = m->bf16;
    const cada_model_config *c = &m->cfg;
    const size_t C = (size_t)c->hidden_size, I = (size_t)c->intermediate_size, HD = (size_t)c->n_heads * c->head_dim;
    const size_t QKV = HD + 2 * (size_t)c->n_kv_heads * c->head_dim;
    mat mats[4 * 8 + 1];
    int k = 0;
    for (int l = 0; l < c->n_layers && l < 8; l++) {
        mats[k++] = (mat){CADA_BF16_LAYER(b, qkv, l), CADA_LAYER(&m->p, qkv_w, l), (int)QKV, (int)C};
        mats[k++] = (mat){CADA_BF16_LAYER(b, o, l), CADA_LAYER(&m->p, o_w, l), (int)C, (int)HD};
        mats[k++] = (mat){CADA_BF16_LAYER(b, gu, l), CADA_LAYER(&m->p, gu_w, l), (int)(2 * I), (int)C};
        mats[k++] = (mat){CADA_BF16_LAYER(b, down, l), CADA_LAYER(&m->p, down_w, l), (int)C, (int)I};
    }
    mats[k++] = (mat){b->lm_head, m->p.lm_head, c->vocab_size, (int)C};
    for (int i = 0; i < k; i++) {
        const size_t n = bf16_panels_elems(mats[i].rows, mats[i].cols);
        uint16_t *want = malloc(sizeof(uint16_t) * n);
        if (!want) return 0;
        bf16_pack_panels(want, mats[i].f, mats[i].rows, mats[i].cols, 0, (size_t)mats[i].rows * mats[i].cols);
        int same = !memcmp(want, mats[i].h, sizeof(uint16_t) * n);
        free(want);
        if (!same) return 0;
    }
    return 1;
}

/* What the weight sync and the colocated learner do to a rollout model: new fp32
 * weights, then cada_infer_weights_pack / _refresh with the new version. */
TEST(engine_bf16_pack_follows_weight_updates) {
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

/* ---- the real SmolLM2-135M ------------------------------------------------------------ */

static cada_model smol;
static int smol_state; /* 0: not tried, 1: loaded, -1: absent */

/* The model fetched by `make fetch-models`, or NULL (the test is skipped) when absent. */
static cada_model *load_smol(void) {
    if (!smol_state) {
        if (access(cada_test_smollm2_path(), R_OK) != 0) smol_state = -1;
        else if (cada_model_load(&smol, cada_test_smollm2_path()) != CADA_OK) {
            cada_test_fail(__FILE__, __LINE__, "load: %s", cada_error_message());
            smol_state = -1;
        } else smol_state = 1;
    }
    if (smol_state < 0 && !cada_test_failed())
        fprintf(stderr, "    skipped: %s absent (make fetch-models)\n", cada_test_smollm2_path());
    return smol_state > 0 ? &smol : NULL;
}

/* The chat prompts of test_engine.c ("What is the capital of France?", "Write a short
 * poem.", "Count to 5."), as SmolLM2's reference tokenizer encodes them. */
static const int prompt_a[] = {1, 4093, 198, 1780, 314, 260, 3575, 282, 4649, 47, 2, 198, 1, 520, 9531, 198};
static const int prompt_b[] = {1, 4093, 198, 19161, 253, 1890, 8216, 30, 2, 198, 1, 520, 9531, 198};
static const int prompt_c[] = {1, 4093, 198, 9825, 288, 216, 37, 30, 2, 198, 1, 520, 9531, 198};
#define LEN(a) ((int)(sizeof(a) / sizeof((a)[0])))
static const int *const prompts[3] = {prompt_a, prompt_b, prompt_c};
static const int lens[3] = {LEN(prompt_a), LEN(prompt_b), LEN(prompt_c)};
#define NEW 32 /* tokens decoded per prompt */

/* Teacher-forced decode through the engine's forward (cada_model_infer): the prompt
 * prefilled, then cont[0..n-2] fed one token per call, as decode steps run. lsm (n, V):
 * the log-softmax of the logits that predict cont[j]. */
static cada_status forced_logsoftmax(const cada_model *m, const int *prompt, int plen, const int *cont, int n, float *lsm) {
    const int V = m->cfg.vocab_size;
    cada_kv_cache kv;
    CADA_TRY(cada_kv_cache_init(&kv, &m->cfg, 1, plen + n + 1, plen, 0, 0));
    cada_status st = CADA_OK;
    for (int j = 0; j < n && st == CADA_OK; j++) {
        cada_infer_seq s = j ? (cada_infer_seq){0, 1, &cont[j - 1]} : (cada_infer_seq){0, plen, prompt};
        float *row = lsm + (size_t)j * V;
        st = cada_model_infer(m, &kv, &s, 1, row);
        double mx = -INFINITY, sum = 0;
        for (int v = 0; v < V; v++) mx = fmax(mx, row[v]);
        for (int v = 0; v < V; v++) sum += exp(row[v] - mx);
        const double lse = mx + log(sum);
        for (int v = 0; v < V; v++) row[v] = (float)(row[v] - lse);
    }
    cada_kv_cache_free(&kv);
    return st;
}

/* Greedy decodes of NEW tokens of the 3 prompts, in one engine of 3 slots. */
static cada_status greedy(const cada_model *m, cada_gen_result *res) {
    const int n = 3;
    cada_gen_request reqs[3];
    for (int i = 0; i < n; i++) reqs[i] = (cada_gen_request){(uint64_t)i, 0, prompts[i], lens[i], NEW};
    cada_engine_config c;
    memset(&c, 0, sizeof c);
    c.sampling.temperature = 0.0f; /* greedy; no eos: every sequence decodes NEW tokens */
    c.sampling.top_p = 1.0f;
    c.n_slots = n;
    c.max_len = 64;
    return cada_generate(m, &c, reqs, n, res, NULL);
}

/* Tolerance of bf16 weights against fp32 ones, on log-probs. bf16 keeps 8 significant
 * bits: each weight moves by a relative 2^-9 on average (at most 2^-8), independently,
 * so each projection's output moves by ~2^-9 of the size of its terms, and 30 layers of
 * residual stream add up such perturbations; a token's log-prob then moves by ~1e-2.
 * Measured on these prompts over 96 greedy tokens: mean |diff| 3.6e-3, max 1.6e-2 with
 * fp32 activations (scalar, avx2, avx512 kernels); mean 5.8e-3, max 3.8e-2 with the
 * avx512bf16 kernels, which round the activations to bf16 too. Bounds: mean 1.5e-2 and
 * max 0.1, about 2.5x the worst measurement; a wrong matrix, a transposed or misaligned
 * pack moves log-probs by whole units. */
#define BF16_MEAN_TOL 1.5e-2
#define BF16_MAX_TOL 0.1

/* Greedy decoding with the bf16 copy against the fp32 engine on the real model. */
TEST(engine_bf16_greedy_logprobs_near_fp32) {
    cada_model *m = load_smol();
    if (!m) return;
    const int V = m->cfg.vocab_size;
    cada_infer_weights_drop(m);
    cada_gen_result rf[3], rb[3];
    REQUIRE_OK(greedy(m, rf));
    REQUIRE_OK(cada_infer_weights_pack(m, 0));
    REQUIRE_OK(greedy(m, rb));
    float *lf = malloc(sizeof(float) * NEW * V), *lb = malloc(sizeof(float) * NEW * V);
    REQUIRE(lf && lb);
    double worst = 0, sum = 0, engine_gap = 0;
    int compared = 0, agreed = 0;
    for (int i = 0; i < 3; i++) {
        REQUIRE(rf[i].n == NEW && rb[i].n == NEW, "prompt %d: %d and %d tokens", i, rf[i].n, rb[i].n);
        /* both forwards scored on fp32's greedy tokens: the log-prob gap bf16 opens */
        cada_infer_weights *pack = m->bf16;
        m->bf16 = NULL;
        REQUIRE_OK(forced_logsoftmax(m, prompts[i], lens[i], rf[i].tokens, NEW, lf));
        m->bf16 = pack;
        REQUIRE_OK(forced_logsoftmax(m, prompts[i], lens[i], rf[i].tokens, NEW, lb));
        int same = 1; /* bf16's greedy tokens so far equal fp32's */
        for (int j = 0; j < NEW; j++) {
            const int t = rf[i].tokens[j];
            const double d = fabs((double)lf[(size_t)j * V + t] - lb[(size_t)j * V + t]);
            worst = fmax(worst, d), sum += d, compared++;
            /* fp32 and the engine's own log-probs agree (same prefix, same forward) */
            engine_gap = fmax(engine_gap, fabs((double)rf[i].logprobs[j] - lf[(size_t)j * V + t]));
            if (same && rb[i].tokens[j] != t) {
                /* the first divergence: allowed only where fp32 itself nearly ties the two
                 * tokens, i.e. bf16's choice is within the log-prob tolerance of fp32's */
                const double margin = lf[(size_t)j * V + t] - lf[(size_t)j * V + rb[i].tokens[j]];
                EXPECT(margin < 2 * BF16_MAX_TOL, "prompt %d token %d: bf16 picked %d over fp32's %d, fp32 margin %.3g", i, j,
                       rb[i].tokens[j], t, margin);
                same = 0;
            }
            if (same) {
                agreed++;
                /* while the tokens agree, bf16's engine log-probs are the forced bf16 ones */
                engine_gap = fmax(engine_gap, fabs((double)rb[i].logprobs[j] - lb[(size_t)j * V + t]));
            }
        }
    }
    fprintf(stderr, "    bf16 vs fp32 log-probs (%s kernels): max |diff| %.3g, mean %.3g over %d greedy tokens; %d of them decoded "
                    "alike; engine vs forced %.3g\n",
            cada_cpu_kernels_name(cada_cpu_kernels_current()), worst, sum / compared, compared, agreed, engine_gap);
    EXPECT(worst > 0, "the bf16 copy was not used");
    EXPECT(worst < BF16_MAX_TOL && sum / compared < BF16_MEAN_TOL, "max %g mean %g", worst, sum / compared);
    /* engine log-probs (prefill/decode batching of the same forward): 2e-4 as in
     * test_engine.c (measured ~1e-5; a wrong position moves them by > 1e-2) */
    EXPECT(engine_gap < 2e-4, "engine vs forced log-probs %g", engine_gap);
    for (int i = 0; i < 3; i++) cada_gen_result_free(&rf[i]), cada_gen_result_free(&rb[i]);
    free(lf), free(lb);
    cada_infer_weights_drop(m);
}

/* Every kernel family this CPU runs, on the real model with the bf16 copy, against the
 * scalar family: teacher-forced log-probs of every vocabulary entry along the scalar
 * family's greedy decode of each prompt (NEW positions each).
 * avx2 and avx512 read x in fp32 as scalar does and differ only in the order of the fp32
 * sums: per projection, relative differences of ~1e-7 (test_gemm_bf16.c bounds them),
 * which 30 layers carry to log-probs at ~3e-5 (measured); tolerance 2e-4 as for the fp32
 * engine's reduction-order differences (test_engine.c), far below what a wrong kernel
 * (an index or tail error: O(1)) gives. avx512bf16 also rounds x to bf16 once per
 * projection (ops/gemm_bf16.h): a rounding of 2^-8 like the weights', so on the decoded
 * tokens it is held to the bf16-weight tolerances above instead. */
TEST(engine_bf16_kernel_families_match_scalar) {
    cada_model *m = load_smol();
    if (!m) return;
    const int V = m->cfg.vocab_size;
    cada_cpu_kernels was;
    REQUIRE_OK(cada_cpu_kernels_active(&was));
    REQUIRE_OK(cada_infer_weights_pack(m, 0));
    float *ref = malloc(sizeof(float) * 3 * NEW * V), *got = malloc(sizeof(float) * NEW * V);
    REQUIRE(ref && got);
    REQUIRE_OK(cada_cpu_kernels_set(CADA_CPU_SCALAR));
    cada_gen_result rs[3];
    REQUIRE_OK(greedy(m, rs));
    for (int i = 0; i < 3; i++) {
        REQUIRE(rs[i].n == NEW);
        REQUIRE_OK(forced_logsoftmax(m, prompts[i], lens[i], rs[i].tokens, NEW, ref + (size_t)i * NEW * V));
    }
    int ran = 0;
    for (int k = CADA_CPU_SCALAR + 1; k < CADA_CPU_N; k++) {
        const char *name = cada_cpu_kernels_name((cada_cpu_kernels)k);
        if (!cada_cpu_kernels_supported((cada_cpu_kernels)k)) {
            fprintf(stderr, "    %s: not on this CPU\n", name);
            continue;
        }
        REQUIRE_OK(cada_cpu_kernels_set((cada_cpu_kernels)k));
        double worst = 0, worst_tok = 0, sum_tok = 0;
        for (int i = 0; i < 3; i++) {
            REQUIRE_OK(forced_logsoftmax(m, prompts[i], lens[i], rs[i].tokens, NEW, got));
            const float *r = ref + (size_t)i * NEW * V;
            for (int j = 0; j < NEW; j++) {
                for (int v = 0; v < V; v++) worst = fmax(worst, fabs((double)got[(size_t)j * V + v] - r[(size_t)j * V + v]));
                const int t = rs[i].tokens[j];
                const double d = fabs((double)got[(size_t)j * V + t] - r[(size_t)j * V + t]);
                worst_tok = fmax(worst_tok, d), sum_tok += d;
            }
        }
        fprintf(stderr, "    %s vs scalar: max |diff| %.3g over all 3 x %d x %d log-probs; %.3g (mean %.3g) on the decoded tokens\n",
                name, worst, NEW, V, worst_tok, sum_tok / (3 * NEW));
        if (k == CADA_CPU_AVX512BF16)
            EXPECT(worst_tok < BF16_MAX_TOL && sum_tok / (3 * NEW) < BF16_MEAN_TOL, "avx512bf16: max %g mean %g", worst_tok,
                   sum_tok / (3 * NEW));
        else EXPECT(worst < 2e-4, "%s: max |diff| %g", name, worst);
        ran++;
    }
    EXPECT(ran == (int)cada_cpu_kernels_newest(), "ran %d families besides scalar, the CPU has %d", ran, (int)cada_cpu_kernels_newest());
    REQUIRE_OK(cada_cpu_kernels_set(was));
    for (int i = 0; i < 3; i++) cada_gen_result_free(&rs[i]);
    free(ref), free(got);
    cada_infer_weights_drop(m);
}
