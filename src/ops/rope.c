/* ops/rope.c: rotary position embedding (Su et al. 2021) in Hugging Face's "rotate half"
 * layout: for i < D/2 the pair (x_i, x_{i+D/2}) is rotated by pos * inv_freq_i.
 *
 * The angle is the fp32 product pos * inv_freq_i and its cosine and sine are taken of
 * that fp32 value, as transformers does (it computes the angles in fp32 even for fp64
 * models), so long positions round the same way. */
#include "ops/ops.h"

#include <math.h>

static void rope_rotate(float *x, int N, int stride, int n_heads, int D, const int *pos,
                        const float *inv_freq, float sign) {
    int half = D / 2;
#pragma omp parallel for schedule(static) if (CADA_PAR((int64_t)N * n_heads * D))
    for (int n = 0; n < N; n++) {
        float *row = x + (int64_t)n * stride;
        for (int i = 0; i < half; i++) {
            float angle = (float)pos[n] * inv_freq[i];
            float c = (float)cos((double)angle);
            float s = sign * (float)sin((double)angle);
            for (int h = 0; h < n_heads; h++) {
                float *v = row + (int64_t)h * D;
                float a = v[i], b = v[i + half];
                v[i] = a * c - b * s;
                v[i + half] = b * c + a * s;
            }
        }
    }
}

void rope_forward(float *x, int N, int stride, int n_heads, int D, const int *pos,
                  const float *inv_freq) {
    rope_rotate(x, N, stride, n_heads, D, pos, inv_freq, 1.0f);
}

/* The rotation is orthogonal: its transpose, the rotation by -angle, maps the gradient. */
void rope_backward(float *dx, int N, int stride, int n_heads, int D, const int *pos,
                   const float *inv_freq) {
    rope_rotate(dx, N, stride, n_heads, D, pos, inv_freq, -1.0f);
}
