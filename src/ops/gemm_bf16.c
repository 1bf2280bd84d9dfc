/* ops/gemm_bf16.c: see gemm_bf16.h. Shapes: N x rows, C inputs, OC outputs; K2 = ceil(C / 2)
 * input pairs; a panel is 16 outputs, a tile up to TP panels by TR rows. */
#include "ops/gemm_bf16.h"

#include "ops/ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_X86 1
#endif

#define TP 4           /* panels per tile: 64 outputs */
#define TR 4           /* x rows per tile: each loaded weight vector feeds TR multiply-adds */
#define ROW_CHUNK 64   /* rows a thread's unit covers for large N (its panels stay in L2 meanwhile) */
#define PANEL_ELEMS 32 /* bf16 values per input pair of a panel: 16 outputs x 2 inputs */

static inline uint16_t bf16_round(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u); /* NaN: keep it quiet */
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);                   /* round to nearest even */
}

void bf16_pack(uint16_t *dst, const float *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = bf16_round(src[i]);
}

size_t bf16_panels_elems(int OC, int C) { return (size_t)((OC + 15) / 16) * 16 * (size_t)((C + 1) / 2) * 2; }

void bf16_pack_panels(uint16_t *dst, const float *src, int OC, int C, size_t lo, size_t hi) {
    const size_t total = (size_t)OC * C;
    if (hi > total) hi = total;
    if (lo >= hi) return;
    const int K2 = (C + 1) / 2;
    const int o_lo = (int)(lo / (size_t)C), o_hi = (int)((hi - 1) / (size_t)C); /* rows touched, inclusive */
#pragma omp parallel for schedule(static) if (CADA_PAR((int64_t)(hi - lo)))
    for (int p = o_lo / 16; p <= o_hi / 16; p++) {
        uint16_t *panel = dst + (size_t)p * K2 * PANEL_ELEMS;
        for (int i = 0; i < 16; i++) {
            const int o = p * 16 + i;
            if (o < o_lo || o > o_hi) continue;
            const size_t row = (size_t)o * C;
            const int c0 = row < lo ? (int)(lo - row) : 0, c1 = row + C > hi ? (int)(hi - row) : C;
            for (int c = c0; c < c1; c++) panel[(size_t)(c >> 1) * PANEL_ELEMS + 2 * i + (c & 1)] = bf16_round(src[row + c]);
            if ((C & 1) && c1 == C) panel[(size_t)(K2 - 1) * PANEL_ELEMS + 2 * i + 1] = 0;
        }
        if (hi == total && p == o_hi / 16) /* the last panel's rows past OC */
            for (int i = OC - p * 16; i < 16; i++)
                for (int j = 0; j < K2; j++) panel[(size_t)j * PANEL_ELEMS + 2 * i] = panel[(size_t)j * PANEL_ELEMS + 2 * i + 1] = 0;
    }
}

/* One tile: out rows r < nr (ldo apart), outputs o0 .. o0 + 16 np (fewer where OC ends),
 * from panels w (K2 pairs each, pstride elements apart) and x rows (xs elements apart:
 * fp32 for every family but avx512bf16, whose x rows are bf16 pairs). */
typedef void (*tile_fn)(float *out, size_t ldo, const void *x, size_t xs, int K2, const uint16_t *w, size_t pstride,
                        const float *bias, int o0, int OC, int np, int nr);

/* Writes 16 lane sums plus bias to out[o0 .. o0 + 16), fewer where OC ends. */
static inline void store_lanes(float *out, const float *sums, const float *bias, int o0, int OC) {
    const int n = OC - o0 < 16 ? OC - o0 : 16;
    for (int i = 0; i < n; i++) out[o0 + i] = sums[i] + (bias ? bias[o0 + i] : 0.0f);
}

static void tile_scalar(float *out, size_t ldo, const void *xv, size_t xs, int K2, const uint16_t *w, size_t pstride,
                        const float *bias, int o0, int OC, int np, int nr) {
    const float *x = xv;
    for (int q = 0; q < np; q++)
        for (int r = 0; r < nr; r++) {
            const float *xr = x + (size_t)r * xs;
            const uint16_t *wp = w + (size_t)q * pstride;
            /* a multiply and an add, not fmaf: without FMA in the baseline ISA fmaf is a
             * library call per element and the loop does not vectorize */
            float acc[16] = {0};
            for (int j = 0; j < K2; j++, wp += PANEL_ELEMS)
                for (int i = 0; i < 16; i++) acc[i] += xr[2 * j] * bf16_to_f32(wp[2 * i]) + xr[2 * j + 1] * bf16_to_f32(wp[2 * i + 1]);
            store_lanes(out + (size_t)r * ldo, acc, bias, o0 + 16 * q, OC);
        }
}

