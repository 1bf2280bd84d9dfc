/* cli/bench.c: `cada bench forward|train-step|matmul` on the CPU path.
 *
 * forward:    tokens/s of the training forward (logits and log-probs) at B x T.
 * train-step: tokens/s of forward + backward (gradients of the mean cross-entropy).
 * matmul:     GFLOP/s of OpenBLAS's sgemm and of ops/bgemm.h (bf16) alone on each GEMM
 *             shape of one train step, against the rate the matmuls reach inside the
 *             model during a train step.
 * --recompute and --logits-chunk R set the model's memory options (model/model.h) for
 * forward and train-step; the activation bytes they lead to are printed with the rate.
 * --bf16: the linear layers in bf16 arithmetic (learn.matmul = bf16); its peer is
 * bench_torch.py --bf16 (PyTorch's autocast).
 * The peer (PyTorch on the same shapes and threads) is tests/peers/bench_torch.py. */
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"

#include "base/log.h"
#include "base/rng.h"
#include "model/load.h"
#include "ops/blas_core.h"
#include "ops/bgemm.h"
#include "ops/ops.h"
#include "tok/tokenizer.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* from OpenBLAS */
extern int openblas_get_num_threads(void);

typedef struct {
    const char *what;
    const char *model;
    int B, T, iters;
    cada_model_options mem;
} bench_args;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void fill_batch(int *tokens, int *pos, int *targets, int B, int T, int V) {
    cada_rng r;
    cada_rng_init(&r, 1234, 0, 0, 0);
    for (int i = 0; i < B * T; i++) {
        tokens[i] = (int)(cada_rng_u32(&r) % (uint32_t)V);
        pos[i] = i % T;
    }
    for (int i = 0; i < B * T; i++) targets[i] = (i % T) + 1 < T ? tokens[i + 1] : -1;
}

/* One GEMM shape, timed alone: the rate OpenBLAS's sgemm (bf16 = 0) or ops/bgemm.h
 * (bf16 = 1) reaches on it. */
static double gemm_gflops(int M, int N, int K, int transa, int transb, int iters, int bf16) {
    float *a = calloc((size_t)M * K, sizeof(float)), *b = calloc((size_t)K * N, sizeof(float)),
          *c = calloc((size_t)M * N, sizeof(float));
    if (!a || !b || !c) {
        free(a); free(b); free(c);
        return 0.0;
    }
    for (size_t i = 0; i < (size_t)M * K; i++) a[i] = (float)(i % 7) * 0.01f;
    for (size_t i = 0; i < (size_t)K * N; i++) b[i] = (float)(i % 5) * 0.01f;
    double best = 1e30;
    for (int it = 0; it < iters + 1; it++) {
        double t0 = cada_now();
        if (bf16) bgemm(transa, transb, M, N, K, a, transa ? M : K, b, transb ? K : N, 1.0f, c, N);
        else
            cblas_sgemm(CblasRowMajor, transa ? CblasTrans : CblasNoTrans, transb ? CblasTrans : CblasNoTrans, M, N, K, 1.0f,
                        a, transa ? M : K, b, transb ? K : N, 1.0f, c, N);
        double dt = cada_now() - t0;
        if (it > 0 && dt < best) best = dt;
    }
    free(a); free(b); free(c);
    return 2.0 * M * N * K / best / 1e9;
}

