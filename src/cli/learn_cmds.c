/* cli/learn_cmds.c: benchmarks of the learner layers, run under mpirun.
 *
 *   cada bench allreduce   cada_comm_allreduce (comm/comm.h: non-blocking MPI, polling
 *                          with back-off, timeout) against a plain blocking
 *                          MPI_Allreduce of the same bytes, and the fixed-order
 *                          allreduce; median time per size, bus bandwidth, overhead.
 *   cada bench learner     one learner configuration (DP, ZeRO-1, ZeRO-2) on a model of
 *                          a real shape with random weights: bytes held per parameter
 *                          (the learner's own accounting and peak RSS, max over ranks),
 *                          step time and tokens/s.
 * Both initialise MPI themselves when it is not initialised (and finalize it after);
 * without mpirun they run on one rank. */
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"

#include "base/log.h"
#include "comm/comm.h"
#include "learn/learner.h"
#include "learn/synth.h"
#include "model/load.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#ifdef CADA_HAVE_MPI
#include <mpi.h>
#endif


/* "64M" -> 67108864; K, M, G are powers of 1024. 0 on a malformed size. */
static size_t parse_bytes(const char *s) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0) return 0;
    double mul = *end == 'K' || *end == 'k' ? 1024.0 : *end == 'M' || *end == 'm' ? 1048576.0 : *end == 'G' || *end == 'g' ? 1073741824.0 : 1.0;
    return (size_t)(v * mul);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

#ifdef CADA_HAVE_MPI
/* MPI up for the command: returns 1 when this call initialised it (and must finalize). */
static int mpi_up(int *argc, char ***argv) {
    int inited = 0;
    MPI_Initialized(&inited);
    if (inited) return 0;
    int provided;
    MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    cada_set_rank(rank);
    return 1;
}
#endif