#ifdef HAVE_X86
/* Each family's tile is one always-inline function of constant panel and row counts, so
 * its loops unroll and the accumulators stay in registers; a switch picks the instance. */
#define AVX2_T __attribute__((target("avx2,fma")))
#define AVX512_T __attribute__((target("avx512f,avx512bw,avx512vl")))
#define AVX512BF16_T __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

/* The instance for (np, nr), both 1..4, of a family's body F(..., np, nr). */
#define TILE_SWITCH(F, np, nr, ...)                                                                                          \
    switch ((np) * 8 + (nr)) {                                                                                               \
    case 9: F(__VA_ARGS__, 1, 1); break;                                                                                     \
    case 10: F(__VA_ARGS__, 1, 2); break;                                                                                    \
    case 11: F(__VA_ARGS__, 1, 3); break;                                                                                    \
    case 12: F(__VA_ARGS__, 1, 4); break;                                                                                    \
    case 17: F(__VA_ARGS__, 2, 1); break;                                                                                    \
    case 18: F(__VA_ARGS__, 2, 2); break;                                                                                    \
    case 19: F(__VA_ARGS__, 2, 3); break;                                                                                    \
    case 20: F(__VA_ARGS__, 2, 4); break;                                                                                    \
    case 25: F(__VA_ARGS__, 3, 1); break;                                                                                    \
    case 26: F(__VA_ARGS__, 3, 2); break;                                                                                    \
    case 27: F(__VA_ARGS__, 3, 3); break;                                                                                    \
    case 28: F(__VA_ARGS__, 3, 4); break;                                                                                    \
    case 33: F(__VA_ARGS__, 4, 1); break;                                                                                    \
    case 34: F(__VA_ARGS__, 4, 2); break;                                                                                    \
    case 35: F(__VA_ARGS__, 4, 3); break;                                                                                    \
    default: F(__VA_ARGS__, 4, 4); break;                                                                                    \
    }

/* How far ahead of the pair being read each panel stream is prefetched, in bytes: the
 * weights come from memory once per call, and four streams per thread outrun the
 * hardware prefetcher when every load feeds several rows. */
#define PREFETCH_AHEAD 1024

AVX512_T static inline void store16(float *out, __m512 v, const float *bias, int o0, int OC) {
    const int n = OC - o0 < 16 ? OC - o0 : 16;
    const __mmask16 m = (__mmask16)((1u << n) - 1u);
    if (bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, bias + o0));
    _mm512_mask_storeu_ps(out + o0, m, v);
}

/* vdpbf16ps: acc lane i += x[2j] w[o_i][2j] + x[2j+1] w[o_i][2j+1], x a bf16 pair broadcast. */
AVX512BF16_T __attribute__((always_inline)) static inline void tile_bf16_k(float *out, size_t ldo, const uint32_t *x, size_t xs,
                                                                          int K2, const uint16_t *w, size_t pstride,
                                                                          const float *bias, int o0, int OC, const int np,
                                                                          const int nr) {
    __m512 acc[TR][TP];
    for (int r = 0; r < nr; r++)
        for (int q = 0; q < np; q++) acc[r][q] = _mm512_setzero_ps();
    for (int j = 0; j < K2; j++) {
        __m512bh wv[TP];
        for (int q = 0; q < np; q++) {
            const uint16_t *p = w + q * pstride + (size_t)j * PANEL_ELEMS;
            wv[q] = (__m512bh)_mm512_loadu_si512(p);
            _mm_prefetch((const char *)p + PREFETCH_AHEAD, _MM_HINT_T0);
        }
        for (int r = 0; r < nr; r++) {
            const __m512bh xv = (__m512bh)_mm512_set1_epi32((int)x[(size_t)r * xs + j]);
            for (int q = 0; q < np; q++) acc[r][q] = _mm512_dpbf16_ps(acc[r][q], xv, wv[q]);
        }
    }
    for (int r = 0; r < nr; r++)
        for (int q = 0; q < np; q++) store16(out + (size_t)r * ldo, acc[r][q], bias, o0 + 16 * q, OC);
}

AVX512BF16_T static void tile_avx512bf16(float *out, size_t ldo, const void *x, size_t xs, int K2, const uint16_t *w,
                                         size_t pstride, const float *bias, int o0, int OC, int np, int nr) {
    TILE_SWITCH(tile_bf16_k, np, nr, out, ldo, (const uint32_t *)x, xs, K2, w, pstride, bias, o0, OC)
}

