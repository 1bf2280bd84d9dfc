/* ops/gemm_bf16.h: linear layers with bf16 weights for decode on the CPU.
 *
 *   out (N, OC) = inp (N, C) fp32 @ W^T + bias,  W (OC, C) bf16, accumulation in fp32.
 *
 * bf16 is the top half of an fp32 (1 sign, 8 exponent, 7 mantissa bits): a weight
 * matrix takes half the bytes, and a decode step, which reads every weight once per
 * token and does little arithmetic with it, is bound by those bytes. bf16_pack rounds
 * to nearest even (relative error <= 2^-8 per weight); the kernels widen each weight
 * back to fp32 exactly (a 16-bit shift).
 *
 * Made for few rows (decode: N = 1..32): threads split the output rows; each thread
 * streams its W rows once, in tiles of a few rows, and each W tile meets every x row
 * while it is in cache. Kernel families (base/cpu.h), chosen at run time:
 *   avx512bf16  x is rounded to bf16 too (once per call) and vdpbf16ps multiplies bf16
 *               pairs into fp32 sums: the products are exact, but rounding x adds a
 *               relative error <= 2^-8 of sum |x_i w_i| to each output (the other
 *               families keep x in fp32). Denormal inputs count as zero.
 *   avx512      bf16 -> fp32 by shift, 16-wide fma
 *   avx2        the same, 8-wide (AVX2 + FMA)
 *   scalar      portable C
 * Every family sums in a different order, so results differ in the last bits between
 * families (tests/unit/test_gemm_bf16.c bounds each against an fp64 reference).
 *
 * For large N (a prefill), the same kernels run; each W tile is read once per call and
 * x from cache, so prefill stays compute-bound as with sgemm, without an fp32 copy. */
#ifndef CADA_OPS_GEMM_BF16_H
#define CADA_OPS_GEMM_BF16_H

#include "base/cpu.h"

#include <stddef.h>
#include <stdint.h>

/* dst[i] = bf16(src[i]), round to nearest even; NaN stays NaN (quiet). */
void bf16_pack(uint16_t *dst, const float *src, size_t n);
static inline float bf16_to_f32(uint16_t h) {
    union {
        uint32_t u;
        float f;
    } v = {(uint32_t)h << 16};
    return v.f;
}

/* With the active family (cada_cpu_kernels_active; the caller has checked it resolves:
 * on a bad CADA_CPU_KERNELS this runs the best family). bias may be NULL. Writes out. */
void gemm_bf16_forward(float *out, const float *inp, const uint16_t *w, const float *bias, int N, int C, int OC);
/* With family k, which the CPU must support (cada_cpu_kernels_supported), for tests and
 * benchmarks. */
void gemm_bf16_forward_with(cada_cpu_kernels k, float *out, const float *inp, const uint16_t *w, const float *bias, int N,
                            int C, int OC);

#endif
