/* tests/unit/test_model.c: the model against itself and against bad input: packing,
 * save/load round trips, configuration and batch errors. (Parity with Hugging Face is
 * in test_golden_model.c.) */
#define _POSIX_C_SOURCE 200809L
#include "test.h"

#include "base/rng.h"
#include "model/load.h"

#include <stdlib.h>
#include <string.h>

static cada_model_config tiny_config(cada_arch arch) {
    cada_model_config c;
    memset(&c, 0, sizeof c);
    c.arch = arch;
    c.vocab_size = 50;
    c.hidden_size = 32;
    c.intermediate_size = 48;
    c.n_layers = 2;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.head_dim = 8;
    c.rms_eps = 1e-5f;
    c.rope_theta = 10000.0f;
    c.rope_factor = 1.0f;
    c.max_position_embeddings = 128;
    c.tie_embeddings = arch == CADA_ARCH_LLAMA;
    c.qkv_bias = arch == CADA_ARCH_QWEN2;
    c.bos_token_id = 1;
    c.eos_token_id = 2;
    snprintf(c.dtype, sizeof c.dtype, "float32");
    return c;
}

static void randomize(cada_model *m, uint64_t seed) {
    cada_rng r;
    cada_rng_init(&r, seed, 0, 0, 0);
    for (size_t i = 0; i < m->n_params; i++) m->params[i] = 0.2f * cada_rng_normal(&r);
}

TEST(model_packed_rows_equal_separate_rows) {
    cada_model_config cfg = tiny_config(CADA_ARCH_QWEN2);
    cada_model m;
    REQUIRE_OK(cada_model_init(&m, &cfg));
    randomize(&m, 1);
    /* packed: one row [doc A (5 tokens) | doc B (3 tokens)] */
    int tok[8] = {3, 7, 9, 11, 4, 20, 21, 22}, pos[8] = {0, 1, 2, 3, 4, 0, 1, 2};
    int tgt[8] = {7, 9, 11, 4, -1, 21, 22, -1};
    cada_batch packed = {1, 8, tok, pos, tgt};
    REQUIRE_OK(cada_model_forward(&m, &packed));
    float lp_packed[8];
    memcpy(lp_packed, m.act.logprob, sizeof lp_packed);
    float *logits_packed = malloc(sizeof(float) * 8 * cfg.vocab_size);
    memcpy(logits_packed, m.act.logits, sizeof(float) * 8 * cfg.vocab_size);
    /* separately: doc A alone, doc B alone */
    cada_batch a = {1, 5, tok, pos, tgt}, b = {1, 3, tok + 5, pos + 5, tgt + 5};
    REQUIRE_OK(cada_model_forward(&m, &a));
    float worst = 0.0f;
    for (int i = 0; i < 5 * cfg.vocab_size; i++) worst = fmaxf(worst, fabsf(m.act.logits[i] - logits_packed[i]));
    REQUIRE_OK(cada_model_forward(&m, &b));
    for (int i = 0; i < 3 * cfg.vocab_size; i++)
        worst = fmaxf(worst, fabsf(m.act.logits[i] - logits_packed[5 * cfg.vocab_size + i]));
    /* Same arithmetic on the same values; only sgemm blocking can differ with the row
     * count, so allow a few fp32 ulps of logits of magnitude ~1-10. */
    EXPECT(worst < 1e-5f, "packed vs separate logits differ by %g", (double)worst);
    free(logits_packed);
    cada_model_free(&m);
}

