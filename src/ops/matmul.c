/* ops/matmul.c: linear layers through cblas (OpenBLAS). */
#include "ops/ops.h"

#include "base/log.h"

#include <cblas.h>

/* Updated only from the calling thread (matmuls are issued sequentially; OpenBLAS
 * threads inside them). */
static ops_matmul_stats stats;

ops_matmul_stats ops_matmul_stats_get(void) { return stats; }
void ops_matmul_stats_reset(void) { stats = (ops_matmul_stats){0}; }

void matmul_forward(float *out, const float *inp, const float *weight, const float *bias,
                    int N, int C, int OC) {
    double t0 = cada_now();
    if (bias) {
#pragma omp parallel for schedule(static) if (CADA_PAR((int64_t)N * OC))
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OC; o++) out[(int64_t)n * OC + o] = bias[o];
    }
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
    if (dbias) {
#pragma omp parallel for schedule(static) if (CADA_PAR((int64_t)N * OC))
        for (int o = 0; o < OC; o++) {
            float s = 0.0f;
            for (int n = 0; n < N; n++) s += dout[(int64_t)n * OC + o];
            dbias[o] += s;
        }
    }
    stats.seconds += cada_now() - t0;
    stats.flops += (dinp ? 4.0 : 2.0) * N * C * OC;
    stats.calls++;
}
