/* ops/vexp.h: exp for the inner loops of the CPU ops (softmax, log-softmax, SiLU).
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

/* sum over i < n of exp(x[i] - m), in fp64 (sums of up to 1.5e5 terms): eight partial
 * sums over i mod 8 (so the exps vectorize), added pairwise, then the tail; a fixed
 * order, the same for any thread count. */
static inline double cada_sum_exp_shift(const float *x, int n, float m) {
    double acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += (double)cada_expf(x[i + j] - m);
    double tail = 0.0;
    for (; i < n; i++) tail += (double)cada_expf(x[i] - m);
    return (((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))) + tail;
}

#endif
