/* tests/unit/test_gemm_bf16.c: the bf16-weight linear layer (ops/gemm_bf16.h), every
 * kernel family this CPU runs, against an fp64 reference of the same bf16 weights.
 *
 * Tolerance, per output y = sum_i x_i w_i (+ b) over C terms: |y - ref| <=
 * (C + 2) 2^-24 S + 1e-30 with S = sum_i |x_i w_i| + |b|. Why that size: each family
 * forms every product exactly or with one rounding (fma) and adds the C terms in some
 * tree of depth <= C + 1, each addition rounding with relative error <= 2^-24, so the
 * classic bound gamma_(C+2) S holds for any summation order (Higham, Accuracy and
 * Stability of Numerical Algorithms, 2nd ed., sec. 3.1). The avx512bf16 family also
 * rounds x to bf16 (relative error <= 2^-8 each), which adds <= 2^-8 S (checked with 1% slack for
 * the sum over the rounded x, whose S is up to (1 + 2^-8) larger): it is checked
 * against that bound with the fp32 x, and against gamma_(C+2) with the bf16-rounded x
 * as reference. A wrong index, a missed tail element or a row mix-up is off by O(S). */
#include "test.h"

#include "base/cpu.h"
#include "base/rng.h"
#include "ops/gemm_bf16.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

static void fill_uniform(float *x, size_t n, uint64_t seed) {
    cada_rng r;
    cada_rng_init(&r, seed, 3, 0, 0);
    for (size_t i = 0; i < n; i++) x[i] = 2.0f * cada_rng_uniform(&r) - 1.0f;
}

/* W (OC, C) in the panel layout the kernels read (and the row-major bf16 values it
 * holds, for the reference); the padding filled with NaN bits first, so a kernel that
 * reads padding the packer did not zero fails. */
static uint16_t *pack_w(const float *wf, int OC, int C, uint16_t *rows) {
    const size_t n = bf16_panels_elems(OC, C);
    uint16_t *w = malloc(sizeof(uint16_t) * n);
    if (!w) return NULL;
    for (size_t i = 0; i < n; i++) w[i] = 0x7fc0;
    bf16_pack_panels(w, wf, OC, C, 0, (size_t)OC * C);
    bf16_pack(rows, wf, (size_t)OC * C);
    return w;
}

/* max over outputs of |y - ref| / bound(C, S, extra) (<= 1 passes); w row-major bf16. */
static double worst_ratio(const float *y, const float *x, const uint16_t *w, const float *b, int N, int C, int OC, double extra) {
    double worst = 0;
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double ref = b ? b[o] : 0, S = b ? fabs(b[o]) : 0;
            for (int i = 0; i < C; i++) {
                double p = (double)x[(size_t)n * C + i] * bf16_to_f32(w[(size_t)o * C + i]);
                ref += p;
                S += fabs(p);
            }
            double bound = ((C + 2) * ldexp(1, -24) + extra) * S + 1e-30;
            double r = fabs(y[(size_t)n * OC + o] - ref) / bound;
            if (r > worst || r != r) worst = r != r ? 1e30 : r;
        }
    return worst;
}

TEST(gemm_bf16_pack_rounds_to_nearest_even) {
    /* 1 + 2^-8 lies halfway between the bf16 values 1 and 1 + 2^-7: ties go to the even
     * mantissa (1); 1 + 3 * 2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6: up to the even */
    float in[7] = {1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, 1.0f + 0x1p-8f + 0x1p-20f, -2.5f, INFINITY, NAN, 3.4e38f};
    uint16_t out[7];
    bf16_pack(out, in, 7);
    EXPECT(out[0] == 0x3f80, "%#x", out[0]);
    EXPECT(out[1] == 0x3f82, "%#x", out[1]);
    EXPECT(out[2] == 0x3f81, "%#x", out[2]); /* just above halfway: up */
    EXPECT(bf16_to_f32(out[3]) == -2.5f);
    EXPECT(out[4] == 0x7f80);
    EXPECT(isnan(bf16_to_f32(out[5])));
    EXPECT(isinf(bf16_to_f32(out[6]))); /* past halfway from the largest bf16 (3.3895e38) to 2^128: inf */
    /* every finite fp32 rounds to within half a bf16 ulp: relative error <= 2^-8 */
    float r[1000];
    uint16_t h[1000];
    fill_uniform(r, 1000, 5);
    bf16_pack(h, r, 1000);
    for (int i = 0; i < 1000; i++) EXPECT(fabsf(bf16_to_f32(h[i]) - r[i]) <= 0x1p-8f * fabsf(r[i]), "element %d", i);
}

