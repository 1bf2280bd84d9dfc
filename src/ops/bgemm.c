/* ops/bgemm.c: see bgemm.h.
 *
 * Packed layouts (uint32 = one bf16 pair: the low half is element k, the high half
 * element k + 1, which is how vdpbf16ps pairs its operands):
 *   A panel  (MR rows, kc deep):  a[p * MR + r]  = pair (op(A)[r][2p], op(A)[r][2p + 1])
 *   B panel  (kc deep, NR cols):  b[p * NR + c]  = pair (op(B)[2p][c], op(B)[2p + 1][c])
 * Rows, columns and the odd k beyond the matrix are zeros, so the kernel always runs a
 * whole tile and only the store looks at the edges. */
#include "ops/bgemm.h"

#include "ops/ops.h"

#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_X86 1
#define AVX512BF16_T __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#endif

enum {
    MR = 12,   /* rows of the register tile: 12 x 2 accumulators + 2 B vectors + 1 broadcast < 32 zmm */
    NR = 32,   /* columns of the register tile: two 16-lane vectors */
    /* Depth of a slice, at most: K is cut into equal slices no deeper than this. Deep
     * slices because every slice after the first reads and writes all of C again: for
     * the LM head (1024 x 49152 outputs, K = 576) three slices of 256 moved 0.6 GB more
     * through memory than one slice of 576 and ran at 265-275 GFLOP/s against 340-360
     * (two Zen 4 cores). A B panel (kc/2 x NR pairs, up to 48 KiB) then streams from L2
     * into the kernel, 12 rows at a time, which costs nothing measurable. */
    KC = 768,
    MC = 192,  /* rows a thread packs at once: MC x KC bf16 (288 KiB) in L2 */
    NC = 3072, /* columns of B packed at once: KC x NC bf16 (4.5 MiB), shared, in L3 */
    PREFETCH_PAIRS = 4, /* packing down rows: the row pair this far ahead is fetched */
};

/* bf16 bits of x, nearest even; NaN stays a quiet NaN (bf16_pack's rule). */
static inline uint32_t round_bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    return (u & 0x7fffffffu) > 0x7f800000u ? ((u >> 16) | 0x0040u) : r;
}

/* Packing spends most of its time rounding; where the CPU converts fp32 to bf16 in one
 * instruction (vcvtne2ps2bf16: nearest even, as round_bf16, but denormal inputs count
 * as zero) the avx512bf16 family uses it, 32 values at a time (`insn` below). */

#ifdef HAVE_X86
/* dst[l] = pair (r0[l], r1[l]) for l < n */
AVX512BF16_T static void pair_rows_insn(uint32_t *dst, const float *r0, const float *r1, int n) {
    /* cvtne2ps gives r0's 16 bf16 then r1's; this interleaves them: r0[0], r1[0], ... */
    static const uint16_t interleave[32] = {0, 16, 1, 17, 2,  18, 3,  19, 4,  20, 5,  21, 6,  22, 7,  23,
                                            8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
    const __m512i idx = _mm512_loadu_si512(interleave);
    int l = 0;
    for (; l + 16 <= n; l += 16) {
        const __m512i v = (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(r1 + l), _mm512_loadu_ps(r0 + l));
        _mm512_storeu_si512(dst + l, _mm512_permutexvar_epi16(idx, v));
    }
    for (; l < n; l++) dst[l] = round_bf16(r0[l]) | round_bf16(r1[l]) << 16;
}

/* 16 pairs of a line contiguous in k: elements k0 .. k0 + 31, zeros past kc. */
AVX512BF16_T static inline __m512i line_pairs16(const float *x, int kc, int k0) {
    const int n = kc - k0;
    if (n >= 32) return (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + k0 + 16), _mm512_loadu_ps(x + k0));
    const __mmask16 lo = n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1u),
                    hi = n > 16 ? (__mmask16)((1u << (n - 16)) - 1u) : (__mmask16)0;
    return (__m512i)_mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, x + k0 + 16), _mm512_maskz_loadu_ps(lo, x + k0));
}