/* 32 bf16 of a panel pair -> the 16 lanes' weights for input 2j (low halves) and 2j+1. */
AVX512_T __attribute__((always_inline)) static inline void widen_pair16(const uint16_t *p, __m512 *even, __m512 *odd) {
    const __m512i v = _mm512_loadu_si512(p);
    *even = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
    *odd = _mm512_castsi512_ps(_mm512_and_si512(v, _mm512_set1_epi32((int)0xffff0000u)));
}

AVX512_T __attribute__((always_inline)) static inline void tile_512_k(float *out, size_t ldo, const float *x, size_t xs, int K2,
                                                                     const uint16_t *w, size_t pstride, const float *bias,
                                                                     int o0, int OC, const int np, const int nr) {
    __m512 acc[TR][TP];
    for (int r = 0; r < nr; r++)
        for (int q = 0; q < np; q++) acc[r][q] = _mm512_setzero_ps();
    for (int j = 0; j < K2; j++) {
        __m512 we[TP], wo[TP];
        for (int q = 0; q < np; q++) {
            const uint16_t *p = w + q * pstride + (size_t)j * PANEL_ELEMS;
            widen_pair16(p, &we[q], &wo[q]);
            _mm_prefetch((const char *)p + PREFETCH_AHEAD, _MM_HINT_T0);
        }
        for (int r = 0; r < nr; r++) {
            const __m512 x0 = _mm512_set1_ps(x[(size_t)r * xs + 2 * j]), x1 = _mm512_set1_ps(x[(size_t)r * xs + 2 * j + 1]);
            for (int q = 0; q < np; q++) acc[r][q] = _mm512_fmadd_ps(x1, wo[q], _mm512_fmadd_ps(x0, we[q], acc[r][q]));
        }
    }
    for (int r = 0; r < nr; r++)
        for (int q = 0; q < np; q++) store16(out + (size_t)r * ldo, acc[r][q], bias, o0 + 16 * q, OC);
}

AVX512_T static void tile_avx512(float *out, size_t ldo, const void *x, size_t xs, int K2, const uint16_t *w, size_t pstride,
                                 const float *bias, int o0, int OC, int np, int nr) {
    TILE_SWITCH(tile_512_k, np, nr, out, ldo, (const float *)x, xs, K2, w, pstride, bias, o0, OC)
}

/* AVX2: a panel pair is two 256-bit halves (lanes 0-7, 8-15); one panel at a time. */
AVX2_T __attribute__((always_inline)) static inline void widen_pair8(const uint16_t *p, __m256 *even, __m256 *odd) {
    const __m256i v = _mm256_loadu_si256((const __m256i *)p);
    *even = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
    *odd = _mm256_castsi256_ps(_mm256_and_si256(v, _mm256_set1_epi32((int)0xffff0000u)));
}

AVX2_T __attribute__((always_inline)) static inline void tile_avx2_k(float *out, size_t ldo, const float *x, size_t xs, int K2,
                                                                    const uint16_t *w, const float *bias, int o0, int OC,
                                                                    const int nr) {
    __m256 acc[TR][2];
    for (int r = 0; r < nr; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (int j = 0; j < K2; j++) {
        const uint16_t *p = w + (size_t)j * PANEL_ELEMS;
        __m256 e0, d0, e1, d1;
        widen_pair8(p, &e0, &d0);
        widen_pair8(p + 16, &e1, &d1);
        _mm_prefetch((const char *)p + PREFETCH_AHEAD, _MM_HINT_T0);
        for (int r = 0; r < nr; r++) {
            const __m256 x0 = _mm256_broadcast_ss(x + (size_t)r * xs + 2 * j), x1 = _mm256_broadcast_ss(x + (size_t)r * xs + 2 * j + 1);
            acc[r][0] = _mm256_fmadd_ps(x1, d0, _mm256_fmadd_ps(x0, e0, acc[r][0]));
            acc[r][1] = _mm256_fmadd_ps(x1, d1, _mm256_fmadd_ps(x0, e1, acc[r][1]));
        }
    }
    for (int r = 0; r < nr; r++) {
        float s[16];
        _mm256_storeu_ps(s, acc[r][0]);
        _mm256_storeu_ps(s + 8, acc[r][1]);
        store_lanes(out + (size_t)r * ldo, s, bias, o0, OC);
    }
}

AVX2_T static void tile_avx2(float *out, size_t ldo, const void *xv, size_t xs, int K2, const uint16_t *w, size_t pstride,
                             const float *bias, int o0, int OC, int np, int nr) {
    const float *x = xv;
    for (int q = 0; q < np; q++) {
        const uint16_t *wq = w + (size_t)q * pstride;
        const int oq = o0 + 16 * q;
        switch (nr) {
        case 1: tile_avx2_k(out, ldo, x, xs, K2, wq, bias, oq, OC, 1); break;
        case 2: tile_avx2_k(out, ldo, x, xs, K2, wq, bias, oq, OC, 2); break;
        case 3: tile_avx2_k(out, ldo, x, xs, K2, wq, bias, oq, OC, 3); break;
        default: tile_avx2_k(out, ldo, x, xs, K2, wq, bias, oq, OC, 4); break;
        }
    }
}
#endif

static tile_fn family_fn(cada_cpu_kernels k) {
#ifdef HAVE_X86
    switch (k) {
    case CADA_CPU_AVX2: return tile_avx2;
    case CADA_CPU_AVX512: return tile_avx512;
    case CADA_CPU_AVX512BF16: return tile_avx512bf16;
    default: break;
    }
#endif
    (void)k;
    return tile_scalar;
}

/* x as the kernels read it, (N, 2 K2), the column past an odd C zero: bf16 for the
 * avx512bf16 family, fp32 for the others. One per calling thread, grown as needed and
 * kept for the thread's life (decode calls come every few milliseconds). */
static _Thread_local void *x_buf;
static _Thread_local size_t x_cap;

/* The product without kernels, for when x's copy cannot be allocated (slow, correct). */
static void forward_plain(float *out, const float *inp, const uint16_t *w, const float *bias, int N, int C, int OC) {
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            float s = bias ? bias[o] : 0.0f;
            for (int c = 0; c < C; c++) s += inp[(size_t)n * C + c] * bf16_to_f32(w[bf16_panel_index(C, o, c)]);
            out[(size_t)n * OC + o] = s;
        }
}

