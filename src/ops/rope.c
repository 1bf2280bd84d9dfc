/* ops/rope.c: rotary position embedding (Su et al. 2021) in Hugging Face's "rotate half"
 * layout: for i < D/2 the pair (x_i, x_{i+D/2}) is rotated by pos * inv_freq_i.
 *
 * The angle is the fp32 product pos * inv_freq_i and its cosine and sine are taken of
 * that fp32 value, as transformers does (it computes the angles in fp32 even for fp64
 * models), so long positions round the same way. */
#include "ops/ops.h"

#include <math.h>

/* cos and sin of the fp32 angle pos * inv_freq, from its double value (see above) */
static inline void angle_cs(int pos, float inv_freq, float *c, float *s) {
    const float angle = (float)pos * inv_freq;
    *c = (float)cos((double)angle);
    *s = (float)sin((double)angle);
}

/* One row's heads rotated by (c[i], sign s[i]) pairs: cs[2i] = cos, cs[2i + 1] = sin. */
static inline void rotate_row(float *row, int n_heads, int D, const float *cs, float sign) {
    const int half = D / 2;
    for (int h = 0; h < n_heads; h++) {
        float *v = row + (int64_t)h * D;
        for (int i = 0; i < half; i++) {
            const float c = cs[2 * i], s = sign * cs[2 * i + 1];
            const float a = v[i], b = v[i + half];
            v[i] = a * c - b * s;
            v[i + half] = b * c + a * s;
        }
    }
}

void rope_angles(float *cs, int N, int D, const int *pos, const float *inv_freq) {
    const int half = D / 2;
#pragma omp parallel for schedule(static) if (CADA_PAR((int64_t)N * D * 8))
    for (int n = 0; n < N; n++)
        for (int i = 0; i < half; i++) angle_cs(pos[n], inv_freq[i], &cs[((int64_t)n * half + i) * 2], &cs[((int64_t)n * half + i) * 2 + 1]);
}

static void rotate_angles(float *x, int N, int stride, int n_heads, int D, const float *cs, float sign) {
#pragma omp parallel for schedule(static) if (CADA_PAR((int64_t)N * n_heads * D))
    for (int n = 0; n < N; n++) rotate_row(x + (int64_t)n * stride, n_heads, D, cs + (int64_t)n * D, sign);
}

void rope_forward_angles(float *x, int N, int stride, int n_heads, int D, const float *cs) {
    rotate_angles(x, N, stride, n_heads, D, cs, 1.0f);
}

/* The rotation is orthogonal: its transpose, the rotation by -angle, maps the gradient. */
void rope_backward_angles(float *dx, int N, int stride, int n_heads, int D, const float *cs) {
    rotate_angles(dx, N, stride, n_heads, D, cs, -1.0f);
}

/* Without a table: each angle computed where it is used (tests and one-off calls). */
static void rope_rotate(float *x, int N, int stride, int n_heads, int D, const int *pos, const float *inv_freq,
                        float sign) {
    const int half = D / 2;
#pragma omp parallel for schedule(static) if (CADA_PAR((int64_t)N * n_heads * D))
    for (int n = 0; n < N; n++) {
        float *row = x + (int64_t)n * stride;
        for (int i = 0; i < half; i++) {
            float c, s;
            angle_cs(pos[n], inv_freq[i], &c, &s);
            s *= sign;
            for (int h = 0; h < n_heads; h++) {
                float *v = row + (int64_t)h * D;
                const float a = v[i], b = v[i + half];
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

void rope_backward(float *dx, int N, int stride, int n_heads, int D, const int *pos,
                   const float *inv_freq) {
    rope_rotate(dx, N, stride, n_heads, D, pos, inv_freq, -1.0f);
}