/* r[i][j] -> r[j][i] for 16 x 16 uint32: pairs of rows interleaved by 32 then 64 bits
 * (b[4k + c], 128-bit lane L: rows 4k .. 4k + 3 of column 4L + c), then the lanes
 * gathered across (column 4L + c takes lane L of b[c], b[4 + c], b[8 + c], b[12 + c]). */
AVX512BF16_T static inline void transpose16(__m512i r[16]) {
    __m512i a[16], b[16];
    for (int k = 0; k < 8; k++) {
        a[2 * k] = _mm512_unpacklo_epi32(r[2 * k], r[2 * k + 1]);
        a[2 * k + 1] = _mm512_unpackhi_epi32(r[2 * k], r[2 * k + 1]);
    }
    for (int k = 0; k < 4; k++) {
        b[4 * k] = _mm512_unpacklo_epi64(a[4 * k], a[4 * k + 2]);
        b[4 * k + 1] = _mm512_unpackhi_epi64(a[4 * k], a[4 * k + 2]);
        b[4 * k + 2] = _mm512_unpacklo_epi64(a[4 * k + 1], a[4 * k + 3]);
        b[4 * k + 3] = _mm512_unpackhi_epi64(a[4 * k + 1], a[4 * k + 3]);
    }
    for (int c = 0; c < 4; c++) {
        const __m512i d0 = _mm512_shuffle_i32x4(b[c], b[4 + c], 0x44), d1 = _mm512_shuffle_i32x4(b[c], b[4 + c], 0xee);
        const __m512i d2 = _mm512_shuffle_i32x4(b[8 + c], b[12 + c], 0x44), d3 = _mm512_shuffle_i32x4(b[8 + c], b[12 + c], 0xee);
        r[c] = _mm512_shuffle_i32x4(d0, d2, 0x88);
        r[4 + c] = _mm512_shuffle_i32x4(d0, d2, 0xdd);
        r[8 + c] = _mm512_shuffle_i32x4(d1, d3, 0x88);
        r[12 + c] = _mm512_shuffle_i32x4(d1, d3, 0xdd);
    }
}

/* pack_panels (below) with the conversion instruction: 16 lines x 16 pairs rounded
 * straight from the rows and transposed in registers into their places (the pairs of
 * one line go `width` apart, which the portable path writes one by one). */
AVX512BF16_T static void pack_panels_insn(uint32_t *out, const float *x, long si, int lines, int kc, int width) {
    const int kp2 = (kc + 1) / 2;
    const int panels = (lines + width - 1) / width;
    for (int q = 0; q < panels; q++) {
        uint32_t *panel = out + (size_t)q * width * kp2;
        for (int g = 0; g < width; g += 16) {
            const int lanes = width - g < 16 ? width - g : 16, l0 = q * width + g;
            const int valid = lines - l0 < 0 ? 0 : lines - l0 < lanes ? lines - l0 : lanes; /* the rest are zero lines */
            const __mmask16 keep = (__mmask16)((1u << lanes) - 1u);
            for (int p0 = 0; p0 < kp2; p0 += 16) {
                __m512i r[16];
                for (int l = 0; l < 16; l++) r[l] = l < valid ? line_pairs16(x + (long)(l0 + l) * si, kc, 2 * p0) : _mm512_setzero_si512();
                transpose16(r);
                const int np = kp2 - p0 < 16 ? kp2 - p0 : 16;
                for (int p = 0; p < np; p++) _mm512_mask_storeu_epi32(panel + (size_t)(p0 + p) * width + g, keep, r[p]);
            }
        }
    }
}
#endif

static inline void pair_rows(uint32_t *dst, const float *r0, const float *r1, int n, int insn) {
#ifdef HAVE_X86
    if (insn) {
        pair_rows_insn(dst, r0, r1, n);
        return;
    }
#endif
    for (int l = 0; l < n; l++) dst[l] = round_bf16(r0[l]) | round_bf16(r1[l]) << 16;
}

