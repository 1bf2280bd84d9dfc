/* tests/mpi/mpi_learn_test.c: W learner ranks against one, on the same global batches.
 *
 *   mpirun -np W build/mpi/mpi_learn_test [steps]
 *
 * For each stage (DP, ZeRO-1, ZeRO-2, ZeRO-3 with and without recomputation and logits
 * in chunks), each algorithm of a short list, and both
 * reduction modes, every rank trains a synthetic model (same seed everywhere) for
 * `steps` steps on the same global batches; then rank 0 trains the same model alone (a
 * one-rank communicator) and compares:
 *   - fixed_order = 1: parameters must be IDENTICAL (memcmp) to the one-rank run, and
 *     identical on every rank. The batches give K = 4 micro-batches per step, so every
 *     rank holds k = 4 / W of them: a power of two for W = 1, 2, 4 (learn/learner.h).
 *   - fixed_order = 0 (DP/ZeRO-1 accumulate in the model's buffer, DP uses
 *     MPI_Iallreduce): the sums differ from one rank's in rounding only. Adam's update
 *     m / sqrt(v) has magnitude <= ~lr per step whatever the gradient's scale, so a
 *     near-zero gradient whose rounding flips its sign can move a parameter by up to
 *     ~2 lr per step: the bound is max |diff| <= 2 x steps x lr, and fewer than 1% of
 *     parameters may differ by more than 1e-5 (the typical difference is ~1e-7).
 * Also printed: bytes per parameter held by each rank (learn/learner.h's accounting and
 * peak RSS). Exit code: an all-reduce of every rank's failure count. */
#define _POSIX_C_SOURCE 200809L
#include "base/error.h"
#include "base/log.h"
#include "comm/comm.h"
#include "learn/learner.h"
#include "learn/synth.h"

#include <math.h>
#include <mpi.h>
#include "mpi_test.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>


#define LR 3e-3

/* A layout under test: the ZeRO stage, and the model's memory options (recomputation
 * and logits in chunks change which buffers a pass uses, ZeRO-3's gathers included). */
typedef struct {
    cada_zero_stage zero;
    int recompute, logits_chunk;
} layout;

static void config(cada_learner_config *lc, cada_algo algo, layout lay, int fixed) {
    cada_learner_config_default(lc, algo);
    lc->zero = lay.zero;
    lc->model.recompute = lay.recompute;
    lc->model.logits_chunk = lay.logits_chunk;
    lc->fixed_order = fixed;
    lc->row_tokens = 16;
    lc->micro_tokens = 64; /* 4 rows: 4 sequences of 14 tokens per micro-batch */
    lc->opt.lr = LR;
    lc->opt.weight_decay = 0.01;
    lc->opt.max_grad_norm = 1.0;
    lc->opt.schedule = CADA_LR_COSINE;
    lc->opt.warmup_steps = 1;
    lc->opt.total_steps = 10;
    if (algo == CADA_ALGO_GRPO) cada_algo_set_kl(&lc->algo, CADA_KL_IN_LOSS, CADA_KL_K3, 0.05);
    if (algo == CADA_ALGO_REINFORCE) cada_algo_set_kl(&lc->algo, CADA_KL_IN_REWARD, CADA_KL_K1, 0.01);
}

/* Trains on comm c; returns the parameters (malloc'd) and the step metrics of the last step. */
static float *train(cada_comm *c, cada_algo algo, layout zero, int fixed, int steps, size_t *n_params,
                    cada_learner_memory *mem, cada_step_metrics *last) {
    cada_model_config mc;
    cada_synth_config(&mc, 64, 64, 3, 0);
    cada_model m;
    CADA_CHECK(cada_synth_model(&m, &mc, 2024, 0.05f));
    cada_learner_config lc;
    config(&lc, algo, zero, fixed);
    cada_learner *L;
    CADA_CHECK(cada_learner_init(&L, &m, c, &lc));
    for (int s = 0; s < steps; s++) {
        cada_synth_batch b;
        /* 16 sequences of 5 + 9 tokens, groups of 4 (DPO: pairs) */
        CADA_CHECK(cada_synth_batch_make(&b, 16, algo == CADA_ALGO_DPO ? 2 : 4, 64, 5, 9, 1, 1, 100 + (uint64_t)s));
        CADA_CHECK(cada_learner_step(L, b.t, b.n, last));
        cada_synth_batch_free(&b);
    }
    if (mem) cada_learner_memory_get(L, mem);
    CADA_CHECK(cada_learner_gather_params(L)); /* ZeRO-3: every layer back on every rank */
    float *p = malloc(sizeof(float) * m.n_params);
    memcpy(p, m.params, sizeof(float) * m.n_params);
    *n_params = m.n_params;
    cada_learner_free(L);
    cada_model_free(&m);
    return p;
}

static const char *stage_name(layout lay) {
    return lay.recompute ? (lay.zero == CADA_ZERO3 ? "zero3+rc" : "rc") : cada_zero_name(lay.zero);
}

