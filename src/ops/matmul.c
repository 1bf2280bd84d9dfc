/* ops/matmul.c: linear layers through cblas (OpenBLAS). */
#include "ops/ops.h"

#include "base/log.h"
#include "ops/bgemm.h"

#include <cblas.h>
#include <math.h>

/* Updated only from the calling thread (matmuls are issued sequentially; OpenBLAS
 * threads inside them). */
static ops_matmul_stats stats;

ops_matmul_stats ops_matmul_stats_get(void) { return stats; }
void ops_matmul_stats_reset(void) { stats = (ops_matmul_stats){0}; }

/* out(N, OC) rows = bias, before a product added onto them */
static void fill_bias(float *out, const float *bias, int N, int OC) {
#pragma omp parallel for schedule(static) if (CADA_PAR((int64_t)N * OC))
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) out[(int64_t)n * OC + o] = bias[o];
}

/* dbias(OC) += column sums of dout(N, OC), threaded over columns (order fixed) */
static void bias_backward(float *dbias, const float *dout, int N, int OC) {
#pragma omp parallel for schedule(static) if (CADA_PAR((int64_t)N * OC))
    for (int o = 0; o < OC; o++) {
        float s = 0.0f;
        for (int n = 0; n < N; n++) s += dout[(int64_t)n * OC + o];
        dbias[o] += s;
    }
}

/* Few rows (a decode step): out[n, o] = dot(inp[n], weight[o]) directly. sgemm would
 * first repack the whole weight matrix for each call, which for a handful of rows costs
 * more than the arithmetic (perf: 42% of a batch-16 decode step in OpenBLAS's packing).
 * Here each weight row is read once, straight from memory, against all N input rows
 * held in cache. Sixteen partial sums per dot product let the compiler use full vector
 * registers without reassociating a single sum. */
#define SMALL_ROWS 4
#define LANES 16
#define PREFETCH_ROWS 2 /* 2 and 4 measured alike; 8 slower */
static void matmul_forward_few_rows(float *out, const float *inp, const float *weight, const float *bias, int N, int C,
                                    int OC) {
#pragma omp parallel for schedule(static) if (CADA_PAR((int64_t)OC * C))
    for (int o = 0; o < OC; o++) {
        const float *w = weight + (int64_t)o * C;
        /* the weight row PREFETCH_ROWS ahead, fetched a line per 16 columns: without it
         * the stream of rows ran at ~6.5 GB/s a core on an Intel Xeon (fp32 decode at
         * batch 1: 23 tokens/s on 2 threads; with it 41) */
        const float *ahead = o + PREFETCH_ROWS < OC ? w + (int64_t)PREFETCH_ROWS * C : w;
        int n = 0;
        /* four input rows per pass over the weight row: each loaded weight vector
         * feeds four products */
        for (; n + 4 <= N; n += 4) {
            const float *x0 = inp + (int64_t)n * C, *x1 = x0 + C, *x2 = x1 + C, *x3 = x2 + C;
            float a0[LANES] = {0}, a1[LANES] = {0}, a2[LANES] = {0}, a3[LANES] = {0};
            int c = 0;
            for (; c + LANES <= C; c += LANES) {
                if (n == 0) __builtin_prefetch(ahead + c);
                for (int l = 0; l < LANES; l++) {
                    float wv = w[c + l];
                    a0[l] = fmaf(x0[c + l], wv, a0[l]);
                    a1[l] = fmaf(x1[c + l], wv, a1[l]);
                    a2[l] = fmaf(x2[c + l], wv, a2[l]);
                    a3[l] = fmaf(x3[c + l], wv, a3[l]);
                }
            }
            float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
            for (int l = 0; l < LANES; l++) {
                s0 += a0[l];
                s1 += a1[l];
                s2 += a2[l];
                s3 += a3[l];
            }
            for (; c < C; c++) {
                s0 += x0[c] * w[c];
                s1 += x1[c] * w[c];
                s2 += x2[c] * w[c];
                s3 += x3[c] * w[c];
            }
            float b = bias ? bias[o] : 0.0f;
            out[(int64_t)n * OC + o] = s0 + b;
            out[(int64_t)(n + 1) * OC + o] = s1 + b;
            out[(int64_t)(n + 2) * OC + o] = s2 + b;
            out[(int64_t)(n + 3) * OC + o] = s3 + b;
        }
        for (; n < N; n++) {
            const float *x = inp + (int64_t)n * C;
            float acc[LANES] = {0};
            int c = 0;
            for (; c + LANES <= C; c += LANES) {
                __builtin_prefetch(ahead + c);
                for (int l = 0; l < LANES; l++) acc[l] = fmaf(x[c + l], w[c + l], acc[l]);
            }
            float s = 0.0f;
            for (int l = 0; l < LANES; l++) s += acc[l];
            for (; c < C; c++) s += x[c] * w[c];
            out[(int64_t)n * OC + o] = s + (bias ? bias[o] : 0.0f);
        }
    }
}

