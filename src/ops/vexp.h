/* ops/vexp.h: exp for the inner loops of the CPU ops (softmax, log-softmax, SiLU), and
 * the log-softmax's reductions (max, sum of exps) in forms that vectorize.
 *
 * libm's expf is a call per element, which keeps those loops scalar (about 4% of a
 * train step). cada_expf is straight-line C the compiler vectorizes with whatever the
 * build targets: x = n ln2 + r with |r| <= ln2 / 2 (n rounded to nearest by adding and
 * subtracting 1.5 x 2^23, ln2 split in two parts so r is exact), e^r by Cephes' degree-6
 * polynomial, 2^n built in the exponent bits. Relative error <= 2 ulp over the normal
 * range (tests/unit/test_ops.c compares it with the fp64 exp); inputs below
 * -87.34 (results under FLT_MIN) give 0, above 88.3 the value at 88.3 (2.2e38; the ops
 * call it with x <= 0, or with -x of a SiLU where the result only has to be large), NaN
 * gives NaN. Needs IEEE round-to-nearest arithmetic without reassociation (no
 * -ffast-math), as the rest of the build. */
#ifndef CADA_OPS_VEXP_H
#define CADA_OPS_VEXP_H

#include <math.h>
#include <stdint.h>

static inline float cada_expf(float x) {
    const float lo = -87.33654475f, hi = 88.3f;
    const int under = x < lo;
    x = x > hi ? hi : x;
    x = x < lo ? lo : x;
    const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* round(x / ln2) */
    float r = x - n * 0.693359375f;                                           /* ln2 = 0.693359375 - 2.12194440e-4 */
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    union {
        int32_t i;
        float f;
    } s = {((int32_t)n + 127) * (1 << 23)};
    return under ? 0.0f : p * s.f;
}

/* x[i] = exp(x[i] - m) for i < n. */
static inline void cada_exp_shift(float *x, int n, float m) {
    for (int i = 0; i < n; i++) x[i] = cada_expf(x[i] - m);
}

/* sum over i < n of exp(x[i] - m), for sums of up to 1.5e5 terms: blocks of 64 exps
 * (vectorized) added in float by a fixed tree (relative error <= 6 x 2^-24 of the
 * block's sum), the blocks' sums and the tail in fp64, in order; the same for any thread
 * count. */
static inline double cada_sum_exp_shift(const float *x, int n, float m) {
    double total = 0.0;
    int i = 0;
    for (; i + 64 <= n; i += 64) {
        float e[64], lane[16];
        for (int j = 0; j < 64; j++) e[j] = cada_expf(x[i + j] - m);
        for (int j = 0; j < 16; j++) lane[j] = (e[j] + e[16 + j]) + (e[32 + j] + e[48 + j]);
        for (int w = 8; w >= 1; w /= 2)
            for (int j = 0; j < w; j++) lane[j] += lane[j + w];
        total += (double)lane[0];
    }
    for (; i < n; i++) total += (double)cada_expf(x[i] - m);
    return total;
}

/* max over i < n of x[i] (NaNs are skipped, as a running `x > m ? x : m`); -inf when
 * n == 0. Sixteen running maxima, so the compares vectorize. */
static inline float cada_max_f32(const float *x, int n) {
    float lane[16];
    for (int j = 0; j < 16; j++) lane[j] = -INFINITY;
    int i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) lane[j] = x[i + j] > lane[j] ? x[i + j] : lane[j];
    for (; i < n; i++) lane[0] = x[i] > lane[0] ? x[i] : lane[0];
    float mx = lane[0];
    for (int j = 1; j < 16; j++) mx = lane[j] > mx ? lane[j] : mx;
    return mx;
}

#endif
