/* tests/mpi/mpi_tp_test.c: tensor parallelism (model/tp.h) over P MPI ranks against the
 * whole model on one rank.
 *
 *   mpirun -np P build/mpi/mpi_tp_test               synthetic models (P divides 8 and 4)
 *   mpirun -np P build/mpi/mpi_tp_test --model GGUF   a real model (SmolLM2-135M: P = 3)
 *
 * Synthetic: a Llama (tied embeddings) and a Qwen2 (QKV bias, untied LM head), 8 heads,
 * 4 KV heads, widths divisible by 4, two packed rows of several documents; with and
 * without recomputation and logits in chunks. Every rank computes the whole model's
 * forward and backward (the reference) and its part's; compared:
 *   - log-probs of every token and the loss;
 *   - every gradient: this rank's slice of the whole model's gradients (cada_tp_copy)
 *     against its own;
 *   - slicing itself: scattering the whole model to each of P parts and gathering them
 *     back rebuilds it bit for bit (every element in exactly one part, or replicated).
 * Tolerances: the parts compute the same products; what changes is the order of sums.
 * o_proj and down sum P partial dot products (each over H D / P or I / P terms) instead
 * of one, and the log-sum-exp combines P partial sums: fp32 rounding of ~1e-7 relative
 * per sum, through 2 layers. Log-probs: |diff| <= 2e-5 (values ~ -5, a relative 4e-6);
 * gradients: |diff| <= 1e-4 x max |g| of that gradient tensor per element (the sums
 * over tokens of products of two such values). A slicing error (a wrong head, a wrong
 * column block) moves values by their own size, 1e-2 relative or more.
 * Real model: the log-probs of two rows of 20 random tokens, |diff| <= 1e-4 (30 layers
 * of the rounding above on log-probs down to -25: measured 1.9e-5 for SmolLM2 at P = 3);
 * greedy decoding of two prompts through the rollout engine gives IDENTICAL tokens, and
 * sampling (temperature 1, top-p 0.95, fixed seeds) identical tokens, log-probs within
 * the same 1e-4 (every rank
 * gathers the same whole logits, so every rank samples the same token; against the
 * whole model only the rounding above differs). */
#define _POSIX_C_SOURCE 200809L
#include "base/error.h"
#include "base/rng.h"
#include "comm/comm.h"
#include "learn/synth.h"
#include "model/load.h"
#include "model/tp.h"
#include "rollout/engine.h"

