/* ops/elementwise.c: SwiGLU (Shazeer 2020), residual adds, token embeddings. */
#include "ops/ops.h"
#include "ops/vexp.h"

#include <math.h>

static inline float sigmoidf(float x) { return 1.0f / (1.0f + cada_expf(-x)); }

void swiglu_forward(float *h, const float *gu, int N, int I) {
#pragma omp parallel for schedule(static) if (CADA_PAR((int64_t)N * I))
    for (int n = 0; n < N; n++) {
        const float *g = gu + (int64_t)n * 2 * I;
        const float *u = g + I;
        float *y = h + (int64_t)n * I;
        for (int i = 0; i < I; i++) y[i] = g[i] * sigmoidf(g[i]) * u[i];
    }
}

/* d/dg [g s(g)] = s(g) (1 + g (1 - s(g))). */
void swiglu_backward(float *dgu, const float *dh, const float *gu, int N, int I) {
#pragma omp parallel for schedule(static) if (CADA_PAR((int64_t)N * I))
    for (int n = 0; n < N; n++) {
        const float *g = gu + (int64_t)n * 2 * I;
        const float *u = g + I;
        const float *dy = dh + (int64_t)n * I;
        float *dg = dgu + (int64_t)n * 2 * I;
        float *du = dg + I;
        for (int i = 0; i < I; i++) {
            float s = sigmoidf(g[i]);
            du[i] = dy[i] * g[i] * s;
            dg[i] = dy[i] * u[i] * s * (1.0f + g[i] * (1.0f - s));
        }
    }
}

void residual_forward(float *out, const float *a, const float *b, int64_t n) {
#pragma omp parallel for schedule(static) if (CADA_PAR(n))
    for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void embedding_forward(float *out, const int *tokens, const float *table, int N, int C) {
#pragma omp parallel for schedule(static) if (CADA_PAR((int64_t)N * C))
    for (int n = 0; n < N; n++) {
        const float *src = table + (int64_t)tokens[n] * C;
        float *dst = out + (int64_t)n * C;
        for (int i = 0; i < C; i++) dst[i] = src[i];
    }
}

/* Sequential over tokens: two tokens may share a row of the table, and a fixed order
 * keeps the result independent of the thread count. Threads split the columns. */
void embedding_backward(float *dtable, const float *dout, const int *tokens, int N, int C) {
#pragma omp parallel for schedule(static) if (CADA_PAR((int64_t)N * C))
    for (int i = 0; i < C; i++)
        for (int n = 0; n < N; n++) dtable[(int64_t)tokens[n] * C + i] += dout[(int64_t)n * C + i];
}