/* Packing when a line of op(X) is contiguous in k (a row of X): the W x kc block at
 * x (line i at x + i * si) into panels of `width` lines (MR for A, NR for B): panel q
 * holds lines q*width .. q*width + width - 1 at out + q * width * kp2 (kp2 = pairs, kc
 * rounded up / 2). Lines past `lines` and the odd k are zeros. Each line is rounded into
 * tmp (kc + 1 uint16), whose uint16 pairs are the uint32 pairs the kernel wants, then
 * placed width apart. */
static inline void pack_panels(uint32_t *out, const float *x, long si, int lines, int kc, int width, uint16_t *tmp,
                               int insn) {
#ifdef HAVE_X86
    if (insn) {
        pack_panels_insn(out, x, si, lines, kc, width);
        return;
    }
#endif
    const int kp2 = (kc + 1) / 2;
    const int panels = (lines + width - 1) / width;
    for (int q = 0; q < panels; q++) {
        uint32_t *panel = out + (size_t)q * width * kp2;
        for (int l = 0; l < width; l++) {
            const int i = q * width + l;
            if (i >= lines) {
                for (int p = 0; p < kp2; p++) panel[(size_t)p * width + l] = 0;
                continue;
            }
            for (int k = 0; k < kc; k++) tmp[k] = (uint16_t)round_bf16(x[i * si + k]);
            tmp[kc] = 0;
            uint32_t pair;
            for (int p = 0; p < kp2; p++) {
                memcpy(&pair, tmp + 2 * p, sizeof pair);
                panel[(size_t)p * width + l] = pair;
            }
        }
    }
}

/* Packing when consecutive lines are contiguous (op(X)'s k runs across rows of X): rows
 * k, k + 1 are interleaved over all the block's lines at once (long vector runs; a
 * panel's 12 lines alone are shorter than one vector), into pairs (scratch of `lines`
 * uint32), then each panel's share is copied to its place. Pairs p0 .. p1 - 1 only (the
 * block is kc deep). */
static inline void pack_panels_rows(uint32_t *out, const float *x, long sk, int lines, int kc, int width,
                                    uint32_t *pairs, int insn, int p0, int p1) {
    const int kp2 = (kc + 1) / 2;
    const int panels = (lines + width - 1) / width;
    for (int p = p0; p < p1; p++) {
        const float *r0 = x + (long)(2 * p) * sk;
        if (p + PREFETCH_PAIRS < kp2 && 2 * (p + PREFETCH_PAIRS) + 1 < kc)
            for (int l = 0; l < lines; l += 16) { /* short runs a row apart: the hardware prefetcher does not follow */
                __builtin_prefetch(r0 + PREFETCH_PAIRS * 2 * sk + l);
                __builtin_prefetch(r0 + (PREFETCH_PAIRS * 2 + 1) * sk + l);
            }
        if (2 * p + 1 < kc) pair_rows(pairs, r0, r0 + sk, lines, insn);
        else
            for (int l = 0; l < lines; l++) pairs[l] = round_bf16(r0[l]);
        for (int q = 0; q < panels; q++) {
            uint32_t *dst = out + (size_t)q * width * kp2 + (size_t)p * width;
            const int l0 = q * width, n = lines - l0 < width ? lines - l0 : width;
            memcpy(dst, pairs + l0, sizeof(uint32_t) * (size_t)n);
            for (int l = n; l < width; l++) dst[l] = 0;
        }
    }
}

/* Packs op(X)'s block (lines i0.., k0..) where op(X)[i][k] = trans ? X[k][i] : X[i][k].
 * Scratch: tmp, kc + 1 uint16 (!trans); pairs, `lines` uint32 (trans). insn: round with
 * the conversion instruction (the avx512bf16 family). */
static inline void pack_block(uint32_t *out, const float *X, int ld, int trans, int i0, int k0, int lines, int kc,
                              int width, uint16_t *tmp, uint32_t *pairs, int insn) {
    if (!trans) pack_panels(out, X + (long)i0 * ld + k0, ld, lines, kc, width, tmp, insn);
    else pack_panels_rows(out, X + (long)k0 * ld + i0, ld, lines, kc, width, pairs, insn, 0, (kc + 1) / 2);
}