static int bench_matmul(const cada_model_config *c, int B, int T, int iters, double in_model_gflops, int bf16) {
    const int N = B * T, C = c->hidden_size, FF = c->intermediate_size, V = c->vocab_size;
    const int QKV = (c->n_heads + 2 * c->n_kv_heads) * c->head_dim, HD = c->n_heads * c->head_dim;
    struct { const char *name; int M, Nn, K, ta, tb; double count; } shapes[] = {
        /* forward: out(N, OC) = in(N, C) W^T */
        {"fwd qkv", N, QKV, C, 0, 1, c->n_layers}, {"fwd o", N, C, HD, 0, 1, c->n_layers},
        {"fwd gate_up", N, 2 * FF, C, 0, 1, c->n_layers}, {"fwd down", N, C, FF, 0, 1, c->n_layers},
        {"fwd lm_head", N, V, C, 0, 1, 1},
        /* backward: dinp(N, C) = dout(N, OC) W ; dW(OC, C) = dout^T in */
        {"bwd dx qkv", N, C, QKV, 0, 0, c->n_layers}, {"bwd dW qkv", QKV, C, N, 1, 0, c->n_layers},
        {"bwd dx gate_up", N, C, 2 * FF, 0, 0, c->n_layers}, {"bwd dW gate_up", 2 * FF, C, N, 1, 0, c->n_layers},
        {"bwd dx down", N, FF, C, 0, 0, c->n_layers}, {"bwd dW down", C, FF, N, 1, 0, c->n_layers},
        {"bwd dx lm_head", N, C, V, 0, 0, 1}, {"bwd dW lm_head", V, C, N, 1, 0, 1},
    };
    double flops = 0.0, seconds = 0.0, seconds_bf16 = 0.0;
    printf("%-16s %8s %8s %8s %14s %14s\n", "shape", "M", "N", "K", "sgemm GFLOP/s", "bgemm (bf16)");
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        double g = gemm_gflops(shapes[i].M, shapes[i].Nn, shapes[i].K, shapes[i].ta, shapes[i].tb, iters, 0);
        double gb = gemm_gflops(shapes[i].M, shapes[i].Nn, shapes[i].K, shapes[i].ta, shapes[i].tb, iters, 1);
        double f = 2.0 * shapes[i].M * shapes[i].Nn * shapes[i].K * shapes[i].count;
        flops += f;
        seconds += f / (g * 1e9);
        seconds_bf16 += f / (gb * 1e9);
        printf("%-16s %8d %8d %8d %14.1f %14.1f\n", shapes[i].name, shapes[i].M, shapes[i].Nn, shapes[i].K, g, gb);
    }
    double alone = (bf16 ? flops / seconds_bf16 : flops / seconds) / 1e9;
    printf("weighted over one train step's GEMMs: openblas sgemm %.1f GFLOP/s, bgemm (bf16, kernels %s) %.1f GFLOP/s\n",
           flops / seconds / 1e9, cada_cpu_kernels_name(cada_cpu_kernels_current()), flops / seconds_bf16 / 1e9);
    if (in_model_gflops > 0)
        printf("inside the model (train step, %s matmuls):  %.1f GFLOP/s (%.0f%% of %s alone)\n", bf16 ? "bf16" : "fp32",
               in_model_gflops, 100.0 * in_model_gflops / alone, bf16 ? "bgemm" : "sgemm");
    return 0;
}