/* The panel layout: every element where bf16_panel_index says, rounded as bf16_pack
 * does, the padding zero; packing in uneven ranges, in reverse order, writes the same. */
TEST(gemm_bf16_pack_panels_layout_and_ranges) {
    const int shapes[][2] = {{1, 1}, {5, 7}, {16, 64}, {33, 97}, {130, 31}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        const int OC = shapes[s][0], C = shapes[s][1];
        const size_t n = bf16_panels_elems(OC, C), total = (size_t)OC * C;
        EXPECT(n == (size_t)((OC + 15) / 16) * 16 * ((C + 1) / 2) * 2);
        float *wf = malloc(sizeof(float) * total);
        uint16_t *whole = malloc(sizeof(uint16_t) * n), *parts = malloc(sizeof(uint16_t) * n), *rows = malloc(sizeof(uint16_t) * total);
        REQUIRE(wf && whole && parts && rows);
        fill_uniform(wf, total, 40 + s);
        bf16_pack(rows, wf, total);
        for (size_t i = 0; i < n; i++) whole[i] = parts[i] = 0x7fc0; /* NaN bits: must all be overwritten */
        bf16_pack_panels(whole, wf, OC, C, 0, total);
        int wrong = 0;
        for (int o = 0; o < OC; o++)
            for (int c = 0; c < C; c++) wrong += whole[bf16_panel_index(C, o, c)] != rows[(size_t)o * C + c];
        EXPECT(wrong == 0, "OC %d C %d: %d elements misplaced", OC, C, wrong);
        size_t zeros = 0;
        for (int o = 0; o < (OC + 15) / 16 * 16; o++)
            for (int c = 0; c < (C + 1) / 2 * 2; c++)
                if (o >= OC || c >= C) zeros += whole[bf16_panel_index(C, o, c)] == 0;
        EXPECT(zeros == n - total, "OC %d C %d: %zu of %zu padding values zero", OC, C, zeros, n - total);
        size_t hi = total; /* ranges of 1, 2, 4, ... values from the end, the last cut short */
        for (size_t len = 1; hi > 0; len *= 2) {
            const size_t lo = hi > len ? hi - len : 0;
            bf16_pack_panels(parts, wf, OC, C, lo, hi);
            hi = lo;
        }
        EXPECT(!memcmp(whole, parts, sizeof(uint16_t) * n), "OC %d C %d: packing in ranges differs", OC, C);
        free(wf), free(whole), free(parts), free(rows);
    }
}