/* Writes a tile: c[r][j] = beta * c[r][j] + acc[r][j] for r < mr, j < nr. beta == 0 does
 * not read C (it may hold garbage). */
static inline void store_tile(float *c, int ldc, float beta, const float *acc, int mr, int nr) {
    for (int r = 0; r < mr; r++) {
        float *cr = c + (long)r * ldc;
        const float *ar = acc + r * NR;
        if (beta == 0.0f)
            for (int j = 0; j < nr; j++) cr[j] = ar[j];
        else if (beta == 1.0f)
            for (int j = 0; j < nr; j++) cr[j] += ar[j];
        else
            for (int j = 0; j < nr; j++) cr[j] = beta * cr[j] + ar[j];
    }
}

typedef void (*kernel_fn)(int kp2, const uint32_t *a, const uint32_t *b, float *c, int ldc, float beta, int mr, int nr);

/* Portable kernel: each bf16 widened exactly, products exact in fp32 (8 + 8 significant
 * bits), summed in fp32. */
static void kernel_c(int kp2, const uint32_t *a, const uint32_t *b, float *c, int ldc, float beta, int mr, int nr) {
    float acc[MR * NR];
    memset(acc, 0, sizeof acc);
    for (int p = 0; p < kp2; p++) {
        float b_lo[NR], b_hi[NR];
        for (int j = 0; j < NR; j++) {
            const uint32_t v = b[(size_t)p * NR + j];
            const uint32_t lo = v << 16, hi = v & 0xffff0000u;
            memcpy(&b_lo[j], &lo, 4);
            memcpy(&b_hi[j], &hi, 4);
        }
        for (int r = 0; r < MR; r++) {
            const uint32_t v = a[(size_t)p * MR + r];
            const uint32_t lo = v << 16, hi = v & 0xffff0000u;
            float a_lo, a_hi;
            memcpy(&a_lo, &lo, 4);
            memcpy(&a_hi, &hi, 4);
            float *ar = acc + r * NR;
            for (int j = 0; j < NR; j++) ar[j] += a_lo * b_lo[j] + a_hi * b_hi[j];
        }
    }
    store_tile(c, ldc, beta, acc, mr, nr);
}

#ifdef HAVE_X86
#define AVX512_T __attribute__((target("avx512f,avx512bw,avx512vl")))

/* c tile = beta c + acc (12 x 32), whole tiles straight, edge tiles through a buffer */
AVX512_T __attribute__((always_inline)) static inline void store_acc(__m512 acc[MR][2], float *c, int ldc, float beta,
                                                                     int mr, int nr) {
    if (mr == MR && nr == NR) {
        const __m512 vb = _mm512_set1_ps(beta);
#pragma GCC unroll 12
        for (int r = 0; r < MR; r++) {
            float *cr = c + (long)r * ldc;
            __m512 v0 = acc[r][0], v1 = acc[r][1];
            if (beta != 0.0f) {
                v0 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(cr), v0);
                v1 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(cr + 16), v1);
            }
            _mm512_storeu_ps(cr, v0);
            _mm512_storeu_ps(cr + 16, v1);
        }
        return;
    }
    float tile[MR * NR];
    for (int r = 0; r < MR; r++) {
        _mm512_storeu_ps(tile + r * NR, acc[r][0]);
        _mm512_storeu_ps(tile + r * NR + 16, acc[r][1]);
    }
    store_tile(c, ldc, beta, tile, mr, nr);
}

/* 12 x 32 tile: per pair of k, two B vectors and twelve broadcast A pairs feed 24
 * vdpbf16ps into 24 accumulators. */