#include <math.h>
#include <mpi.h>
#include "mpi_test.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define CHECK_OK(expr)                                                                   \
    do {                                                                                 \
        if ((expr) != CADA_OK) {                                                         \
            fprintf(stderr, "[rank %d] %s: %s\n", rank, #expr, cada_error_message());   \
            MPI_Abort(MPI_COMM_WORLD, 2);                                                \
        }                                                                                \
    } while (0)

#define LP_TOL 2e-5
#define LP_TOL_REAL 1e-4
#define GRAD_REL_TOL 1e-4

/* Two rows of T tokens: row 0 holds documents of 7 and T - 7 tokens, row 1 one of T. */
typedef struct {
    int B, T;
    int *tokens, *pos, *targets;
    float *dlogprob;
} test_batch;

static void batch_make(test_batch *b, int T, int V, uint64_t seed) {
    b->B = 2;
    b->T = T;
    const int N = 2 * T;
    b->tokens = malloc(sizeof(int) * N);
    b->pos = malloc(sizeof(int) * N);
    b->targets = malloc(sizeof(int) * N);
    b->dlogprob = malloc(sizeof(float) * N);
    cada_rng r;
    cada_rng_init(&r, seed, 1, 2, 3);
    for (int i = 0; i < N; i++) b->tokens[i] = (int)(cada_rng_u32(&r) % (uint32_t)V);
    for (int row = 0; row < 2; row++)
        for (int t = 0; t < T; t++) {
            const int i = row * T + t, doc_start = row == 0 && t >= 7 ? 7 : 0;
            const int doc_end = row == 0 && t < 7 ? 7 : T;
            b->pos[i] = t - doc_start;
            b->targets[i] = t + 1 < doc_end ? b->tokens[i + 1] : -1;
            b->dlogprob[i] = b->targets[i] >= 0 ? cada_rng_normal(&r) * 0.1f : 0.0f;
        }
}

static void batch_free(test_batch *b) {
    free(b->tokens);
    free(b->pos);
    free(b->targets);
    free(b->dlogprob);
}

static double max_abs(const float *x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
    return m;
}

/* Compares this rank's gradients with its slice of the whole model's, tensor by
 * tensor (the views of the local layout). */
static void compare_grads(const cada_model *full, const cada_model *local, const char *what) {
    cada_model expect;
    CHECK_OK(cada_model_init(&expect, &local->cfg));
    cada_tp_copy(&full->cfg, &full->g, &expect.p, rank, size, CADA_TP_SCATTER);
    cada_tensor_view ve[512], vl[512];
    const int n = cada_model_tensor_views(&local->cfg, &expect.p, ve);
    cada_model_tensor_views(&local->cfg, &local->g, vl);
    double worst = 0;
    for (int t = 0; t < n; t++) {
        const size_t cnt = (size_t)ve[t].rows * ve[t].cols;
        const double scale = fmax(max_abs(ve[t].data, cnt), 1e-12);
        double d = 0;
        for (size_t i = 0; i < cnt; i++) d = fmax(d, fabs(ve[t].data[i] - vl[t].data[i]));
        worst = fmax(worst, d / scale);
        if (d > GRAD_REL_TOL * scale)
            FAIL("%s: gradient of %s differs by %.3g (max |g| %.3g)", what, ve[t].hf_name, d, scale);
    }
    if (rank == 0) printf("mpi_tp_test: %s: gradients: worst |diff| / max |g| = %.2e\n", what, worst);
    cada_model_free(&expect);
}

static void compare_logprobs(const float *a, const float *b, int n, const char *what, double tol) {
    double d = 0;
    for (int i = 0; i < n; i++) d = fmax(d, fabs(a[i] - b[i]));
    if (d > tol) FAIL("%s: log-probs differ by %.3g", what, d);
    if (rank == 0) printf("mpi_tp_test: %s: log-probs: max |diff| = %.2e\n", what, d);
}

/* Scatter to every part and gather back: the whole model, bit for bit. */
static void check_slicing_round_trip(const cada_model *full, int P) {
    cada_model_config lc;
    CHECK_OK(cada_tp_local_config(&full->cfg, P, &lc));
    cada_model rebuilt, part;
    CHECK_OK(cada_model_init(&rebuilt, &full->cfg));
    CHECK_OK(cada_model_init(&part, &lc));
    for (int r = 0; r < P; r++) {
        cada_tp_copy(&full->cfg, &full->p, &part.p, r, P, CADA_TP_SCATTER);
        cada_tp_copy(&full->cfg, &rebuilt.p, &part.p, r, P, CADA_TP_GATHER);
    }
    if (memcmp(rebuilt.params, full->params, sizeof(float) * full->n_params))
        FAIL("slicing over %d parts does not rebuild the model", P);
    cada_model_free(&rebuilt);
    cada_model_free(&part);
}

static void synthetic(cada_comm *world, int qwen, int recompute) {
    char what[96];
    snprintf(what, sizeof what, "%s, recompute %d, P %d", qwen ? "qwen2 (bias, untied)" : "llama (tied)", recompute, size);
    cada_model_config cfg;
    cada_synth_config(&cfg, 96, 64, 2, !qwen); /* 8 heads of 8 dims, I = 128 */
    cfg.n_kv_heads = 4;
    if (qwen) {
        cfg.arch = CADA_ARCH_QWEN2;
        cfg.qkv_bias = 1;
    }
    cada_model full;
    CHECK_OK(cada_synth_model(&full, &cfg, 77, 0.1f));
    if (qwen) { /* the synthetic model leaves biases at 0: give them values */
        cada_rng r;
        cada_rng_init(&r, 5, 0, 0, 0);
        const size_t QKV = (size_t)(cfg.n_heads + 2 * cfg.n_kv_heads) * cfg.head_dim;
        for (int l = 0; l < cfg.n_layers; l++)
            for (size_t i = 0; i < QKV; i++) CADA_LAYER(&full.p, qkv_b, l)[i] = 0.1f * cada_rng_normal(&r);
    }
    cada_model_options opt = {recompute, recompute ? 5 : 0};
    CHECK_OK(cada_model_set_options(&full, &opt));
    for (int P = 1; P <= 4; P *= 2) check_slicing_round_trip(&full, P);

    cada_tp tp;
    CHECK_OK(cada_tp_init_comm(&tp, world, &cfg));
    cada_model local;
    CHECK_OK(cada_tp_model_from_full(&local, &full, &tp));
    CHECK_OK(cada_model_set_options(&local, &opt));

    test_batch tb;
    batch_make(&tb, 13, cfg.vocab_size, 9);
    const cada_batch b = {tb.B, tb.T, tb.tokens, tb.pos, tb.targets};
    CHECK_OK(cada_model_forward(&full, &b));
    CHECK_OK(cada_model_forward(&local, &b));
    compare_logprobs(full.act.logprob, local.act.logprob, 2 * tb.T, what, LP_TOL);
    if (fabsf(full.loss - local.loss) > LP_TOL) FAIL("%s: loss %.7f vs %.7f", what, local.loss, full.loss);
    CHECK_OK(cada_model_alloc_grads(&full));
    cada_model_zero_grads(&full);
    CHECK_OK(cada_model_alloc_grads(&local));
    cada_model_zero_grads(&local);
    CHECK_OK(cada_model_backward(&full, tb.dlogprob));
    CHECK_OK(cada_model_backward(&local, tb.dlogprob));
    compare_grads(&full, &local, what);
    batch_free(&tb);
    cada_model_free(&local);
    cada_model_free(&full);
}

/* The real model: teacher-forced log-probs, then the rollout engine greedy and sampled. */
static void real_model(cada_comm *world, const char *path) {
    cada_model full, local;
    CHECK_OK(cada_model_load(&full, path));
    cada_tp tp;
    CHECK_OK(cada_tp_init_comm(&tp, world, &full.cfg));
    CHECK_OK(cada_tp_model_from_full(&local, &full, &tp));
    char what[128];
    snprintf(what, sizeof what, "%s, P %d", full.cfg.arch == CADA_ARCH_QWEN2 ? "qwen2" : "llama", size);

    test_batch tb;
    batch_make(&tb, 20, full.cfg.vocab_size, 3);
    const cada_batch b = {tb.B, tb.T, tb.tokens, tb.pos, tb.targets};
    CHECK_OK(cada_model_forward(&full, &b));
    CHECK_OK(cada_model_forward(&local, &b));
    compare_logprobs(full.act.logprob, local.act.logprob, 2 * tb.T, what, LP_TOL_REAL);
    batch_free(&tb);

    /* SmolLM2 chat prompts ("What is the capital of France?", "Write a short poem.") */
    static const int pa[] = {1, 4093, 198, 1780, 314, 260, 3575, 282, 4649, 47, 2, 198, 1, 520, 9531, 198};
    static const int pb[] = {1, 4093, 198, 19161, 253, 1890, 8216, 30, 2, 198, 1, 520, 9531, 198};
    static const int eos[] = {2};
    for (int sampled = 0; sampled < 2; sampled++) {
        cada_engine_config ec;
        memset(&ec, 0, sizeof ec);
        ec.sampling.temperature = sampled ? 1.0f : 0.0f;
        ec.sampling.top_p = sampled ? 0.95f : 1.0f;
        ec.seed = 4321;
        ec.n_slots = 4;
        ec.max_len = 128;
        ec.eos_ids = eos;
        ec.n_eos = 1;
        cada_gen_request reqs[4];
        for (int i = 0; i < 4; i++)
            reqs[i] = (cada_gen_request){(uint64_t)(i / 2), (uint32_t)(i % 2), i < 2 ? pa : pb,
                                         i < 2 ? (int)(sizeof pa / sizeof pa[0]) : (int)(sizeof pb / sizeof pb[0]), 32};
        cada_gen_result rf[4], rl[4];
        CHECK_OK(cada_generate(&full, &ec, reqs, 4, rf, NULL));
        CHECK_OK(cada_generate(&local, &ec, reqs, 4, rl, NULL));
        int same = 1, total = 0;
        double d = 0;
        for (int i = 0; i < 4; i++) {
            if (rf[i].n != rl[i].n || memcmp(rf[i].tokens, rl[i].tokens, sizeof(int) * rf[i].n)) same = 0;
            for (int j = 0; j < rf[i].n && j < rl[i].n; j++) d = fmax(d, fabs(rf[i].logprobs[j] - rl[i].logprobs[j]));
            total += rl[i].n;
        }
        if (!same) FAIL("%s: %s decoding: tokens differ from the whole model's", what, sampled ? "sampled" : "greedy");
        if (d > LP_TOL_REAL) FAIL("%s: %s decoding: log-probs differ by %.3g", what, sampled ? "sampled" : "greedy", d);
        if (rank == 0)
            printf("mpi_tp_test: %s: %s decoding: %d tokens %s, log-probs max |diff| = %.2e\n", what,
                   sampled ? "sampled" : "greedy", total, same ? "IDENTICAL" : "DIFFERENT", d);
        for (int i = 0; i < 4; i++) {
            cada_gen_result_free(&rf[i]);
            cada_gen_result_free(&rl[i]);
        }
    }
    cada_model_free(&local);
    cada_model_free(&full);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    cada_comm_options o;
    cada_comm_options_default(&o);
    o.timeout_s = 120;
    cada_comm *world;
    CHECK_OK(cada_comm_init_world(&world, &o));
    if (argc > 2 && !strcmp(argv[1], "--model")) {
        real_model(world, argv[2]);
    } else {
        for (int qwen = 0; qwen < 2; qwen++)
            for (int rec = 0; rec < 2; rec++) synthetic(world, qwen, rec);
    }
    int total = 0;
    MPI_Allreduce(&fails, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0) printf("mpi_tp_test: %d ranks: %s (%d failures)\n", size, total ? "FAILED" : "ok", total);
    cada_comm_free(world);
    MPI_Finalize();
    return total ? 1 : 0;
}