int cada_cmd_bench_allreduce(int argc, char **argv) {
#ifndef CADA_HAVE_MPI
    (void)argc;
    (void)argv;
    fprintf(stderr, "cada bench allreduce: this build has no MPI\n");
    return 1;
#else
    const char *sizes = "256K,1M,4M,16M,64M,256M";
    int iters = 15, warmup = 3;
    double max_overhead = 5.0;
    size_t chunk = 0, p2p_min = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--sizes") && i + 1 < argc) sizes = argv[++i];
        else if (!strcmp(argv[i], "--iters") && i + 1 < argc) iters = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--warmup") && i + 1 < argc) warmup = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--max-overhead") && i + 1 < argc) max_overhead = atof(argv[++i]);
        else if (!strcmp(argv[i], "--chunk") && i + 1 < argc) chunk = parse_bytes(argv[++i]);
        else if (!strcmp(argv[i], "--p2p-min") && i + 1 < argc) p2p_min = parse_bytes(argv[++i]);
        else {
            fprintf(stderr, "usage: mpirun -np N cada bench allreduce [--sizes 256K,1M,...,256M] [--iters 15] [--warmup 3]\n"
                            "                                        [--max-overhead 5] [--chunk 4M] [--p2p-min 1M]\n");
            return 2;
        }
    }
    if (iters < 1 || warmup < 0) {
        fprintf(stderr, "cada bench allreduce: --iters must be >= 1, --warmup >= 0\n");
        return 2;
    }
    int own = mpi_up(&argc, &argv);
    int rank, W;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &W);
    cada_comm_options o;
    cada_comm_options_default(&o);
    if (chunk) o.chunk_bytes = chunk;
    if (p2p_min) o.p2p_min_bytes = p2p_min;
    cada_comm *fast = NULL, *fixed = NULL;
    int rc = 0;
    if (cada_comm_init_world(&fast, &o) != CADA_OK) {
        rc = cada_cli_fail("bench allreduce");
        goto out;
    }
    o.fixed_order = 1;
    if (cada_comm_init_world(&fixed, &o) != CADA_OK) {
        rc = cada_cli_fail("bench allreduce");
        goto out;
    }
    if (rank == 0) {
        printf("cada bench allreduce: %d ranks, %d iterations per size (median; each iteration's time is the slowest rank's)\n", W, iters);
        printf("%10s %12s %12s %9s %12s %9s %11s %11s\n", "bytes", "MPI (ms)", "cada (ms)", "overhead", "fixed (ms)", "vs MPI",
               "MPI GB/s", "cada GB/s");
    }
    double worst = -1e9;
    char list[512];
    snprintf(list, sizeof list, "%s", sizes);
    double *t_raw = malloc(sizeof(double) * (size_t)iters), *t_cada = malloc(sizeof(double) * (size_t)iters),
           *t_fix = malloc(sizeof(double) * (size_t)iters);
    for (char *tok = strtok(list, ","); tok && rc == 0; tok = strtok(NULL, ",")) {
        size_t bytes = parse_bytes(tok), n = bytes / sizeof(float);
        if (n == 0) {
            if (rank == 0) fprintf(stderr, "cada bench allreduce: bad size '%s'\n", tok);
            rc = 2;
            break;
        }
        float *buf = malloc(sizeof(float) * n);
        if (!buf) {
            fprintf(stderr, "cada bench allreduce: no memory for %zu bytes\n", bytes);
            rc = 1;
            break;
        }
        for (int it = -warmup; it < iters && rc == 0; it++) {
            /* interleaved, so load drift on a shared machine hits all three alike */
            for (int v = 0; v < 3; v++) {
                for (size_t i = 0; i < n; i++) buf[i] = (float)((i + (size_t)rank) % 17) * 1e-3f; /* bounded sums */
                MPI_Barrier(MPI_COMM_WORLD);
                double t0 = MPI_Wtime();
                cada_status s = CADA_OK;
                if (v == 0) MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
                else s = cada_comm_allreduce(v == 1 ? fast : fixed, buf, n, CADA_RED_SUM);
                double t = MPI_Wtime() - t0, tmax;
                if (s != CADA_OK) {
                    rc = cada_cli_fail("bench allreduce");
                    break;
                }
                MPI_Allreduce(&t, &tmax, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
                if (it >= 0) (v == 0 ? t_raw : v == 1 ? t_cada : t_fix)[it] = tmax;
            }
        }
        free(buf);
        if (rc) break;
        double raw = median(t_raw, iters), cd = median(t_cada, iters), fx = median(t_fix, iters);
        double over = 100.0 * (cd - raw) / raw, busf = W > 1 ? 2.0 * (W - 1) / W * (double)bytes : (double)bytes;
        if (bytes >= (1u << 20) && over > worst) worst = over;
        if (rank == 0)
            printf("%10zu %12.3f %12.3f %8.1f%% %12.3f %8.1f%% %11.2f %11.2f\n", bytes, raw * 1e3, cd * 1e3, over, fx * 1e3,
                   100.0 * (fx - raw) / raw, busf / raw / 1e9, busf / cd / 1e9);
    }
    free(t_raw);
    free(t_cada);
    free(t_fix);
    if (rank == 0 && rc == 0 && worst > -1e9)
        printf("cada bench allreduce: largest overhead of cada_comm_allreduce over MPI_Allreduce at >= 1 MiB: %.1f%% (%s the %.0f%% "
               "target)\n",
               worst, worst <= max_overhead ? "within" : "OVER", max_overhead);
out:
    cada_comm_free(fast);
    cada_comm_free(fixed);
    if (own) MPI_Finalize();
    return rc;
#endif
}

/* ---- learner ---------------------------------------------------------------------------- */

int cada_cmd_bench_learner(int argc, char **argv) {
    const char *model = cada_cli_default_model(), *zero_name = "dp", *algo_name = "grpo";
    int layers = -1, seqs = 8, prompt = 32, completion = 96, row = 128, micro = 512, steps = 3, fixed = 1;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc) model = argv[++i];
        else if (!strcmp(argv[i], "--zero") && i + 1 < argc) zero_name = argv[++i];
        else if (!strcmp(argv[i], "--algo") && i + 1 < argc) algo_name = argv[++i];
        else if (!strcmp(argv[i], "--layers") && i + 1 < argc) layers = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seqs") && i + 1 < argc) seqs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--prompt") && i + 1 < argc) prompt = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--completion") && i + 1 < argc) completion = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--row") && i + 1 < argc) row = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--micro") && i + 1 < argc) micro = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--fixed") && i + 1 < argc) fixed = atoi(argv[++i]);
        else {
            fprintf(stderr,
                    "usage: mpirun -np N cada bench learner [--zero dp|zero1|zero2|zero3] [--algo grpo] [--model PATH] [--layers L]\n"
                    "           [--seqs 8] [--prompt 32] [--completion 96] [--row 128] [--micro 512] [--steps 3] [--fixed 1]\n"
                    "The model's configuration (not its weights: they are random) comes from PATH (default: SmolLM2-135M);\n"
                    "--layers keeps only the first L layers. --seqs is the GLOBAL batch of each step.\n");
            return 2;
        }
    }
    cada_zero_stage zero;
    cada_algo algo;
    if (cada_zero_parse(zero_name, &zero) || cada_algo_parse(algo_name, &algo) || steps < 2 || seqs < 1) {
        fprintf(stderr, "cada bench learner: --zero dp|zero1|zero2|zero3, --algo reinforce|grpo|rloo|ppo|sft|dpo, --steps >= 2, --seqs >= 1\n");
        return 2;
    }
    int own = 0;
