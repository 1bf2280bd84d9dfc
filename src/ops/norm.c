/* ops/norm.c: RMSNorm (Zhang & Sennrich 2019) as Hugging Face's LlamaRMSNorm computes it:
 * the mean of squares in fp32, y = weight * (x * rstd). */
#include "ops/ops.h"

#include <math.h>

void rmsnorm_forward(float *out, float *rstd, const float *inp, const float *weight, int N,
                     int C, float eps) {
#pragma omp parallel for schedule(static) if (CADA_PAR((int64_t)N * C))
    for (int n = 0; n < N; n++) {
        const float *x = inp + (int64_t)n * C;
        float *y = out + (int64_t)n * C;
        double ss = 0.0; /* fp64 sum: C terms, no cancellation, costs nothing here */
        for (int i = 0; i < C; i++) ss += (double)x[i] * x[i];
        float r = (float)(1.0 / sqrt(ss / C + (double)eps));
        rstd[n] = r;
        for (int i = 0; i < C; i++) y[i] = weight[i] * (x[i] * r);
    }
}

/* y_i = w_i x_i r, r = (mean(x^2) + eps)^-1/2, dr/dx_j = -r^3 x_j / C, so
 * dx_j = r (w_j dy_j) - r^3 x_j / C * sum_i (w_i dy_i x_i). */
void rmsnorm_backward(float *dinp, float *dweight, const float *dout, const float *inp,
                      const float *weight, const float *rstd, int N, int C) {
#pragma omp parallel for schedule(static) if (CADA_PAR((int64_t)N * C))
    for (int n = 0; n < N; n++) {
        const float *x = inp + (int64_t)n * C;
        const float *dy = dout + (int64_t)n * C;
        float *dx = dinp + (int64_t)n * C;
        float r = rstd[n];
        double dot = 0.0;
        for (int i = 0; i < C; i++) dot += (double)weight[i] * dy[i] * x[i];
        float k = (float)(dot * r * r * r / C);
        for (int i = 0; i < C; i++) dx[i] += r * weight[i] * dy[i] - k * x[i];
    }
    /* dweight_i = sum_n dy_ni x_ni r_n: reduce over rows, threads over columns so that
     * the summation order (and so the result) does not depend on the thread count. */
#pragma omp parallel for schedule(static) if (CADA_PAR((int64_t)N * C))
    for (int i = 0; i < C; i++) {
        float s = 0.0f;
        for (int n = 0; n < N; n++) s += dout[(int64_t)n * C + i] * inp[(int64_t)n * C + i] * rstd[n];
        dweight[i] += s;
    }
}
