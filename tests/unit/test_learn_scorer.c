/* tests/unit/test_learn_scorer.c: learn/scorer.h on the CPU: the log-probs of packed,
 * micro-batched forwards against each sequence's own forward (synthetic and SmolLM2
 * weights), against one forward over the whole batch, and its errors. */
#define _POSIX_C_SOURCE 200809L
#include "test.h"

#include "learn/scorer.h"
#include "learn/synth.h"
#include "model/load.h"

#include <stdlib.h>
#include <string.h>

/* Each sequence alone: one row of exactly its length, the model's own forward. */
static cada_status score_alone(cada_model *m, const cada_traj *t, float *out) {
    cada_packed p = {0};
    const int len = t->prompt_len + t->completion_len;
    cada_status st = cada_pack(&p, t, NULL, 1, len < 2 ? 2 : len, 0);
    if (st == CADA_OK) {
        cada_batch b = cada_packed_batch(&p);
        st = cada_model_forward(m, &b);
    }
    if (st == CADA_OK) memcpy(out, m->act.logprob + p.lp_index[0], sizeof(float) * (size_t)t->completion_len);
    cada_packed_free(&p);
    return st;
}

/* Largest |a - b| over every completion token of the batch. */
static double max_diff(const cada_traj *t, int n, float *const *a, float *const *b) {
    double worst = 0;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < t[i].completion_len; k++) {
            const double d = fabs((double)a[i][k] - (double)b[i][k]);
            worst = d > worst || d != d ? d : worst;
        }
    return worst;
}

static float **alloc_out(const cada_traj *t, int n) {
    float **o = calloc((size_t)n, sizeof *o);
    for (int i = 0; o && i < n; i++) o[i] = calloc((size_t)(t[i].completion_len + 1), sizeof(float));
    return o;
}
static void free_out(float **o, int n) {
    for (int i = 0; o && i < n; i++) free(o[i]);
    free(o);
}

/* Scores t[0..n) with the scorer in forwards of at most micro_tokens, and each sequence
 * alone, and one forward of the whole batch in rows as long as its longest sequence (the
 * trainer's former packing); returns the two differences. */
static int compare(cada_model *m, const cada_traj *t, int n, int row_tokens, int micro_tokens, double *vs_alone,
                   double *vs_one_forward) {
    float **got = alloc_out(t, n), **alone = alloc_out(t, n), **whole = alloc_out(t, n);
    cada_scorer *s = NULL;
    cada_scorer_options o = {.device = -1, .row_tokens = row_tokens, .micro_tokens = micro_tokens};
    int ok = got && alone && whole && cada_scorer_create(&s, m, &o) == CADA_OK && cada_scorer_logprobs(s, t, n, got) == CADA_OK;
    for (int i = 0; ok && i < n; i++) ok = score_alone(m, &t[i], alone[i]) == CADA_OK;
    int longest = 2;
    for (int i = 0; i < n; i++)
        if (t[i].prompt_len + t[i].completion_len > longest) longest = t[i].prompt_len + t[i].completion_len;
    cada_scorer *one = NULL;
    cada_scorer_options o1 = {.device = -1, .row_tokens = longest, .micro_tokens = longest * n};
    ok = ok && cada_scorer_create(&one, m, &o1) == CADA_OK && cada_scorer_logprobs(one, t, n, whole) == CADA_OK;
    if (ok) {
        *vs_alone = max_diff(t, n, got, alone);
        *vs_one_forward = max_diff(t, n, got, whole);
        /* parameters plus the activation arena the last forward sized */
        EXPECT(cada_scorer_bytes(s) > sizeof(float) * m->n_params);
    } else {
        cada_test_fail(__FILE__, __LINE__, "scoring failed: %s", cada_error_message());
    }
    cada_scorer_free(s);
    cada_scorer_free(one);
    free_out(got, n);
    free_out(alone, n);
    free_out(whole, n);
    return ok;
}

/* A random Llama (vocab 32, 2 layers): 13 sequences of 6 to 14 tokens. The CPU scorer
 * runs each sequence in a forward of its own, so against each sequence's own forward
 * the bits must be equal (what makes training runs bit-identical across rank layouts).
 * Against one packed forward of the whole batch (rows of 16) only the float rounding
 * inside BLAS may differ (its reductions are blocked by the matrix shapes, which change
 * with B and T): a few float ulps of log-probs of magnitude ~log(32), far below 1e-5; a
 * masking or offset error is O(0.1) or more. */
