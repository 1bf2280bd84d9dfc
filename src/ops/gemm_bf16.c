/* ops/gemm_bf16.c: see gemm_bf16.h. Shapes: N x rows, C inputs, OC outputs. */
#include "ops/gemm_bf16.h"

#include "ops/ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_X86 1
#endif

#define ROWS 4 /* x rows per pass over a W row: each loaded weight vector feeds ROWS products */
#define TILE 8 /* W rows per tile: a tile (8 x C bf16, <= 32 KiB for C <= 2048) stays in cache while every x row meets it */

void bf16_pack(uint16_t *dst, const float *src, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &src[i], sizeof u);
        if ((u & 0x7fffffffu) > 0x7f800000u) dst[i] = (uint16_t)((u >> 16) | 0x0040u); /* NaN: keep it quiet */
        else dst[i] = (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);           /* round to nearest even */
    }
}

/* s[r] = dot(x row r, w) for r < nr (nr <= ROWS); x rows are C apart. x is fp32 for
 * every family but avx512bf16, whose x is bf16. */
typedef void (*dots_fn)(const void *x, int C, const uint16_t *w, int nr, float *s);

static void dots_scalar(const void *xv, int C, const uint16_t *w, int nr, float *s) {
    const float *x = xv;
    /* LANES partial sums the compiler keeps in vector registers. A multiply and an add,
     * not fmaf: without FMA in the baseline ISA (x86-64) fmaf is a library call per
     * element and the loop does not vectorize (measured 6x slower); the extra rounding
     * of each product stays within the bound test_gemm_bf16.c checks. */
    enum { LANES = 16 };
    for (int r = 0; r < nr; r++) {
        const float *xr = x + (size_t)r * C;
        float acc[LANES] = {0};
        int c = 0;
        for (; c + LANES <= C; c += LANES)
            for (int l = 0; l < LANES; l++) acc[l] += xr[c + l] * bf16_to_f32(w[c + l]);
        float sum = 0.0f;
        for (int l = 0; l < LANES; l++) sum += acc[l];
        for (; c < C; c++) sum += xr[c] * bf16_to_f32(w[c]);
        s[r] = sum;
    }
}

#ifdef HAVE_X86
/* Each family's body is one always-inline function of a constant row count, so the row
 * loops unroll and the accumulators stay in registers; two accumulators per row hide
 * the fma latency when few rows run. */
#define AVX2_T __attribute__((target("avx2,fma")))
#define AVX512_T __attribute__((target("avx512f,avx512bw,avx512vl")))
#define AVX512BF16_T __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

AVX2_T static inline __m256 widen8(const uint16_t *w) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)w)), 16));
}

AVX2_T static inline float hsum8(__m256 v) {
    __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_add_ps(a, _mm_movehl_ps(a, a));
    a = _mm_add_ss(a, _mm_movehdup_ps(a));
    return _mm_cvtss_f32(a);
}

AVX2_T __attribute__((always_inline)) static inline void dots_avx2_k(const float *x, int C, const uint16_t *w, float *s,
                                                                    const int nr) {
    __m256 a0[ROWS], a1[ROWS];
    for (int r = 0; r < nr; r++) a0[r] = a1[r] = _mm256_setzero_ps();
    int c = 0;
    for (; c + 16 <= C; c += 16) {
        const __m256 w0 = widen8(w + c), w1 = widen8(w + c + 8);
        for (int r = 0; r < nr; r++) {
            a0[r] = _mm256_fmadd_ps(_mm256_loadu_ps(x + (size_t)r * C + c), w0, a0[r]);
            a1[r] = _mm256_fmadd_ps(_mm256_loadu_ps(x + (size_t)r * C + c + 8), w1, a1[r]);
        }
    }
    for (int r = 0; r < nr; r++) {
        float sum = hsum8(_mm256_add_ps(a0[r], a1[r]));
        for (int cc = c; cc < C; cc++) sum += x[(size_t)r * C + cc] * bf16_to_f32(w[cc]);
        s[r] = sum;
    }
}

AVX2_T static void dots_avx2(const void *x, int C, const uint16_t *w, int nr, float *s) {
    switch (nr) {
    case 4: dots_avx2_k(x, C, w, s, 4); break;
    case 3: dots_avx2_k(x, C, w, s, 3); break;
    case 2: dots_avx2_k(x, C, w, s, 2); break;
    default: dots_avx2_k(x, C, w, s, 1); break;
    }
}

AVX512_T static inline __m512 widen16(const uint16_t *w) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)w)), 16));
}

AVX512_T __attribute__((always_inline)) static inline void dots_avx512_k(const float *x, int C, const uint16_t *w, float *s,
                                                                        const int nr) {
    __m512 a0[ROWS], a1[ROWS];
    for (int r = 0; r < nr; r++) a0[r] = a1[r] = _mm512_setzero_ps();
    int c = 0;
    for (; c + 32 <= C; c += 32) {
        const __m512 w0 = widen16(w + c), w1 = widen16(w + c + 16);
        for (int r = 0; r < nr; r++) {
            a0[r] = _mm512_fmadd_ps(_mm512_loadu_ps(x + (size_t)r * C + c), w0, a0[r]);
            a1[r] = _mm512_fmadd_ps(_mm512_loadu_ps(x + (size_t)r * C + c + 16), w1, a1[r]);
        }
    }
    for (int r = 0; r < nr; r++) {
        float sum = _mm512_reduce_add_ps(_mm512_add_ps(a0[r], a1[r]));
        for (int cc = c; cc < C; cc++) sum += x[(size_t)r * C + cc] * bf16_to_f32(w[cc]);
        s[r] = sum;
    }
}

