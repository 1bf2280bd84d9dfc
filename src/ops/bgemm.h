/* ops/bgemm.h: matrix products with bf16 arithmetic for training on the CPU.
 *
 *   C (M, N) = beta * C + op(A) (M, K) . op(B) (K, N),   op(X) = X or X^T
 *
 * All matrices are fp32 and row-major in memory (leading dimensions lda, ldb, ldc, as
 * cblas_sgemm with CblasRowMajor). Packing rounds A and B to bf16 (nearest even, the
 * rule of bf16_pack in gemm_bf16.h; the avx512bf16 family's conversion instruction
 * counts denormal inputs as zero); the products of two bf16 are exact in fp32 and are
 * summed in fp32. So each output differs from the fp32 product by at most about
 * 2 * 2^-8 * sum_k |a_k b_k| (the two roundings) plus fp32 summation error: the
 * precision of mixed-precision training on GPUs (bf16 operands, fp32 accumulation) and
 * of PyTorch's CPU autocast. tests/unit/test_bgemm.c checks that bound against an fp64
 * reference for every op(A)/op(B) and ragged shapes.
 *
 * Why: on CPUs with AVX512-BF16 one vdpbf16ps does 32 multiply-adds where an fp32 fma
 * does 16, so the train step's matmuls (80% of it) can run up to twice as fast as
 * sgemm. Kernel families (base/cpu.h), chosen at run time:
 *   avx512bf16  12 x 32 register tile of vdpbf16ps (measured 1.75x sgemm on the
 *               train step's shapes, Zen 4)
 *   avx512      the same tile, bf16 widened by shift and mask, two fmas a pair (for
 *               AVX-512 CPUs without BF16: ~0.85x sgemm)
 *   others      portable C over the same packed bf16 (~0.55x sgemm)
 * All compute the same numbers up to fp32 summation order; only avx512bf16 is faster
 * than fp32 (cada train warns otherwise).
 *
 * Blocking (Goto): for each NC-column block of op(B) and slice of K (equal slices of at
 * most KC = 768, deep so that C is read and written few times), the slice of B is
 * packed once (bf16 pairs, 32 columns a panel) and shared by the threads; each thread
 * packs its MC rows of op(A) and runs the register kernel over them. Scratch: KC x NC
 * bf16 for B (4.5 MiB, the calling thread's) and MC x KC per thread (288 KiB), kept
 * between calls. */
#ifndef CADA_OPS_BGEMM_H
#define CADA_OPS_BGEMM_H

#include "base/cpu.h"

/* ta, tb: 0 for X, 1 for X^T. Returns 0, or -1 (C untouched) when its scratch could not
 * be allocated. Threads: OpenMP. */
int bgemm(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb, float beta, float *C,
          int ldc);
/* With family k (the CPU must support it), for tests and benchmarks. */
int bgemm_with(cada_cpu_kernels k, int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
               float beta, float *C, int ldc);

#endif