TEST(model_save_load_roundtrip_f32_and_bf16) {
    const char *dir = cada_test_tmpdir();
    char out32[512], out16[512];
    snprintf(out32, sizeof out32, "%s/rt32", dir);
    snprintf(out16, sizeof out16, "%s/rt16", dir);
    for (int arch = 0; arch < 2; arch++) {
        cada_model_config cfg = tiny_config((cada_arch)arch);
        cfg.rope_type = arch ? CADA_ROPE_DEFAULT : CADA_ROPE_LLAMA3;
        cfg.rope_factor = 8.0f;
        cfg.rope_low_freq_factor = 1.0f;
        cfg.rope_high_freq_factor = 4.0f;
        cfg.rope_original_max_pos = 64;
        cada_model m, a, b;
        REQUIRE_OK(cada_model_init(&m, &cfg));
        randomize(&m, 2 + (uint64_t)arch);
        REQUIRE_OK(cada_model_save_hf(&m, out32, CADA_DTYPE_F32));
        REQUIRE_OK(cada_model_save_hf(&m, out16, CADA_DTYPE_BF16));
        REQUIRE_OK(cada_model_load(&a, out32));
        REQUIRE_OK(cada_model_load(&b, out16));
        EXPECT(a.n_params == m.n_params && !memcmp(a.params, m.params, sizeof(float) * m.n_params),
               "fp32 round trip must be exact (arch %d)", arch);
        EXPECT(a.cfg.rope_type == cfg.rope_type && a.cfg.tie_embeddings == cfg.tie_embeddings &&
                   a.cfg.qkv_bias == cfg.qkv_bias && a.cfg.n_kv_heads == cfg.n_kv_heads,
               "configuration survives the round trip");
        /* bf16 has 8 significant bits: round to nearest errs by at most 2^-8 relative */
        float worst = 0.0f;
        for (size_t i = 0; i < m.n_params; i++)
            worst = fmaxf(worst, fabsf(b.params[i] - m.params[i]) / fmaxf(fabsf(m.params[i]), 1e-30f));
        EXPECT(worst <= 1.0f / 256.0f, "bf16 relative error %g", (double)worst);
        cada_model_free(&m);
        cada_model_free(&a);
        cada_model_free(&b);
    }
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* An error message must name the file and the field at fault. */
static void expect_error(cada_status st, const char *needle1, const char *needle2, const char *what) {
    EXPECT(st != CADA_OK, "%s: expected an error", what);
    const char *msg = cada_error_message();
    EXPECT(strstr(msg, needle1) && (!needle2 || strstr(msg, needle2)), "%s: message '%s' should name '%s' and '%s'", what,
           msg, needle1, needle2 ? needle2 : "");
}

TEST(model_bad_config_json) {
    cada_model_config cfg;
    expect_error(cada_config_from_json(&cfg, "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 64}", "cfg.json"),
                 "cfg.json", "intermediate_size", "missing key");
    expect_error(cada_config_from_json(&cfg, "{\"architectures\": [\"GPTNeoXForCausalLM\"]}", "cfg.json"), "cfg.json",
                 "GPTNeoXForCausalLM", "unsupported architecture");
    expect_error(cada_config_from_json(&cfg, "{\"architectures\": [\"LlamaForCausalLM\"", "cfg.json"), "cfg.json", NULL,
                 "truncated JSON");
    expect_error(cada_config_from_json(&cfg,
                                       "{\"model_type\": \"llama\", \"hidden_size\": 64, \"intermediate_size\": 96, "
                                       "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 3, "
                                       "\"vocab_size\": 10}",
                                       "cfg.json"),
                 "cfg.json", "num_key_value_heads", "heads do not divide");
    expect_error(cada_config_from_json(&cfg,
                                       "{\"model_type\": \"llama\", \"hidden_size\": \"64\", \"intermediate_size\": 96, "
                                       "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"vocab_size\": 10}",
                                       "cfg.json"),
                 "cfg.json", "hidden_size", "wrong type");
    expect_error(cada_config_from_json(&cfg,
                                       "{\"model_type\": \"llama\", \"hidden_size\": 64, \"intermediate_size\": 96, "
                                       "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"vocab_size\": 10, "
                                       "\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4}}",
                                       "cfg.json"),
                 "cfg.json", "yarn", "unsupported rope type");
    expect_error(cada_config_from_json(&cfg,
                                       "{\"model_type\": \"llama\", \"hidden_size\": 64, \"intermediate_size\": 96, "
                                       "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"vocab_size\": 10, "
                                       "\"mlp_bias\": true}",
                                       "cfg.json"),
                 "cfg.json", "mlp_bias", "unsupported bias");
    expect_error(cada_config_from_json(&cfg,
                                       "{\"model_type\": \"llama\", \"hidden_size\": 64, \"intermediate_size\": 96, "
                                       "\"num_hidden_layers\": 2000000, \"num_attention_heads\": 4, \"vocab_size\": 10}",
                                       "cfg.json"),
                 "cfg.json", "n_layers", "absurd layer count");
}

TEST(model_checkpoint_disagrees_with_config) {
    const char *dir = cada_test_tmpdir();
    char out[512], path[600];
    snprintf(out, sizeof out, "%s/mismatch", dir);
    cada_model_config cfg = tiny_config(CADA_ARCH_LLAMA);
    cada_model m, n;
    REQUIRE_OK(cada_model_init(&m, &cfg));
    REQUIRE_OK(cada_model_save_hf(&m, out, CADA_DTYPE_F32));
    cada_model_free(&m);
    /* config.json now claims a wider MLP than the tensors hold */
    snprintf(path, sizeof path, "%s/config.json", out);
    cfg.intermediate_size = 64;
    char *json = cada_config_to_json(&cfg);
    write_file(path, json);
    free(json);
    expect_error(cada_model_load(&n, out), "mlp.gate_proj.weight", "shape", "shape mismatch");
    /* untied: lm_head.weight is then required and absent */
    cfg.intermediate_size = 48;
    cfg.tie_embeddings = 0;
    json = cada_config_to_json(&cfg);
    write_file(path, json);
    free(json);
    expect_error(cada_model_load(&n, out), "lm_head.weight", "missing", "missing tensor");
    /* no config.json at all */
    remove(path);
    expect_error(cada_model_load(&n, out), "config.json", NULL, "no config.json");
    /* not a model at all */
    snprintf(path, sizeof path, "%s/notamodel.bin", dir);
    write_file(path, "hello");
    expect_error(cada_model_load(&n, path), "notamodel.bin", "GGUF", "unknown file");
}

TEST(model_bad_batches) {
    cada_model_config cfg = tiny_config(CADA_ARCH_LLAMA);
    cada_model m;
    REQUIRE_OK(cada_model_init(&m, &cfg));
    int tok[4] = {1, 2, 3, 4}, pos[4] = {0, 1, 2, 3}, tgt[4] = {2, 3, 4, -1};
    cada_batch b = {2, 2, tok, pos, tgt};
    expect_error(cada_model_forward(&m, &b), "row 1", "position", "position continuing across rows");
    int bad_tok[4] = {1, 2, 50, 4};
    int pos2[4] = {0, 1, 0, 1};
    cada_batch c = {2, 2, bad_tok, pos2, tgt};
    expect_error(cada_model_forward(&m, &c), "row 1 column 0", "token 50", "token out of range");
    int bad_tgt[4] = {2, -2, 4, -1};
    cada_batch d = {2, 2, tok, pos2, bad_tgt};
    expect_error(cada_model_forward(&m, &d), "row 0 column 1", "target", "target out of range");
    expect_error(cada_model_backward(&m, NULL), "before forward", NULL, "backward first");
    cada_model_free(&m);
}

/* Observer for the test below: copies each chunk into a whole (N, V) buffer and counts
 * the times each row was seen and whether rows came in order. */
typedef struct {
    float *logits;
    int *seen, next_row, in_order, V;
} logits_copy;

static void copy_chunk(void *ctx, const float *logits, const float *lse, const int *row_of, int rows) {
    (void)lse;
    logits_copy *c = ctx;
    for (int r = 0; r < rows; r++) {
        c->in_order &= row_of[r] >= c->next_row;
        c->next_row = row_of[r] + 1;
        memcpy(c->logits + (size_t)row_of[r] * c->V, logits + (size_t)r * c->V, sizeof(float) * (size_t)c->V);
        c->seen[row_of[r]]++;
    }
}

/* Recomputation and logits in chunks change memory, not results: with recompute the
 * log-probs and every gradient are the same bits (the same operations run again on
 * the same values); with chunks the log-probs and gradients equal to fp32 rounding
 * (sgemm's blocking, and so its rounding, may change with the row count, and the LM
 * head's gradient is summed chunk by chunk: a few ulps of values of size ~1-10).
 * targets_only (the LM head on the rows with a target alone) likewise, and the rows
 * without a target are never shown to the observer, with log-prob 0. */
TEST(model_recompute_and_logit_chunks_keep_results) {
    for (int arch = 0; arch < 2; arch++) {
        cada_model_config cfg = tiny_config((cada_arch)arch);
        cfg.n_layers = 3;
        cada_model m;
        REQUIRE_OK(cada_model_init(&m, &cfg));
        randomize(&m, 7 + (uint64_t)arch);
        enum { B = 2, T = 12, N = B * T };
        int tok[N], pos[N], tgt[N];
        for (int i = 0; i < N; i++) {
            int t = i % T, doc_start = (i / T) * T + (t >= 7 ? 7 : 0); /* row: [7 tokens | 5 tokens] */
            tok[i] = 3 + (i * 7) % 40;
            pos[i] = i - doc_start;
            tgt[i] = (t == 6 || t == T - 1) ? -1 : 3 + ((i + 1) * 7) % 40;
        }
        cada_batch b = {B, T, tok, pos, tgt};
        float dlp[N];
        for (int i = 0; i < N; i++) dlp[i] = tgt[i] >= 0 ? 0.1f * (float)((i % 5) - 2) : 0.0f;
        const int V = cfg.vocab_size;
        float *lp0 = malloc(sizeof(float) * N), *g0 = malloc(sizeof(float) * m.n_params), *logits0 = malloc(sizeof(float) * N * V);
        float *seen_logits = malloc(sizeof(float) * N * V);
        const cada_model_options opts[] = {{0, 0, 0, 0}, {1, 0, 0, 0}, {0, 5, 0, 0}, {1, 7, 0, 0}, {1, N, 0, 0},
                                           {0, 0, 0, 1}, {1, 5, 0, 1}, {0, 3, 0, 1}, {0, N, 0, 1}};
        for (int k = 0; k < (int)(sizeof opts / sizeof opts[0]); k++) {
            REQUIRE_OK(cada_model_set_options(&m, &opts[k]));
            int seen[N] = {0};
            logits_copy obs_ctx = {seen_logits, seen, 0, 1, V};
            cada_logits_observer obs = {copy_chunk, &obs_ctx};
            REQUIRE_OK(cada_model_forward_observed(&m, &b, &obs));
            for (int i = 0; i < N; i++)
                EXPECT(seen[i] == (opts[k].targets_only && tgt[i] < 0 ? 0 : 1), "options %d: row %d seen %d times", k, i, seen[i]);
            for (int i = 0; opts[k].targets_only && i < N; i++)
                if (tgt[i] < 0) memcpy(seen_logits + (size_t)i * V, logits0 + (size_t)i * V, sizeof(float) * V); /* not shown */
            EXPECT(obs_ctx.in_order, "options %d: chunks out of order", k);
            cada_model_zero_grads(&m);
            if (!m.grads) REQUIRE_OK(cada_model_alloc_grads(&m));
            cada_model_zero_grads(&m);
            REQUIRE_OK(cada_model_backward(&m, dlp));
            if (k == 0) {
                memcpy(lp0, m.act.logprob, sizeof(float) * N);
                memcpy(g0, m.grads, sizeof(float) * m.n_params);
                memcpy(logits0, seen_logits, sizeof(float) * N * V);
                continue;
            }
            float worst_lp = 0.0f, worst_logit = 0.0f, worst_grad = 0.0f;
            for (int i = 0; i < N; i++) worst_lp = fmaxf(worst_lp, fabsf(m.act.logprob[i] - lp0[i]));
            if (!opts[k].targets_only && (opts[k].logits_chunk == 0 || opts[k].logits_chunk >= N))
                EXPECT(!memcmp(lp0, m.act.logprob, sizeof(float) * N), "options %d: log-probs differ", k);
            else
                EXPECT(worst_lp < 1e-5f, "options %d: log-probs differ by %g", k, (double)worst_lp);
            for (int i = 0; i < N * V; i++) worst_logit = fmaxf(worst_logit, fabsf(seen_logits[i] - logits0[i]));
            EXPECT(worst_logit < 1e-5f, "options %d: observed logits differ by %g", k, (double)worst_logit);
            if (!opts[k].targets_only && (opts[k].logits_chunk == 0 || opts[k].logits_chunk >= N)) {
                EXPECT(!memcmp(g0, m.grads, sizeof(float) * m.n_params), "options %d: gradients differ", k);
            } else {
                for (size_t i = 0; i < m.n_params; i++) worst_grad = fmaxf(worst_grad, fabsf(m.grads[i] - g0[i]));
                EXPECT(worst_grad < 1e-5f, "options %d: gradients differ by %g", k, (double)worst_grad);
            }
        }
        const cada_model_options bad = {2, 0, 0, 0}, bad_chunk = {0, -1, 0, 0}, bad_bf16 = {0, 0, 3, 0}, bad_sel = {0, 0, 0, 2};
        expect_error(cada_model_set_options(&m, &bad), "recompute = 2", NULL, "recompute out of range");
        expect_error(cada_model_set_options(&m, &bad_sel), "targets_only = 2", NULL, "targets_only out of range");
        expect_error(cada_model_set_options(&m, &bad_bf16), "matmul_bf16 = 3", NULL, "matmul_bf16 out of range");
        expect_error(cada_model_set_options(&m, &bad_chunk), "logits_chunk = -1", NULL, "negative chunk");
        free(lp0), free(g0), free(logits0), free(seen_logits);
        cada_model_free(&m);
    }
}