AVX512BF16_T static void kernel_avx512bf16(int kp2, const uint32_t *a, const uint32_t *b, float *c, int ldc, float beta,
                                           int mr, int nr) {
    __m512 acc[MR][2];
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int p = 0; p < kp2; p++) {
        const __m512bh b0 = (__m512bh)_mm512_loadu_si512(b + (size_t)p * NR);
        const __m512bh b1 = (__m512bh)_mm512_loadu_si512(b + (size_t)p * NR + 16);
        const uint32_t *ap = a + (size_t)p * MR;
#pragma GCC unroll 12
        for (int r = 0; r < MR; r++) {
            const __m512bh av = (__m512bh)_mm512_set1_epi32((int)ap[r]);
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], av, b0);
            acc[r][1] = _mm512_dpbf16_ps(acc[r][1], av, b1);
        }
    }
    store_acc(acc, c, ldc, beta, mr, nr);
}

/* The same tile without bf16 instructions (AVX-512 CPUs before AVX512-BF16): each bf16
 * widened exactly to fp32 (a shift for the low half of a pair, a mask for the high),
 * two fmas per pair: the products are exact as with vdpbf16ps, the fp32 peak is half. */
AVX512_T static void kernel_avx512(int kp2, const uint32_t *a, const uint32_t *b, float *c, int ldc, float beta, int mr,
                                   int nr) {
    __m512 acc[MR][2];
    const __m512i high = _mm512_set1_epi32((int)0xffff0000u);
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int p = 0; p < kp2; p++) {
        const __m512i v0 = _mm512_loadu_si512(b + (size_t)p * NR), v1 = _mm512_loadu_si512(b + (size_t)p * NR + 16);
        const __m512 b0l = _mm512_castsi512_ps(_mm512_slli_epi32(v0, 16)), b0h = _mm512_castsi512_ps(_mm512_and_si512(v0, high));
        const __m512 b1l = _mm512_castsi512_ps(_mm512_slli_epi32(v1, 16)), b1h = _mm512_castsi512_ps(_mm512_and_si512(v1, high));
        const uint32_t *ap = a + (size_t)p * MR;
#pragma GCC unroll 12
        for (int r = 0; r < MR; r++) {
            const __m512i av = _mm512_set1_epi32((int)ap[r]);
            const __m512 al = _mm512_castsi512_ps(_mm512_slli_epi32(av, 16)), ah = _mm512_castsi512_ps(_mm512_and_si512(av, high));
            acc[r][0] = _mm512_fmadd_ps(ah, b0h, _mm512_fmadd_ps(al, b0l, acc[r][0]));
            acc[r][1] = _mm512_fmadd_ps(ah, b1h, _mm512_fmadd_ps(al, b1l, acc[r][1]));
        }
    }
    store_acc(acc, c, ldc, beta, mr, nr);
}
#endif

static kernel_fn family_kernel(cada_cpu_kernels k) {
#ifdef HAVE_X86
    if (k == CADA_CPU_AVX512BF16) return kernel_avx512bf16;
    if (k == CADA_CPU_AVX512) return kernel_avx512;
#endif
    (void)k;
    return kernel_c;
}

/* Scratch kept between calls: the calling thread's B block (shared with its team
 * through a local pointer), and each thread's A block and row buffers. */
static _Thread_local uint32_t *b_buf;
static _Thread_local uint32_t *a_buf;
static _Thread_local uint16_t *tmp_buf;
static _Thread_local uint32_t *pairs_buf; /* a row pair of a block: max(MC + MR, NC) uint32 */

static int ensure_scratch_b(void) {
    if (!b_buf) b_buf = aligned_alloc(64, (size_t)(KC / 2) * NC * sizeof(uint32_t));
    return b_buf ? 0 : -1;
}
static int ensure_scratch_a(void) {
    if (!a_buf) a_buf = aligned_alloc(64, (size_t)(KC / 2) * (MC + MR) * sizeof(uint32_t));
    if (!tmp_buf) tmp_buf = malloc((KC + 2) * sizeof(uint16_t));
    if (!pairs_buf) pairs_buf = malloc((MC + MR > NC ? MC + MR : NC) * sizeof(uint32_t));
    return a_buf && tmp_buf && pairs_buf ? 0 : -1;
}