#ifdef CADA_HAVE_MPI
    own = mpi_up(&argc, &argv);
#endif
    int rc = 0;
    cada_model_config cfg;
    cada_model m;
    memset(&m, 0, sizeof m);
    cada_comm *c = NULL;
    cada_learner *L = NULL;
    cada_synth_batch b;
    memset(&b, 0, sizeof b);
    if (cada_model_load_config(model, &cfg) != CADA_OK) {
        rc = cada_cli_fail("bench learner");
        goto out;
    }
    if (layers > 0 && layers < cfg.n_layers) cfg.n_layers = layers;
    if (cada_synth_model(&m, &cfg, 1, 0.02f) != CADA_OK || cada_comm_init_world(&c, NULL) != CADA_OK) {
        rc = cada_cli_fail("bench learner");
        goto out;
    }
    const int rank = cada_comm_rank(c), W = cada_comm_size(c);
    cada_learner_config lc;
    cada_learner_config_default(&lc, algo);
    lc.zero = zero;
    lc.fixed_order = fixed;
    lc.row_tokens = row;
    lc.micro_tokens = micro;
    lc.opt.lr = 1e-5;
    if (cada_learner_init(&L, &m, c, &lc) != CADA_OK ||
        cada_synth_batch_make(&b, seqs, algo == CADA_ALGO_DPO ? 2 : 4, cfg.vocab_size, prompt, completion, 1, 1, 7) != CADA_OK) {
        rc = cada_cli_fail("bench learner");
        goto out;
    }
    double t_sum = 0.0, tok = 0.0;
    int K = 0;
    for (int s = 0; s < steps; s++) {
        cada_step_metrics sm;
        if (cada_learner_step(L, b.t, b.n, &sm) != CADA_OK) {
            rc = cada_cli_fail("bench learner");
            goto out;
        }
        double t = sm.seconds;
        CADA_CHECK(cada_comm_allreduce_f64(c, &t, 1, CADA_RED_MAX));
        if (s > 0) { /* the first step allocates activations and accumulators */
            t_sum += t;
            tok += sm.tokens;
        }
        K = sm.micro_batches;
    }
    cada_learner_memory mem;
    cada_learner_memory_get(L, &mem);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double v[9] = {(double)mem.params, (double)mem.grads, (double)mem.grad_shard, (double)mem.optimizer,
                   (double)mem.comm_scratch, (double)mem.activations, (double)mem.total, (double)mem.grads_alloc,
                   (double)ru.ru_maxrss * 1024.0};
    CADA_CHECK(cada_comm_allreduce_f64(c, v, 9, CADA_RED_MAX));
    if (rank == 0) {
        const double n = (double)mem.n_params;
        printf("cada bench learner: %s, %d learner(s), %s, fixed order %d, %s (%d layers), %.1fM parameters, random weights\n",
               cada_zero_name(zero), W, cada_algo_name(algo), fixed, model, cfg.n_layers, n / 1e6);
        printf("  batch: %d sequences x (%d + %d) tokens, rows of %d, micro-batches of <= %d tokens: %d micro-batches (%d per rank)\n",
               seqs, prompt, completion, row, micro, K, K / W);
        printf("  bytes per parameter held per rank (max over ranks): params %.2f  grads %.2f  shard+accum %.2f  adamw %.2f  "
               "comm %.2f  = %.2f  (+ activations %.1f MiB)\n",
               v[0] / n, v[1] / n, v[2] / n, v[3] / n, v[4] / n, v[6] / n, v[5] / 1048576.0);
        printf("  model gradient buffer allocated: %.2f bytes/param (ZeRO-2 writes only the embedding/head part of it)\n", v[7] / n);
        printf("  peak RSS per rank (max): %.1f MiB = %.2f bytes/param\n", v[8] / 1048576.0, v[8] / n);
        printf("  step time %.3f s (mean of %d after the first), %.0f tokens/s (all ranks), %.0f tokens/s per rank\n",
               t_sum / (steps - 1), steps - 1, tok / t_sum, tok / t_sum / W);
    }
out:
    cada_synth_batch_free(&b);
    cada_learner_free(L);
    cada_comm_free(c);
    cada_model_free(&m);
#ifdef CADA_HAVE_MPI
    if (own) MPI_Finalize();
#endif
    return rc;
}