AVX512_T static void dots_avx512(const void *x, int C, const uint16_t *w, int nr, float *s) {
    switch (nr) {
    case 4: dots_avx512_k(x, C, w, s, 4); break;
    case 3: dots_avx512_k(x, C, w, s, 3); break;
    case 2: dots_avx512_k(x, C, w, s, 2); break;
    default: dots_avx512_k(x, C, w, s, 1); break;
    }
}

/* vdpbf16ps: acc[i] += x[2i] w[2i] + x[2i+1] w[2i+1] over 32 bf16 of each. */
AVX512BF16_T __attribute__((always_inline)) static inline void dots_bf16_k(const uint16_t *x, int C, const uint16_t *w,
                                                                          float *s, const int nr) {
    __m512 a0[ROWS], a1[ROWS];
    for (int r = 0; r < nr; r++) a0[r] = a1[r] = _mm512_setzero_ps();
    int c = 0;
    for (; c + 64 <= C; c += 64) {
        const __m512bh w0 = (__m512bh)_mm512_loadu_si512(w + c), w1 = (__m512bh)_mm512_loadu_si512(w + c + 32);
        for (int r = 0; r < nr; r++) {
            a0[r] = _mm512_dpbf16_ps(a0[r], (__m512bh)_mm512_loadu_si512(x + (size_t)r * C + c), w0);
            a1[r] = _mm512_dpbf16_ps(a1[r], (__m512bh)_mm512_loadu_si512(x + (size_t)r * C + c + 32), w1);
        }
    }
    for (; c + 32 <= C; c += 32) {
        const __m512bh w0 = (__m512bh)_mm512_loadu_si512(w + c);
        for (int r = 0; r < nr; r++) a0[r] = _mm512_dpbf16_ps(a0[r], (__m512bh)_mm512_loadu_si512(x + (size_t)r * C + c), w0);
    }
    for (int r = 0; r < nr; r++) {
        float sum = _mm512_reduce_add_ps(_mm512_add_ps(a0[r], a1[r]));
        for (int cc = c; cc < C; cc++) sum += bf16_to_f32(x[(size_t)r * C + cc]) * bf16_to_f32(w[cc]);
        s[r] = sum;
    }
}

AVX512BF16_T static void dots_avx512bf16(const void *x, int C, const uint16_t *w, int nr, float *s) {
    switch (nr) {
    case 4: dots_bf16_k(x, C, w, s, 4); break;
    case 3: dots_bf16_k(x, C, w, s, 3); break;
    case 2: dots_bf16_k(x, C, w, s, 2); break;
    default: dots_bf16_k(x, C, w, s, 1); break;
    }
}
#endif

static dots_fn family_fn(cada_cpu_kernels k) {
#ifdef HAVE_X86
    switch (k) {
    case CADA_CPU_AVX2: return dots_avx2;
    case CADA_CPU_AVX512: return dots_avx512;
    case CADA_CPU_AVX512BF16: return dots_avx512bf16;
    default: break;
    }
#endif
    (void)k;
    return dots_scalar;
}

/* The avx512bf16 family's x in bf16, (N, C): grown as needed, one per calling thread
 * (kept for the thread's life, as decode calls come every few milliseconds). */
static _Thread_local uint16_t *xb_buf;
static _Thread_local size_t xb_cap;

void gemm_bf16_forward_with(cada_cpu_kernels k, float *out, const float *inp, const uint16_t *w, const float *bias, int N,
                            int C, int OC) {
    const void *x = inp;
    size_t xs = sizeof(float); /* bytes per x element */
    if (k == CADA_CPU_AVX512BF16) {
        const size_t n = (size_t)N * C;
        if (n > xb_cap) {
            uint16_t *nb = realloc(xb_buf, n * sizeof *nb);
            if (nb) xb_buf = nb, xb_cap = n;
        }
        if (n <= xb_cap) {
            bf16_pack(xb_buf, inp, n);
            x = xb_buf;
            xs = sizeof(uint16_t);
        } else k = CADA_CPU_AVX512; /* no memory for bf16 x: the same weights with fp32 x (no less accurate) */
    }
    const dots_fn dots = family_fn(k);
    const int tiles = (OC + TILE - 1) / TILE;
#pragma omp parallel for schedule(static) if (CADA_PAR((int64_t)OC * C))
    for (int t = 0; t < tiles; t++) {
        const int o0 = t * TILE, o1 = o0 + TILE < OC ? o0 + TILE : OC;
        for (int n = 0; n < N; n += ROWS) {
            const int nr = N - n < ROWS ? N - n : ROWS;
            const char *xr = (const char *)x + (size_t)n * C * xs;
            for (int o = o0; o < o1; o++) {
                float s[ROWS];
                dots(xr, C, w + (size_t)o * C, nr, s);
                const float b = bias ? bias[o] : 0.0f;
                for (int r = 0; r < nr; r++) out[(size_t)(n + r) * OC + o] = s[r] + b;
            }
        }
    }
}

void gemm_bf16_forward(float *out, const float *inp, const uint16_t *w, const float *bias, int N, int C, int OC) {
    gemm_bf16_forward_with(cada_cpu_kernels_current(), out, inp, w, bias, N, C, OC);
}