TEST(learn_scorer_cpu_matches_each_sequence_alone) {
    cada_model m;
    cada_model_config cfg;
    cada_synth_config(&cfg, 32, 32, 2, 0);
    REQUIRE_OK(cada_synth_model(&m, &cfg, 5, 0.3f));
    cada_synth_batch b;
    REQUIRE_OK(cada_synth_batch_make(&b, 13, 1, 32, 5, 9, 0, 0, 17));
    double alone = -1, whole = -1;
    if (compare(&m, b.t, b.n, 16, 32, &alone, &whole)) {
        fprintf(stderr, "    max |diff| vs each sequence alone %.3g, vs one forward of the batch %.3g\n", alone, whole);
        EXPECT(alone == 0, "vs alone: %g (must be bit for bit)", alone);
        EXPECT(whole <= 1e-5, "vs one forward: %g", whole);
    }
    cada_synth_batch_free(&b);
    cada_model_free(&m);
}

/* SmolLM2-135M: real weights, GQA, tied embeddings, a 49152-token vocabulary. The same
 * checks; against the packed forward, log-probs of magnitude up to ~20: 1e-4. */
TEST(learn_scorer_cpu_smollm2_matches_each_sequence_alone) {
    cada_model m;
    REQUIRE_OK(cada_model_load(&m, cada_test_smollm2_path()));
    enum { N = 5 };
    /* static, not on the stack: GCC 12 at -O3 -march=native vectorises the fill below
     * with aligned 32-byte stores into this array but can lay out the realigned frame
     * with the array only 16-byte aligned (a crash that comes and goes with the size of
     * cada_model, the other local) */
    static int tokens[N][24];
    cada_traj t[N];
    for (int i = 0; i < N; i++) {
        const int len = 10 + 3 * i;
        for (int k = 0; k < len; k++) tokens[i][k] = (int)((1009u * (unsigned)(i + 1) + 7919u * (unsigned)k) % 49152u);
        t[i] = (cada_traj){.tokens = tokens[i], .prompt_len = 4 + i, .completion_len = len - 4 - i};
    }
    double alone = -1, whole = -1;
    if (compare(&m, t, N, 32, 64, &alone, &whole)) {
        fprintf(stderr, "    max |diff| vs each sequence alone %.3g, vs one forward of the batch %.3g\n", alone, whole);
        EXPECT(alone == 0, "vs alone: %g (must be bit for bit)", alone);
        EXPECT(whole <= 1e-4, "vs one forward: %g", whole);
    }
    cada_model_free(&m);
}

TEST(learn_scorer_errors) {
    cada_model m;
    cada_model_config cfg;
    cada_synth_config(&cfg, 32, 32, 1, 1);
    REQUIRE_OK(cada_synth_model(&m, &cfg, 5, 0.3f));
    cada_scorer *s = NULL;
    cada_scorer_options o = {.device = -1, .row_tokens = 16, .micro_tokens = 8};
    EXPECT(cada_scorer_create(&s, &m, &o) == CADA_ERR_ARG && !s);
    o.micro_tokens = 32;
    o.device = -2;
    EXPECT(cada_scorer_create(&s, &m, &o) == CADA_ERR_ARG);
#ifndef CADA_HAVE_CUDA
    o.device = 0;
    EXPECT(cada_scorer_create(&s, &m, &o) == CADA_ERR_UNSUPPORTED && strstr(cada_error_message(), "no CUDA"), "%s",
           cada_error_message());
#endif
    o.device = -1;
    REQUIRE_OK(cada_scorer_create(&s, &m, &o));
    EXPECT(cada_scorer_bytes(s) == sizeof(float) * m.n_params, "before the first forward: parameters only");
    static const int tok[20] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20};
    float a[16], c[16];
    float *out[3] = {a, c, c};
    cada_traj t[3] = {{.tokens = tok, .prompt_len = 3, .completion_len = 4},
                      {.tokens = tok, .prompt_len = 2, .completion_len = 18},
                      {.tokens = tok, .prompt_len = 1, .completion_len = 0}};
    EXPECT(cada_scorer_logprobs(s, t, 3, out) == CADA_ERR_ARG && strstr(cada_error_message(), "sequence 1"), "%s",
           cada_error_message());
    EXPECT(m.act.bytes == 0, "nothing ran before the error");
    t[1].completion_len = 5;
    t[1].prompt_len = 0;
    EXPECT(cada_scorer_logprobs(s, t, 3, out) == CADA_ERR_ARG && strstr(cada_error_message(), "sequence 1"), "%s",
           cada_error_message());
    t[1].prompt_len = 2;
    out[1] = NULL;
    EXPECT(cada_scorer_logprobs(s, t, 3, out) == CADA_ERR_ARG);
    out[1] = c;
    out[2] = NULL; /* no completion: no output needed */
    REQUIRE_OK(cada_scorer_logprobs(s, t, 3, out));
    for (int k = 0; k < 4; k++) EXPECT(a[k] < 0 && a[k] > -20, "log-prob %g", (double)a[k]);
    REQUIRE_OK(cada_scorer_logprobs(s, t, 0, NULL));
    cada_scorer_free(s);
    cada_scorer_free(NULL);
    cada_model_free(&m);
}
