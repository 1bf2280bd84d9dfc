/* learn/entropy.c: see entropy.h. */
#include "learn/entropy.h"

#include <math.h>
#include <stdlib.h>

double cada_token_entropy(const float *logits, const float *lse, const int *mask, int N, int V, float *entropy) {
    float *h = entropy ? entropy : malloc(sizeof(float) * (size_t)(N > 0 ? N : 1));
    if (!h) return NAN;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        if (mask && mask[n] < 0) {
            h[n] = 0.0f;
            continue;
        }
        const float *x = logits + (size_t)n * V;
        const float m = lse[n];
        double ex = 0.0; /* sum_v p_v logit_v; expf is plenty for a metric, double keeps the sum */
        for (int v = 0; v < V; v++) ex += (double)expf(x[v] - m) * x[v];
        h[n] = (float)(m - ex);
    }
    /* summed in row order: the same total for any number of threads */
    double total = 0.0;
    for (int n = 0; n < N; n++)
        if (!mask || mask[n] >= 0) total += h[n];
    if (!entropy) free(h);
    return total;
}