int cada_cmd_bench(int argc, char **argv) {
    if (argc >= 1 && !strcmp(argv[0], "generate")) return cada_cmd_bench_generate(argc - 1, argv + 1);
    if (argc >= 1 && !strcmp(argv[0], "allreduce")) return cada_cmd_bench_allreduce(argc - 1, argv + 1);
    if (argc >= 1 && !strcmp(argv[0], "learner")) return cada_cmd_bench_learner(argc - 1, argv + 1);
    if (argc >= 1 && !strcmp(argv[0], "tokenizer")) {
        if (argc != 3) {
            fprintf(stderr, "usage: cada bench tokenizer TOKENIZER_PATH TEXT_FILE\n");
            return 2;
        }
        return cada_tok_bench(argv[1], argv[2]) == CADA_OK ? 0 : cada_cli_fail("bench tokenizer");
    }
    bench_args a = {NULL, cada_cli_default_model(), 4, 256, 5, {0, 0, 0, 1}};
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc) a.model = argv[++i];
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) a.B = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seq") && i + 1 < argc) a.T = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--iters") && i + 1 < argc) a.iters = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--recompute")) a.mem.recompute = 1;
        else if (!strcmp(argv[i], "--bf16")) a.mem.matmul_bf16 = 1;
        else if (!strcmp(argv[i], "--logits-chunk") && i + 1 < argc) a.mem.logits_chunk = atoi(argv[++i]);
        else if (!a.what && argv[i][0] != '-') a.what = argv[i];
        else a.what = "?";
    }
    if (!a.what || a.B <= 0 || a.T <= 0 || a.iters <= 0 ||
        (strcmp(a.what, "forward") && strcmp(a.what, "train-step") && strcmp(a.what, "matmul"))) {
        fprintf(stderr, "usage: cada bench forward|train-step|matmul [--model PATH] [--batch 4] [--seq 256] [--iters 5] [--recompute] "
                        "[--logits-chunk ROWS] [--bf16]\n");
        return 2;
    }
    cada_model m;
    if (cada_model_load(&m, a.model) != CADA_OK) return cada_cli_fail("bench");
    if (cada_model_set_options(&m, &a.mem) != CADA_OK) {
        cada_model_free(&m);
        return cada_cli_fail("bench");
    }
    const cada_model_config *c = &m.cfg;
    printf("cada bench %s: %s, batch %d x %d tokens, %d iterations (median), fp32 CPU, %s matmuls\n", a.what, a.model, a.B,
           a.T, a.iters, a.mem.matmul_bf16 ? "bf16 (learn.matmul = bf16)" : "fp32");
    char blas[256];
    cada_blas_describe(blas, sizeof blas); /* which kernels, and who chose them (ops/blas_core.h) */
    printf("threads: OpenMP %d, OpenBLAS %d (%s)\n", omp_get_max_threads(), openblas_get_num_threads(), blas);
    const int N = a.B * a.T;
    int *tokens = malloc(sizeof(int) * N), *pos = malloc(sizeof(int) * N), *targets = malloc(sizeof(int) * N);
    float *dlogprob = malloc(sizeof(float) * N);
    double *times = malloc(sizeof(double) * (size_t)a.iters);
    int rc = 0;
    if (!tokens || !pos || !targets || !dlogprob || !times) {
        fprintf(stderr, "cada bench: out of memory\n");
        rc = 1;
        goto done;
    }
    fill_batch(tokens, pos, targets, a.B, a.T, c->vocab_size);
    cada_ce_dlogprob(targets, N, dlogprob);
    cada_batch b = {a.B, a.T, tokens, pos, targets};
    int train = strcmp(a.what, "forward") != 0;
    if (train && cada_model_alloc_grads(&m) != CADA_OK) {
        rc = cada_cli_fail("bench");
        goto done;
    }
    double fwd_sum = 0.0, bwd_sum = 0.0;
    ops_matmul_stats mm = {0};
    for (int it = -1; it < a.iters; it++) { /* it = -1: warm-up (allocations, page faults) */
        if (it == 0) ops_matmul_stats_reset();
        double t0 = cada_now();
        if (cada_model_forward(&m, &b) != CADA_OK) {
            rc = cada_cli_fail("bench");
            goto done;
        }
        double t1 = cada_now();
        if (train) {
            cada_model_zero_grads(&m);
            if (cada_model_backward(&m, dlogprob) != CADA_OK) {
                rc = cada_cli_fail("bench");
                goto done;
            }
        }
        double t2 = cada_now();
        if (it >= 0) {
            times[it] = t2 - t0;
            fwd_sum += t1 - t0;
            bwd_sum += t2 - t1;
        }
    }
    mm = ops_matmul_stats_get();
    double med = median(times, a.iters);
    double flops_per_token = 2.0 * (double)cada_config_param_count(c) * (train ? 3.0 : 1.0);
    if (!strcmp(a.what, "matmul")) {
        rc = bench_matmul(c, a.B, a.T, a.iters, mm.flops / mm.seconds / 1e9, a.mem.matmul_bf16);
    } else {
        printf("cada %s tokens/s %.1f (batch %dx%d, threads %d; step %.3f s median; forward %.3f s, backward %.3f s mean)\n",
               a.what, N / med, a.B, a.T, omp_get_max_threads(), med, fwd_sum / a.iters, bwd_sum / a.iters);
        printf("  activations %.1f MiB (recompute %s, logits %d rows at once)\n", (double)m.act.bytes / (1 << 20),
               a.mem.recompute ? "on" : "off", m.act.logit_rows);
        printf("  matmuls: %.1f%% of the step at %.1f GFLOP/s; model FLOP rate %.1f GFLOP/s (6N or 2N per token)\n",
               100.0 * mm.seconds / (fwd_sum + bwd_sum), mm.flops / mm.seconds / 1e9, flops_per_token * N / med / 1e9);
    }
done:
    free(tokens); free(pos); free(targets); free(dlogprob); free(times);
    cada_model_free(&m);
    return rc;
}