void gemm_bf16_forward_with(cada_cpu_kernels k, float *out, const float *inp, const uint16_t *w, const float *bias, int N,
                            int C, int OC) {
    if (N <= 0 || OC <= 0) return;
    const int K2 = (C + 1) / 2, xs = 2 * K2, bf = k == CADA_CPU_AVX512BF16;
    const void *x = inp;
    if (bf || (C & 1)) { /* a copy: rounded to bf16, or padded to whole pairs */
        const size_t bytes = (size_t)N * xs * (bf ? sizeof(uint16_t) : sizeof(float));
        if (bytes > x_cap) {
            void *nb = realloc(x_buf, bytes);
            if (!nb) {
                forward_plain(out, inp, w, bias, N, C, OC);
                return;
            }
            x_buf = nb, x_cap = bytes;
        }
        for (int n = 0; n < N; n++) {
            if (bf) {
                uint16_t *row = (uint16_t *)x_buf + (size_t)n * xs;
                bf16_pack(row, inp + (size_t)n * C, (size_t)C);
                if (C & 1) row[C] = 0;
            } else {
                float *row = (float *)x_buf + (size_t)n * xs;
                memcpy(row, inp + (size_t)n * C, sizeof(float) * (size_t)C);
                row[C] = 0.0f;
            }
        }
        x = x_buf;
    }
    const tile_fn tile = family_fn(k);
    /* x row stride in the kernel's unit: pairs (uint32) for bf16 x, floats otherwise */
    const size_t xstride = bf ? (size_t)K2 : (size_t)xs, xbytes = bf ? sizeof(uint32_t) : sizeof(float);
    const size_t pstride = (size_t)K2 * PANEL_ELEMS;
    const int panels = (OC + 15) / 16, groups = (panels + TP - 1) / TP, chunks = (N + ROW_CHUNK - 1) / ROW_CHUNK;
#pragma omp parallel for schedule(static) if (CADA_PAR((int64_t)OC * C * (N < 8 ? 1 : N / 8)))
    for (int u = 0; u < groups * chunks; u++) {
        const int g = u % groups, chunk = u / groups, p0 = g * TP, np = panels - p0 < TP ? panels - p0 : TP;
        const int n1 = (chunk + 1) * ROW_CHUNK < N ? (chunk + 1) * ROW_CHUNK : N;
        for (int n = chunk * ROW_CHUNK; n < n1; n += TR) {
            const int nr = n1 - n < TR ? n1 - n : TR;
            tile(out + (size_t)n * OC, (size_t)OC, (const char *)x + (size_t)n * xstride * xbytes, xstride, K2,
                 w + (size_t)p0 * pstride, pstride, bias, 16 * p0, OC, np, nr);
        }
    }
}

void gemm_bf16_forward(float *out, const float *inp, const uint16_t *w, const float *bias, int N, int C, int OC) {
    gemm_bf16_forward_with(cada_cpu_kernels_current(), out, inp, w, bias, N, C, OC);
}