void matmul_forward(float *out, const float *inp, const float *weight, const float *bias,
                    int N, int C, int OC) {
    double t0 = cada_now();
    if (N <= SMALL_ROWS) {
        matmul_forward_few_rows(out, inp, weight, bias, N, C, OC);
        stats.seconds += cada_now() - t0;
        stats.flops += 2.0 * N * C * OC;
        stats.calls++;
        return;
    }
    if (bias) fill_bias(out, bias, N, OC);
    /* out(N, OC) = inp(N, C) . weight(OC, C)^T (+ out when bias was written) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1.0f, inp, C, weight, C,
                bias ? 1.0f : 0.0f, out, OC);
    stats.seconds += cada_now() - t0;
    stats.flops += 2.0 * N * C * OC;
    stats.calls++;
}

void matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                     const float *inp, const float *weight, int N, int C, int OC) {
    double t0 = cada_now();
    if (dinp) /* dinp(N, C) += dout(N, OC) . weight(OC, C) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, OC, 1.0f, dout, OC, weight,
                    C, 1.0f, dinp, C);
    /* dweight(OC, C) += dout^T(OC, N) . inp(N, C) */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f,
                dweight, C);
    if (dbias) bias_backward(dbias, dout, N, OC);
    stats.seconds += cada_now() - t0;
    stats.flops += (dinp ? 4.0 : 2.0) * N * C * OC;
    stats.calls++;
}

/* bgemm failing means its scratch (under 5 MiB a thread) could not be allocated: the
 * fp32 product is then computed instead (no less accurate), said once. */
static void bgemm_or_sgemm(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                           float beta, float *C, int ldc) {
    if (bgemm(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc) == 0) return;
    static int warned;
    if (!warned) {
        warned = 1;
        CADA_WARN("bf16 matmul: no memory for its packing scratch; computing in fp32 instead");
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, A, lda, B,
                ldb, beta, C, ldc);
}

void matmul_forward_bf16(float *out, const float *inp, const float *weight, const float *bias, int N, int C, int OC) {
    double t0 = cada_now();
    if (bias) fill_bias(out, bias, N, OC);
    bgemm_or_sgemm(0, 1, N, OC, C, inp, C, weight, C, bias ? 1.0f : 0.0f, out, OC);
    stats.seconds += cada_now() - t0;
    stats.flops += 2.0 * N * C * OC;
    stats.calls++;
}

void matmul_backward_bf16(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                          const float *weight, int N, int C, int OC) {
    double t0 = cada_now();
    if (dinp) bgemm_or_sgemm(0, 0, N, C, OC, dout, OC, weight, C, 1.0f, dinp, C);
    bgemm_or_sgemm(1, 0, OC, C, N, dout, OC, inp, C, 1.0f, dweight, C);
    if (dbias) bias_backward(dbias, dout, N, OC);
    stats.seconds += cada_now() - t0;
    stats.flops += (dinp ? 4.0 : 2.0) * N * C * OC;
    stats.calls++;
}