int main(int argc, char **argv) {
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    cada_set_rank(rank);
    const int steps = argc > 1 ? atoi(argv[1]) : 4;
    const cada_algo algos[] = {CADA_ALGO_GRPO, CADA_ALGO_REINFORCE, CADA_ALGO_DPO};
    const layout stages[] = {{CADA_DP, 0, 0}, {CADA_ZERO1, 0, 0}, {CADA_ZERO2, 0, 0}, {CADA_ZERO3, 0, 0}, {CADA_ZERO3, 1, 24}};
    const int n_stages = (int)(sizeof stages / sizeof stages[0]);
    for (int zi = 0; zi < n_stages; zi++)
        for (int ai = 0; ai < 3; ai++)
            for (int fixed = 1; fixed >= 0; fixed--) {
                if (!fixed && ai > 0) continue; /* the rounding comparison once per stage */
                cada_comm_options o;
                cada_comm_options_default(&o);
                o.timeout_s = 120;
                o.chunk_bytes = 32 << 10; /* several chunks per message */
                cada_comm *world, *self;
                CADA_CHECK(cada_comm_init_world(&world, &o));
                size_t n = 0;
                cada_learner_memory mem;
                cada_step_metrics sm;
                double t0 = cada_now();
                float *p = train(world, algos[ai], stages[zi], fixed, steps, &n, &mem, &sm);
                double dt = cada_now() - t0;
                /* every rank holds the same parameters */
                float *p0 = malloc(sizeof(float) * n);
                memcpy(p0, p, sizeof(float) * n);
                MPI_Bcast(p0, (int)n, MPI_FLOAT, 0, MPI_COMM_WORLD);
                if (memcmp(p0, p, sizeof(float) * n)) FAIL("%s %s fixed %d: parameters differ from rank 0's",
                                                           stage_name(stages[zi]), cada_algo_name(algos[ai]), fixed);
                if (rank == 0) {
                    CADA_CHECK(cada_comm_init_self(&self, &o));
                    size_t n1;
                    cada_step_metrics sm1;
                    float *q = train(self, algos[ai], stages[zi], fixed, steps, &n1, NULL, &sm1);
                    float worst = 0;
                    size_t above = 0;
                    for (size_t i = 0; i < n; i++) {
                        float d = fabsf(p[i] - q[i]);
                        worst = fmaxf(worst, d);
                        above += d > 1e-5f;
                    }
                    int same = !memcmp(p, q, sizeof(float) * n);
                    printf("mpi_learn_test: %d ranks %-5s %-9s fixed %d: %s vs 1 rank (max |diff| %.3g, %zu > 1e-5), "
                           "loss %.5f vs %.5f, K %d, %.2f s\n",
                           size, stage_name(stages[zi]), cada_algo_name(algos[ai]), fixed, same ? "IDENTICAL" : "differs",
                           (double)worst, above, sm.loss, sm1.loss, sm.micro_batches, dt);
                    if (fixed && !same) FAIL("fixed order: parameters differ from one rank's");
                    if (!fixed && (worst > 2 * steps * LR || above > n / 100))
                        FAIL("rounding-level agreement exceeded: max %g (bound %g), %zu above 1e-5", (double)worst,
                             2 * steps * LR, above);
                    if (sm.micro_batches != 4) FAIL("expected 4 micro-batches, got %d", sm.micro_batches);
                    free(q);
                    cada_comm_free(self);
                }
                if (fixed && ai == 0) {
                    struct rusage ru;
                    getrusage(RUSAGE_SELF, &ru);
                    long long peak = (long long)ru.ru_maxrss * 1024;
                    long long sums[6] = {(long long)mem.params, (long long)mem.grads, (long long)mem.grad_shard,
                                         (long long)mem.optimizer, (long long)mem.comm_scratch, (long long)mem.total};
                    long long mx[6];
                    MPI_Reduce(sums, mx, 6, MPI_LONG_LONG, MPI_MAX, 0, MPI_COMM_WORLD);
                    long long peak_max;
                    MPI_Reduce(&peak, &peak_max, 1, MPI_LONG_LONG, MPI_MAX, 0, MPI_COMM_WORLD);
                    if (rank == 0)
                        printf("mpi_learn_test: memory %-5s W=%d n=%zu: bytes/param params %.2f grads %.2f shard+accum %.2f "
                               "adam %.2f comm %.2f total %.2f (max over ranks); peak RSS %.1f MiB\n",
                               stage_name(stages[zi]), size, n, (double)mx[0] / n, (double)mx[1] / n, (double)mx[2] / n,
                               (double)mx[3] / n, (double)mx[4] / n, (double)mx[5] / n, (double)peak_max / (1 << 20));
                }
                free(p);
                free(p0);
                cada_comm_free(world);
            }
    int total = 0;
    MPI_Allreduce(&fails, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0) printf("mpi_learn_test: %d ranks: %s (%d failures)\n", size, total ? "FAILED" : "ok", total);
    MPI_Finalize();
    return total ? 1 : 0;
}
