/* tests/unit/test_bgemm.c: the bf16-arithmetic matrix product (ops/bgemm.h), every
 * family this CPU runs, all four op(A)/op(B), against an fp64 reference.
 *
 * Tolerances, per output c = beta c0 + sum_k a_k b_k over K terms:
 *   - against the reference on the bf16-rounded operands (what bgemm promises to
 *     compute): |c - ref| <= (K + 3) 2^-24 S with S = sum_k |a_k b_k| + |beta c0|. The
 *     products of bf16 pairs are exact in fp32; every addition (vdpbf16ps adds each of
 *     its pair's products, the C kernel adds them too, the beta term one more) rounds
 *     with relative error <= 2^-24, so gamma_(K+3) bounds any order (Higham, sec. 3.1).
 *     This is the sharp check: rounding by truncation instead of nearest, a wrong pair,
 *     a lost tail or edge element are off by 2^-9 S or more.
 *   - against the fp32 operands: that bound plus (2^-7 + 2^-16) S, the two operands'
 *     rounding ((1 + 2^-8)^2 - 1), with 1% slack for S itself moving under rounding.
 * Shapes cover the register tile's edges (12 x 32), odd K, several slices of K (at most
 * KC = 768 deep, equal, the last one odd),
 * several row blocks and column blocks (NC = 3072), and beta 0 (C not read: it holds NaN),
 * 1 and 0.5. */
#include "test.h"

#include "base/cpu.h"
#include "base/rng.h"
#include "ops/bgemm.h"
#include "ops/gemm_bf16.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

static void fill_uniform(float *x, size_t n, uint64_t seed) {
    cada_rng r;
    cada_rng_init(&r, seed, 5, 0, 0);
    for (size_t i = 0; i < n; i++) x[i] = 2.0f * cada_rng_uniform(&r) - 1.0f;
}

static float rounded(float x) {
    uint16_t h;
    bf16_pack(&h, &x, 1);
    return bf16_to_f32(h);
}

/* op(X)[i][k] of a row-major X with leading dimension ld */
static float at(const float *X, int ld, int trans, int i, int k) { return trans ? X[(size_t)k * ld + i] : X[(size_t)i * ld + k]; }

/* max over outputs of |c - ref| / bound (<= 1 passes); round: reference on bf16 operands */
static double worst_ratio(const float *c, const float *c0, float beta, int ta, int tb, int M, int N, int K, const float *A,
                          int lda, const float *B, int ldb, int round) {
    double worst = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double ref = beta != 0.0f ? (double)beta * c0[(size_t)i * N + j] : 0.0, S = fabs(ref);
            for (int k = 0; k < K; k++) {
                float a = at(A, lda, ta, i, k), b = at(B, ldb, tb, k, j);
                if (round) a = rounded(a), b = rounded(b);
                const double p = (double)a * b;
                ref += p;
                S += fabs(p);
            }
            const double bound = ((K + 3) * ldexp(1, -24) + (round ? 0 : 0x1.03p-7 + 0x1p-16)) * S + 1e-30;
            const double r = fabs(c[(size_t)i * N + j] - ref) / bound;
            if (r > worst || r != r) worst = r != r ? 1e30 : r;
        }
    return worst;
}

static void check_shape(cada_cpu_kernels k, int ta, int tb, int M, int N, int K, float beta) {
    const int lda = ta ? M : K, ldb = tb ? K : N;
    float *A = malloc(sizeof(float) * (size_t)M * K), *B = malloc(sizeof(float) * (size_t)K * N);
    float *C = malloc(sizeof(float) * (size_t)M * N), *C0 = malloc(sizeof(float) * (size_t)M * N);
    REQUIRE(A && B && C && C0);
    fill_uniform(A, (size_t)M * K, (uint64_t)M * 7 + K);
    fill_uniform(B, (size_t)K * N, (uint64_t)N * 11 + K);
    fill_uniform(C0, (size_t)M * N, 3);
    for (size_t i = 0; i < (size_t)M * N; i++) C[i] = beta == 0.0f ? NAN : C0[i]; /* beta 0 must not read C */
    EXPECT(bgemm_with(k, ta, tb, M, N, K, A, lda, B, ldb, beta, C, N) == 0);
    const char *fam = cada_cpu_kernels_name(k);
    double r = worst_ratio(C, C0, beta, ta, tb, M, N, K, A, lda, B, ldb, 1);
    EXPECT(r <= 1, "%s ta %d tb %d M %d N %d K %d beta %g: %.3g of the bf16-operand bound", fam, ta, tb, M, N, K, beta, r);
    r = worst_ratio(C, C0, beta, ta, tb, M, N, K, A, lda, B, ldb, 0);
    EXPECT(r <= 1, "%s ta %d tb %d M %d N %d K %d beta %g: %.3g of the fp32-operand bound", fam, ta, tb, M, N, K, beta, r);
    free(A), free(B), free(C), free(C0);
}

TEST(bgemm_every_family_and_transpose_against_fp64) {
    /* (M, N, K): one element; tile edges; odd K; one slice of 600; K over three slices
     * (534, 534, 533); rows over several blocks; columns over two NC blocks (3072) */
    const int shapes[][3] = {{1, 1, 1},   {12, 32, 2},   {13, 33, 7}, {25, 70, 301},
                             {37, 5, 600}, {19, 40, 1601}, {400, 40, 17}, {3, 3100, 5}};
    int families = 0;
    for (int k = 0; k < CADA_CPU_N; k++) {
        if (!cada_cpu_kernels_supported((cada_cpu_kernels)k)) continue;
        families++;
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
            for (int t = 0; t < 4; t++)
                check_shape((cada_cpu_kernels)k, t & 1, t >> 1, shapes[s][0], shapes[s][1], shapes[s][2],
                            s % 3 == 0 ? 0.0f : s % 3 == 1 ? 1.0f : 0.5f);
    }
    EXPECT(families >= 1);
    fprintf(stderr, "    (%d kernel families; newest here: %s)\n", families, cada_cpu_kernels_name(cada_cpu_kernels_newest()));
}

/* Each output is summed by one thread in the same order whatever the thread count, so
 * the learner's bf16 results do not depend on it (learn.fixed_order relies on that). */
TEST(bgemm_threads_match_one_thread) {
    const int M = 300, N = 200, K = 1540; /* three slices of K */
    float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * N), *C1 = malloc(sizeof(float) * M * N),
          *C2 = malloc(sizeof(float) * M * N);
    REQUIRE(A && B && C1 && C2);
    fill_uniform(A, (size_t)M * K, 1);
    fill_uniform(B, (size_t)K * N, 2);
    const int saved = omp_get_max_threads();
    omp_set_num_threads(saved > 1 ? saved : 2);
    EXPECT(bgemm(1, 0, M, N, K, A, M, B, N, 0.0f, C1, N) == 0);
    omp_set_num_threads(1);
    EXPECT(bgemm(1, 0, M, N, K, A, M, B, N, 0.0f, C2, N) == 0);
    omp_set_num_threads(saved);
    EXPECT(!memcmp(C1, C2, sizeof(float) * M * N));
    free(A), free(B), free(C1), free(C2);
}
