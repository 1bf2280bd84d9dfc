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
 * W is held in panels (bf16_pack_panels), packed once per weight version: panel p
 * holds output rows 16p..16p+15, and for each pair of inputs (c = 2j, 2j+1) the 16
 * rows' two weights side by side, 64 bytes:
 *
 *   W[o][c] at ((o / 16) K2 + c / 2) 32 + (o % 16) 2 + c % 2,   K2 = ceil(C / 2),
 *
 * rows past OC and the column past an odd C zero (bf16_panels_elems counts them). One
 * vector load is then 16 outputs' weights for two inputs, multiplied by those two x
 * values broadcast: the sums lie in the vector's lanes (no horizontal reductions) and
 * each thread reads its panels front to back, one stream per panel. A tile is four
 * panels (64 outputs) by up to four x rows: 16 accumulators, per pair of inputs four
 * weight loads and four broadcasts for 16 multiply-adds of 16 lanes.
 *
 * Threads split the panels, four at a time (for large N: also the rows, 64 at a time);
 * every output is summed by one thread over its inputs in order, so results do not
 * depend on the thread count. Kernel families (base/cpu.h), chosen at run time:
 *   avx512bf16  x is rounded to bf16 too (once per call) and vdpbf16ps multiplies bf16
 *               pairs into fp32 sums: the products are exact, but rounding x adds a
 *               relative error <= 2^-8 of sum |x_i w_i| to each output (the other
 *               families keep x in fp32). Denormal inputs count as zero.
 *   avx512      bf16 -> fp32 by shift and mask, 16-wide fma
 *   avx2        the same, 8-wide (AVX2 + FMA)
 *   scalar      portable C
 * Every family sums in a different order, so results differ in the last bits between
 * families (tests/unit/test_gemm_bf16.c bounds each against an fp64 reference).
 *
 * For large N (a prefill), the same kernels run: each tile of panels is read from
 * memory once per 64 rows and from cache for the rest. */
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

/* Elements of the panel layout of an (OC, C) matrix (bf16 values, 2 bytes each). */
size_t bf16_panels_elems(int OC, int C);
/* Index of W[o][c] in the panel layout of a matrix of C columns. */
static inline size_t bf16_panel_index(int C, int o, int c) {
    return (((size_t)(o >> 4) * (size_t)((C + 1) >> 1) + (size_t)(c >> 1)) << 5) + (size_t)((o & 15) << 1) + (size_t)(c & 1);
}
/* Packs the elements of the row-major fp32 matrix src (OC, C) whose flat index o C + c
 * lies in [lo, hi) into their places in dst (bf16_panels_elems(OC, C) elements), with
 * bf16_pack's rounding; the padding that belongs to them (the column past an odd C beside
 * element (o, C - 1); the rows past OC with the last element) is written zero. So packing
 * [0, OC C) in any number of ranges, in any order, writes every element of dst once.
 * Splits the panels over the threads. */
void bf16_pack_panels(uint16_t *dst, const float *src, int OC, int C, size_t lo, size_t hi);

/* W is in the panel layout. With the active family (cada_cpu_kernels_active; the caller
 * has checked it resolves: on a bad CADA_CPU_KERNELS this runs the best family). bias
 * may be NULL. Writes out. */
void gemm_bf16_forward(float *out, const float *inp, const uint16_t *w, const float *bias, int N, int C, int OC);
/* With family k, which the CPU must support (cada_cpu_kernels_supported), for tests and
 * benchmarks. */
void gemm_bf16_forward_with(cada_cpu_kernels k, float *out, const float *inp, const uint16_t *w, const float *bias, int N,
                            int C, int OC);

#endif
