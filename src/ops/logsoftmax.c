/* ops/logsoftmax.c: log-softmax over the vocabulary, gathered at the target tokens.
 *
 * The full (N, V) logits are read twice in forward (max, then sum of exponentials) and
 * turned into their own gradient in place in backward, so no second (N, V) buffer is
 * ever allocated (at V = 152k and N = 8k tokens one such buffer is 5 GB). */
#include "ops/ops.h"
#include "ops/vexp.h"

#include <math.h>

void logsoftmax_gather(float *logprob, float *lse, const float *logits, const int *targets,
                       int N, int V) {
#pragma omp parallel for schedule(static) if (CADA_PAR((int64_t)N * V))
    for (int n = 0; n < N; n++) {
        const float *l = logits + (int64_t)n * V;
        const float mx = cada_max_f32(l, V);
        const double sum = cada_sum_exp_shift(l, V, mx); /* fp64: V terms up to 1.5e5 */
        float z = mx + (float)log(sum);
        lse[n] = z;
        logprob[n] = targets[n] >= 0 ? l[targets[n]] - z : 0.0f;
    }
}

void logsoftmax_gather_backward(float *logits, const float *lse, const int *targets,
                                const float *dlogprob, int N, int V) {
#pragma omp parallel for schedule(static) if (CADA_PAR((int64_t)N * V))
    for (int n = 0; n < N; n++) {
        float *l = logits + (int64_t)n * V;
        float g = targets[n] >= 0 ? dlogprob[n] : 0.0f;
        if (g == 0.0f) {
            for (int v = 0; v < V; v++) l[v] = 0.0f;
            continue;
        }
        float z = lse[n];
        for (int v = 0; v < V; v++) l[v] = -g * cada_expf(l[v] - z);
        l[targets[n]] += g;
    }
}