TEST(gemm_bf16_every_family_against_fp64) {
    const int Ns[] = {1, 3, 4, 17, 33, 70}, Cs[] = {1, 7, 31, 64, 97, 576}, OCs[] = {1, 5, 9, 33, 130};
    int families = 0;
    for (int k = 0; k < CADA_CPU_N; k++) {
        if (!cada_cpu_kernels_supported((cada_cpu_kernels)k)) {
            fprintf(stderr, "    (kernel family %s: not on this CPU, skipped)\n", cada_cpu_kernels_name((cada_cpu_kernels)k));
            continue;
        }
        families++;
        for (size_t a = 0; a < sizeof Ns / sizeof *Ns; a++)
            for (size_t c = 0; c < sizeof Cs / sizeof *Cs; c++)
                for (size_t d = 0; d < sizeof OCs / sizeof *OCs; d++) {
                    const int N = Ns[a], C = Cs[c], OC = OCs[d];
                    float *x = malloc(sizeof(float) * N * C), *wf = malloc(sizeof(float) * OC * C), *b = malloc(sizeof(float) * OC),
                          *y = malloc(sizeof(float) * N * OC), *xr = malloc(sizeof(float) * N * C);
                    uint16_t *w = malloc(sizeof(uint16_t) * OC * C), *xh = malloc(sizeof(uint16_t) * N * C);
                    REQUIRE(x && wf && b && y && w && xr && xh);
                    fill_uniform(x, (size_t)N * C, 1 + a);
                    fill_uniform(wf, (size_t)OC * C, 10 + c);
                    fill_uniform(b, OC, 20 + d);
                    uint16_t *wp = pack_w(wf, OC, C, w);
                    REQUIRE(wp);
                    bf16_pack(xh, x, (size_t)N * C);
                    for (int i = 0; i < N * C; i++) xr[i] = bf16_to_f32(xh[i]);
                    for (int with_bias = 0; with_bias < 2; with_bias++) {
                        const float *bb = with_bias ? b : NULL;
                        for (int i = 0; i < N * OC; i++) y[i] = NAN; /* every output must be written */
                        gemm_bf16_forward_with((cada_cpu_kernels)k, y, x, wp, bb, N, C, OC);
                        const int bf = k == CADA_CPU_AVX512BF16;
                        double r = worst_ratio(y, x, w, bb, N, C, OC, bf ? 0x1.03p-8 : 0);
                        EXPECT(r <= 1, "%s N %d C %d OC %d bias %d: error %.3g of the bound", cada_cpu_kernels_name((cada_cpu_kernels)k), N,
                               C, OC, with_bias, r);
                        if (bf) { /* against its own rounded x: only the summation's rounding */
                            r = worst_ratio(y, xr, w, bb, N, C, OC, 0);
                            EXPECT(r <= 1, "avx512bf16 (bf16 x) N %d C %d OC %d: error %.3g of the bound", N, C, OC, r);
                        }
                    }
                    free(x), free(wf), free(b), free(y), free(w), free(wp), free(xr), free(xh);
                }
    }
    EXPECT(families >= 1);
    fprintf(stderr, "    (%d kernel families checked; newest here: %s)\n", families, cada_cpu_kernels_name(cada_cpu_kernels_newest()));
}

/* Large enough for the OpenMP path (OC x C >= CADA_PAR_MIN_ELEMENTS): the threads' tiles
 * together write every output, the same values as one thread (tiles are independent). */
TEST(gemm_bf16_threads_match_one_thread) {
    const int N = 5, C = 200, OC = 301;
    float *x = malloc(sizeof(float) * N * C), *wf = malloc(sizeof(float) * OC * C), *y1 = malloc(sizeof(float) * N * OC),
          *y2 = malloc(sizeof(float) * N * OC);
    uint16_t *w = malloc(sizeof(uint16_t) * OC * C);
    REQUIRE(x && wf && y1 && y2 && w);
    fill_uniform(x, (size_t)N * C, 7);
    fill_uniform(wf, (size_t)OC * C, 8);
    uint16_t *wp = pack_w(wf, OC, C, w);
    REQUIRE(wp);
    cada_cpu_kernels k = cada_cpu_kernels_best();
    gemm_bf16_forward_with(k, y1, x, wp, NULL, N, C, OC);
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    gemm_bf16_forward_with(k, y2, x, wp, NULL, N, C, OC);
    omp_set_num_threads(saved);
    EXPECT(!memcmp(y1, y2, sizeof(float) * N * OC));
    EXPECT(worst_ratio(y1, x, w, NULL, N, C, OC, k == CADA_CPU_AVX512BF16 ? 0x1.03p-8 : 0) <= 1);
    free(x), free(wf), free(y1), free(y2), free(w), free(wp);
}