int bgemm_with(cada_cpu_kernels k, int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
               float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return 0;
    if (K <= 0) {
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[(long)i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[(long)i * ldc + j];
        return 0;
    }
    if (ensure_scratch_b() || ensure_scratch_a()) return -1;
    uint32_t *const bpack = b_buf; /* this thread's; the team reads it through this pointer */
    const kernel_fn kern = family_kernel(k);
    const int insn = k == CADA_CPU_AVX512BF16;
    const int threads = omp_get_max_threads();
    /* Row blocks: at most MC rows, and a multiple of the thread count of them so every
     * thread gets the same work (M = 576 in 3 blocks of 192 would idle one of 2 threads
     * a third of the time). */
    int blocks = (M + MC - 1) / MC;
    if (blocks < threads) blocks = threads;
    blocks = (blocks + threads - 1) / threads * threads;
    int mc = (M + blocks - 1) / blocks;
    mc = (mc + MR - 1) / MR * MR;
    blocks = (M + mc - 1) / mc;
    /* K in equal slices (even depths, so only the last slice can have an odd k) */
    const int kslices = (K + KC - 1) / KC;
    int slice_kc = (K + kslices - 1) / kslices;
    slice_kc += slice_kc & 1;
    int failed = 0;
#pragma omp parallel reduction(| : failed)
    failed |= ensure_scratch_a() != 0;
    if (failed) return -1;
    for (int jc = 0; jc < N; jc += NC) {
        const int nc = N - jc < NC ? N - jc : NC;
        const int npanels = (nc + NR - 1) / NR;
        for (int pc = 0; pc < K; pc += slice_kc) {
            const int kc = K - pc < slice_kc ? K - pc : slice_kc;
            const int kp2 = (kc + 1) / 2;
            const float bet = pc == 0 ? beta : 1.0f;
#pragma omp parallel
            {
                /* every thread has its scratch (allocated above, same team) */
                {
                    if (tb) {
#pragma omp for schedule(static)
                        for (int q = 0; q < npanels; q++) {
                            const int l0 = q * NR, n = nc - l0 < NR ? nc - l0 : NR;
                            pack_block(bpack + (size_t)q * NR * kp2, B, ldb, 0, jc + l0, pc, n, kc, NR, tmp_buf, pairs_buf, insn);
                        }
                    } else {
                        /* op(B)'s k runs down B's rows: each pair of rows is rounded across
                         * the whole block at once and then dealt to the panels (a panel's
                         * 32 columns alone are two cache lines a row, a stream the
                         * prefetcher does not follow; measured, perf, bf16 train step:
                         * packing down rows 6.0% of it panel by panel, 4.1% this way,
                         * 2.5% with pack_panels_rows' prefetch) */
#pragma omp for schedule(static)
                        for (int p = 0; p < kp2; p++)
                            pack_panels_rows(bpack, B + (long)pc * ldb + jc, ldb, nc, kc, NR, pairs_buf, insn, p, p + 1);
                    }
#pragma omp for schedule(static)
                    for (int ib = 0; ib < blocks; ib++) {
                        const int i0 = ib * mc, m = M - i0 < mc ? M - i0 : mc;
                        pack_block(a_buf, A, lda, ta, i0, pc, m, kc, MR, tmp_buf, pairs_buf, insn);
                        for (int q = 0; q < npanels; q++) {
                            const int j0 = q * NR, nr = nc - j0 < NR ? nc - j0 : NR;
                            const uint32_t *bp = bpack + (size_t)q * NR * kp2;
                            for (int r0 = 0; r0 < m; r0 += MR) {
                                const int mr = m - r0 < MR ? m - r0 : MR;
                                kern(kp2, a_buf + (size_t)r0 * kp2, bp, C + (long)(i0 + r0) * ldc + jc + j0, ldc, bet, mr,
                                     nr);
                            }
                        }
                    }
                }
            }
        }
    }
    return 0;
}

int bgemm(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb, float beta, float *C,
          int ldc) {
    return bgemm_with(cada_cpu_kernels_current(), ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
}
