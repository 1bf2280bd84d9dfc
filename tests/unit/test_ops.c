/* tests/unit/test_ops.c: every CPU op's backward against central finite differences of
 * its forward.
 *
 * Each check builds a scalar J = sum(w * f(x)) with fixed random weights w, perturbs a
 * sample of coordinates by +-h and compares (J+ - J-) / 2h with the analytic gradient.
 * Tolerance: |fd - an| <= 2e-2 * max(|an|, 0.05) + 1e-3. Why that size: the ops run in
 * fp32 (relative rounding 6e-8); J sums O(100) terms of O(1), so each evaluation
 * carries ~1e-5 absolute rounding, divided by 2h = 2e-2 gives ~1e-3 noise; the
 * truncation error of the central difference is O(h^2 f''') ~ 1e-4 relative. A wrong
 * gradient (a missing term, a sign, a transposed index) is off by O(1) relative, far
 * above this. */
#include "test.h"

#include "base/rng.h"
#include "ops/ops.h"
#include "ops/vexp.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define FD_H 1e-2f

static void fill(float *x, int64_t n, float scale, uint64_t seed) {
    cada_rng r;
    cada_rng_init(&r, seed, 7, 0, 0);
    for (int64_t i = 0; i < n; i++) x[i] = scale * cada_rng_normal(&r);
}

static double weighted_sum(const float *y, const float *w, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += (double)y[i] * w[i];
    return s;
}

/* Compares analytic grad[] of J(x) with finite differences at up to 40 coordinates. */
typedef double (*objective_fn)(void *ctx);
static int check_grad(const char *what, float *x, const float *grad, int64_t n, objective_fn J, void *ctx) {
    cada_rng r;
    cada_rng_init(&r, 99, (uint64_t)n, 0, 0);
    int samples = n < 40 ? (int)n : 40, bad = 0;
    for (int s = 0; s < samples; s++) {
        int64_t i = n <= 40 ? s : (int64_t)(cada_rng_u32(&r) % (uint32_t)n);
        float keep = x[i];
        x[i] = keep + FD_H;
        double jp = J(ctx);
        x[i] = keep - FD_H;
        double jm = J(ctx);
        x[i] = keep;
        double fd = (jp - jm) / (2.0 * FD_H);
        double an = grad[i];
        double tol = 2e-2 * fmax(fabs(an), 0.05) + 1e-3;
        if (fabs(fd - an) > tol) {
            if (bad < 3) cada_test_fail(__FILE__, __LINE__, "%s[%lld]: analytic %.6g, finite difference %.6g", what, (long long)i, an, fd);
            bad++;
        }
    }
    return bad == 0;
}

/* ---- matmul ---------------------------------------------------------------------------- */
typedef struct { float *x, *w, *b, *out, *wout; int N, C, OC; } mm_ctx;
static double mm_J(void *p) {
    mm_ctx *c = p;
    matmul_forward(c->out, c->x, c->w, c->b, c->N, c->C, c->OC);
    return weighted_sum(c->out, c->wout, (int64_t)c->N * c->OC);
}

TEST(ops_matmul_gradients) {
    mm_ctx c = {.N = 5, .C = 7, .OC = 6};
    c.x = malloc(sizeof(float) * 35); c.w = malloc(sizeof(float) * 42); c.b = malloc(sizeof(float) * 6);
    c.out = malloc(sizeof(float) * 30); c.wout = malloc(sizeof(float) * 30);
    float *dx = calloc(35, sizeof(float)), *dw = calloc(42, sizeof(float)), *db = calloc(6, sizeof(float));
    fill(c.x, 35, 1, 1); fill(c.w, 42, 1, 2); fill(c.b, 6, 1, 3); fill(c.wout, 30, 1, 4);
    matmul_backward(dx, dw, db, c.wout, c.x, c.w, c.N, c.C, c.OC);
    EXPECT(check_grad("matmul dx", c.x, dx, 35, mm_J, &c));
    EXPECT(check_grad("matmul dw", c.w, dw, 42, mm_J, &c));
    EXPECT(check_grad("matmul db", c.b, db, 6, mm_J, &c));
    free(c.x); free(c.w); free(c.b); free(c.out); free(c.wout); free(dx); free(dw); free(db);
}

/* ---- rmsnorm ---------------------------------------------------------------------------- */
typedef struct { float *x, *w, *out, *rstd, *wout; int N, C; } rn_ctx;
static double rn_J(void *p) {
    rn_ctx *c = p;
    rmsnorm_forward(c->out, c->rstd, c->x, c->w, c->N, c->C, 1e-5f);
    return weighted_sum(c->out, c->wout, (int64_t)c->N * c->C);
}

TEST(ops_rmsnorm_gradients) {
    rn_ctx c = {.N = 4, .C = 16};
    int64_t n = 64;
    c.x = malloc(sizeof(float) * n); c.w = malloc(sizeof(float) * 16); c.out = malloc(sizeof(float) * n);
    c.rstd = malloc(sizeof(float) * 4); c.wout = malloc(sizeof(float) * n);
    float *dx = calloc((size_t)n, sizeof(float)), *dw = calloc(16, sizeof(float));
    fill(c.x, n, 1, 5); fill(c.w, 16, 1, 6); fill(c.wout, n, 1, 7);
    rn_J(&c);
    rmsnorm_backward(dx, dw, c.wout, c.x, c.w, c.rstd, c.N, c.C);
    EXPECT(check_grad("rmsnorm dx", c.x, dx, n, rn_J, &c));
    EXPECT(check_grad("rmsnorm dw", c.w, dw, 16, rn_J, &c));
    free(c.x); free(c.w); free(c.out); free(c.rstd); free(c.wout); free(dx); free(dw);
}

/* ---- rope ----------------------------------------------------------------------------- */
typedef struct { float *x, *y, *wout, *inv; int *pos; int N, stride, heads, D; } rope_ctx;
static double rope_J(void *p) {
    rope_ctx *c = p;
    int64_t n = (int64_t)c->N * c->stride;
    memcpy(c->y, c->x, sizeof(float) * (size_t)n);
    rope_forward(c->y, c->N, c->stride, c->heads, c->D, c->pos, c->inv);
    return weighted_sum(c->y, c->wout, n);
}

TEST(ops_rope_gradients_and_rotation) {
    rope_ctx c = {.N = 6, .stride = 3 * 8 + 5, .heads = 3, .D = 8};
    int64_t n = (int64_t)c.N * c.stride;
    c.x = malloc(sizeof(float) * n); c.y = malloc(sizeof(float) * n); c.wout = malloc(sizeof(float) * n);
    float inv[4] = {1.0f, 0.3f, 0.05f, 0.001f};
    int pos[6] = {0, 1, 2, 0, 1, 7};
    c.inv = inv; c.pos = pos;
    fill(c.x, n, 1, 8); fill(c.wout, n, 1, 9);
    /* The columns past heads*D (stride padding) must be untouched; position 0 is the
     * identity. */
    rope_J(&c);
    EXPECT(c.y[c.stride - 1] == c.x[c.stride - 1], "padding column changed");
    EXPECT(c.y[0] == c.x[0] && c.y[5] == c.x[5], "position 0 must not rotate");
    float *dx = malloc(sizeof(float) * n);
    memcpy(dx, c.wout, sizeof(float) * (size_t)n);
    rope_backward(dx, c.N, c.stride, c.heads, c.D, c.pos, c.inv);
    /* the padding columns of dx keep wout, which is also their true gradient */
    EXPECT(check_grad("rope dx", c.x, dx, n, rope_J, &c));
    free(c.x); free(c.y); free(c.wout); free(dx);
}

/* The batch's angle table (what the model and the engine use) rotates exactly as the
 * angles computed in place, forward and backward, and q and k heads rotated in one call
 * (side by side in a row) as in two: bit for bit, at long positions too. */
TEST(ops_rope_angle_table_same_bits) {
    enum { N = 5, H = 3, KVH = 2, D = 64, STRIDE = (H + 2 * KVH) * D };
    float *x = malloc(sizeof(float) * N * STRIDE), *y = malloc(sizeof(float) * N * STRIDE);
    float inv[D / 2], cs[N * D];
    const int pos[N] = {0, 1, 77, 4095, 131071};
    for (int i = 0; i < D / 2; i++) inv[i] = powf(500000.0f, -2.0f * (float)i / D);
    fill(x, (int64_t)N * STRIDE, 1, 21);
    memcpy(y, x, sizeof(float) * N * STRIDE);
    rope_forward(x, N, STRIDE, H, D, pos, inv);
    rope_forward(x + H * D, N, STRIDE, KVH, D, pos, inv);
    rope_angles(cs, N, D, pos, inv);
    rope_forward_angles(y, N, STRIDE, H + KVH, D, cs);
    EXPECT(memcmp(x, y, sizeof(float) * N * STRIDE) == 0, "forward: the angle table rotates otherwise");
    rope_backward(x, N, STRIDE, H + KVH, D, pos, inv);
    rope_backward_angles(y, N, STRIDE, H + KVH, D, cs);
    EXPECT(memcmp(x, y, sizeof(float) * N * STRIDE) == 0, "backward: the angle table rotates otherwise");
    free(x); free(y);
}

/* ---- attention --------------------------------------------------------------------------- */
typedef struct { float *qkv, *out, *lse, *wout; int *pos; int B, T, H, KVH, D; } att_ctx;
static double att_J(void *p) {
    att_ctx *c = p;
    if (attention_forward(c->out, c->lse, c->qkv, c->pos, c->B, c->T, c->H, c->KVH, c->D) != CADA_OK) return NAN;
    return weighted_sum(c->out, c->wout, (int64_t)c->B * c->T * c->H * c->D);
}

TEST(ops_attention_gradients_gqa_packed) {
    /* 2 rows of 6 tokens; row 0 packs documents of 4 and 2 tokens, row 1 one of 6 */
    att_ctx c = {.B = 2, .T = 6, .H = 4, .KVH = 2, .D = 4};
    int pos[12] = {0, 1, 2, 3, 0, 1, 0, 1, 2, 3, 4, 5};
    c.pos = pos;
    int QKV = (c.H + 2 * c.KVH) * c.D, N = c.B * c.T;
    c.qkv = malloc(sizeof(float) * N * QKV); c.out = malloc(sizeof(float) * N * c.H * c.D);
    c.lse = malloc(sizeof(float) * c.B * c.H * c.T); c.wout = malloc(sizeof(float) * N * c.H * c.D);
    float *dqkv = malloc(sizeof(float) * N * QKV);
    fill(c.qkv, (int64_t)N * QKV, 1, 10); fill(c.wout, (int64_t)N * c.H * c.D, 1, 11);
    att_J(&c);
    /* masking: token 4 of row 0 starts a document, so it attends to itself only: its
     * output is its own value vector and its lse its own scaled score */
    for (int h = 0; h < c.H; h++) {
        const float *q = c.qkv + 4 * QKV + h * c.D, *k = c.qkv + 4 * QKV + (c.H + h / 2) * c.D;
        const float *v = c.qkv + 4 * QKV + (c.H + c.KVH + h / 2) * c.D, *o = c.out + 4 * c.H * c.D + h * c.D;
        float dot = 0.0f;
        for (int d = 0; d < c.D; d++) dot += q[d] * k[d];
        EXPECT(fabsf(c.lse[h * c.T + 4] - dot / 2.0f) < 1e-5f, "head %d: lse of row 0 token 4 %g, want %g", h,
               c.lse[h * c.T + 4], dot / 2.0f);
        for (int d = 0; d < c.D; d++)
            EXPECT(fabsf(o[d] - v[d]) < 1e-6f, "head %d: row 0 token 4 must attend only to itself", h);
    }
    EXPECT(attention_backward(dqkv, c.wout, c.out, c.lse, c.qkv, c.pos, c.B, c.T, c.H, c.KVH, c.D) == CADA_OK);
    EXPECT(check_grad("attention dqkv", c.qkv, dqkv, (int64_t)N * QKV, att_J, &c));
    free(c.qkv); free(c.out); free(c.lse); free(c.wout); free(dqkv);
}

/* Dense fp64 attention of one batch row: out, lse and, given dout, dqkv. */
static void attention_ref(double *out, double *lse, double *dqkv, const float *qkv, const float *dout, const int *pos,
                          int T, int H, int KVH, int D) {
    const int QKV = (H + 2 * KVH) * D, group = H / KVH;
    const double scale = 1.0 / sqrt((double)D);
    double *p = malloc(sizeof(double) * T), *dp = malloc(sizeof(double) * T);
    for (int i = 0; i < T * QKV; i++) dqkv[i] = 0.0;
    for (int h = 0; h < H; h++) {
        const int ko = (H + h / group) * D, vo = (H + KVH + h / group) * D;
        for (int i = 0; i < T; i++) {
            const int lo = i - pos[i];
            double mx = -INFINITY, sum = 0.0, dot = 0.0;
            for (int j = lo; j <= i; j++) {
                double s = 0.0;
                for (int d = 0; d < D; d++) s += (double)qkv[i * QKV + h * D + d] * qkv[j * QKV + ko + d];
                p[j] = s * scale;
                mx = fmax(mx, p[j]);
            }
            for (int j = lo; j <= i; j++) sum += exp(p[j] - mx);
            lse[h * T + i] = mx + log(sum);
            for (int d = 0; d < D; d++) out[(i * H + h) * D + d] = 0.0;
            for (int j = lo; j <= i; j++) {
                p[j] = exp(p[j] - mx) / sum;
                dp[j] = 0.0;
                for (int d = 0; d < D; d++) {
                    out[(i * H + h) * D + d] += p[j] * qkv[j * QKV + vo + d];
                    dp[j] += (double)dout[(i * H + h) * D + d] * qkv[j * QKV + vo + d];
                }
                dot += p[j] * dp[j];
            }
            for (int j = lo; j <= i; j++) {
                double ds = p[j] * (dp[j] - dot) * scale;
                for (int d = 0; d < D; d++) {
                    dqkv[i * QKV + h * D + d] += ds * qkv[j * QKV + ko + d];
                    dqkv[j * QKV + ko + d] += ds * qkv[i * QKV + h * D + d];
                    dqkv[j * QKV + vo + d] += p[j] * dout[(i * H + h) * D + d];
                }
            }
        }
    }
    free(p);
    free(dp);
}

static double max_abs_diff(const float *x, const double *ref, int64_t n) {
    double m = 0.0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs((double)x[i] - ref[i]));
    return m;
}

TEST(ops_attention_blocks_match_dense_reference_and_bits_repeat) {
    /* rows longer than the 64-row query blocks, documents crossing block boundaries:
     * row 0 packs documents of 70, 1, 90 and 39 tokens, row 1 is one document of 200.
     * Against a dense fp64 reference: fp32 sums of O(100) O(1) terms, 1e-4. Then the
     * bits: a second batch holding row 1 alone, and 1 thread instead of the default,
     * must give the same out, lse and dqkv bits for it. */
    const int B = 2, T = 200, H = 4, KVH = 2, D = 16, QKV = (H + 2 * KVH) * D, N = B * T, HD = H * D;
    int *pos = malloc(sizeof(int) * N);
    const int docs[4] = {70, 1, 90, 39};
    for (int d = 0, t = 0; d < 4; d++)
        for (int i = 0; i < docs[d]; i++) pos[t++] = i;
    for (int t = 0; t < T; t++) pos[T + t] = t;
    float *qkv = malloc(sizeof(float) * N * QKV), *dout = malloc(sizeof(float) * N * HD);
    float *out = malloc(sizeof(float) * N * HD), *lse = malloc(sizeof(float) * B * H * T);
    float *dqkv = malloc(sizeof(float) * N * QKV);
    fill(qkv, (int64_t)N * QKV, 1, 20); fill(dout, (int64_t)N * HD, 1, 21);
    EXPECT(attention_forward(out, lse, qkv, pos, B, T, H, KVH, D) == CADA_OK);
    EXPECT(attention_backward(dqkv, dout, out, lse, qkv, pos, B, T, H, KVH, D) == CADA_OK);
    double *rout = malloc(sizeof(double) * T * HD), *rlse = malloc(sizeof(double) * H * T);
    double *rdqkv = malloc(sizeof(double) * T * QKV);
    for (int b = 0; b < B; b++) {
        attention_ref(rout, rlse, rdqkv, qkv + (size_t)b * T * QKV, dout + (size_t)b * T * HD, pos + b * T, T, H,
                      KVH, D);
        double eo = max_abs_diff(out + (size_t)b * T * HD, rout, (int64_t)T * HD);
        double el = max_abs_diff(lse + (size_t)b * H * T, rlse, (int64_t)H * T);
        double eg = max_abs_diff(dqkv + (size_t)b * T * QKV, rdqkv, (int64_t)T * QKV);
        EXPECT(eo < 1e-4 && el < 1e-4 && eg < 1e-4, "row %d: max |error| out %.3g, lse %.3g, dqkv %.3g", b, eo, el,
               eg);
    }
    float *out1 = malloc(sizeof(float) * T * HD), *lse1 = malloc(sizeof(float) * H * T);
    float *dqkv1 = malloc(sizeof(float) * T * QKV);
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    cada_status fs = attention_forward(out1, lse1, qkv + (size_t)T * QKV, pos + T, 1, T, H, KVH, D);
    cada_status bs = attention_backward(dqkv1, dout + (size_t)T * HD, out1, lse1, qkv + (size_t)T * QKV, pos + T, 1,
                                        T, H, KVH, D);
    omp_set_num_threads(threads);
    EXPECT(fs == CADA_OK && bs == CADA_OK);
    EXPECT(!memcmp(out1, out + (size_t)T * HD, sizeof(float) * T * HD), "out bits depend on batch or threads");
    EXPECT(!memcmp(lse1, lse + (size_t)H * T, sizeof(float) * H * T), "lse bits depend on batch or threads");
    EXPECT(!memcmp(dqkv1, dqkv + (size_t)T * QKV, sizeof(float) * T * QKV), "dqkv bits depend on batch or threads");
    free(pos); free(qkv); free(dout); free(out); free(lse); free(dqkv);
    free(rout); free(rlse); free(rdqkv); free(out1); free(lse1); free(dqkv1);
}

/* ---- swiglu ---------------------------------------------------------------------------- */
typedef struct { float *gu, *h, *wout; int N, I; } sw_ctx;
static double sw_J(void *p) {
    sw_ctx *c = p;
    swiglu_forward(c->h, c->gu, c->N, c->I);
    return weighted_sum(c->h, c->wout, (int64_t)c->N * c->I);
}

TEST(ops_swiglu_gradients) {
    sw_ctx c = {.N = 3, .I = 10};
    c.gu = malloc(sizeof(float) * 60); c.h = malloc(sizeof(float) * 30); c.wout = malloc(sizeof(float) * 30);
    float *dgu = malloc(sizeof(float) * 60);
    fill(c.gu, 60, 2, 12); fill(c.wout, 30, 1, 13);
    swiglu_backward(dgu, c.wout, c.gu, c.N, c.I);
    EXPECT(check_grad("swiglu dgu", c.gu, dgu, 60, sw_J, &c));
    free(c.gu); free(c.h); free(c.wout); free(dgu);
}

/* ---- embedding ------------------------------------------------------------------------- */
typedef struct { float *table, *out, *wout; int *tokens; int N, C; } emb_ctx;
static double emb_J(void *p) {
    emb_ctx *c = p;
    embedding_forward(c->out, c->tokens, c->table, c->N, c->C);
    return weighted_sum(c->out, c->wout, (int64_t)c->N * c->C);
}

TEST(ops_embedding_gradients_repeated_tokens) {
    int tokens[5] = {3, 1, 3, 0, 3}; /* token 3 three times: its row must sum three grads */
    emb_ctx c = {.N = 5, .C = 4, .tokens = tokens};
    c.table = malloc(sizeof(float) * 16); c.out = malloc(sizeof(float) * 20); c.wout = malloc(sizeof(float) * 20);
    float *dt = calloc(16, sizeof(float));
    fill(c.table, 16, 1, 14); fill(c.wout, 20, 1, 15);
    embedding_backward(dt, c.wout, c.tokens, c.N, c.C);
    EXPECT(check_grad("embedding dtable", c.table, dt, 16, emb_J, &c));
    free(c.table); free(c.out); free(c.wout); free(dt);
}

/* ---- log-softmax gather ------------------------------------------------------------------ */
typedef struct { float *logits, *lp, *lse, *wlp; int *targets; int N, V; } ls_ctx;
static double ls_J(void *p) {
    ls_ctx *c = p;
    logsoftmax_gather(c->lp, c->lse, c->logits, c->targets, c->N, c->V);
    return weighted_sum(c->lp, c->wlp, c->N);
}

TEST(ops_logsoftmax_gather_gradients) {
    int targets[4] = {2, -1, 0, 9};
    ls_ctx c = {.N = 4, .V = 10, .targets = targets};
    c.logits = malloc(sizeof(float) * 40); c.lp = malloc(sizeof(float) * 4); c.lse = malloc(sizeof(float) * 4);
    c.wlp = malloc(sizeof(float) * 4);
    fill(c.logits, 40, 3, 16); fill(c.wlp, 4, 1, 17);
    ls_J(&c);
    EXPECT(c.lp[1] == 0.0f, "a row without target has log-prob 0");
    /* logsumexp against a direct fp64 evaluation */
    double s = 0.0;
    for (int v = 0; v < 10; v++) s += exp((double)c.logits[v]);
    EXPECT(fabs(log(s) - c.lse[0]) < 1e-5, "lse %g vs %g", (double)c.lse[0], log(s));
    float *d = malloc(sizeof(float) * 40);
    memcpy(d, c.logits, sizeof(float) * 40);
    logsoftmax_gather_backward(d, c.lse, c.targets, c.wlp, c.N, c.V);
    EXPECT(check_grad("logsoftmax dlogits", c.logits, d, 40, ls_J, &c));
    free(c.logits); free(c.lp); free(c.lse); free(c.wlp); free(d);
}

/* matmul_forward takes a direct path for a few rows (decode steps) and sgemm above; both
 * must agree with an fp64 reference. C = 70 is not a multiple of the 16-wide partial
 * sums, so the remainder loop runs too. Tolerance: fp32 dot products of 70 terms of
 * magnitude ~1 carry ~1e-6 absolute error; 2e-5 leaves margin, a wrong index is O(1). */
TEST(ops_matmul_few_rows_and_sgemm_paths_agree) {
    const int C = 70, OC = 33;
    const int rows[] = {1, 3, 4, 5, 17};
    float *x = malloc(sizeof(float) * 17 * C), *w = malloc(sizeof(float) * OC * C), *b = malloc(sizeof(float) * OC);
    float *out = malloc(sizeof(float) * 17 * OC);
    fill(x, 17 * C, 1, 21); fill(w, OC * C, 1, 22); fill(b, OC, 1, 23);
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        int N = rows[r];
        matmul_forward(out, x, w, b, N, C, OC);
        double worst = 0.0;
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OC; o++) {
                double ref = b[o];
                for (int c = 0; c < C; c++) ref += (double)x[n * C + c] * w[o * C + c];
                worst = fmax(worst, fabs(ref - out[n * OC + o]));
            }
        EXPECT(worst < 2e-5, "N = %d: max |diff| %g against fp64", N, worst);
    }
    free(x); free(w); free(b); free(out);
}

/* cada_expf against the fp64 exp: 2^22 evenly spaced inputs from the underflow limit to
 * 88.3 and powers of two down to 2^-40 either side of 0, within 2 ulp (relative 2^-23;
 * Cephes' polynomial measures 1.4), the limits, NaN; the fp64 sum of exps against a plain
 * fp64 loop. A wrong coefficient or rounding step is off by far more than 2 ulp
 * somewhere in the range. */
TEST(ops_expf_within_2_ulp) {
    double worst = 0;
    float at = 0;
    const long n = 1L << 22;
    for (long i = 0; i <= n + 80; i++) {
        const float x = i <= n ? -87.33f + (float)((88.3 + 87.33) * (double)i / (double)n)
                               : (i - n) % 2 ? ldexpf(1.0f, -(int)(i - n) / 2) : -ldexpf(1.0f, -(int)(i - n) / 2);
        if (x >= 88.3f) continue;
        const double e = exp((double)x), r = fabs((double)cada_expf(x) - e) / e;
        if (r > worst) worst = r, at = x;
    }
    EXPECT(worst <= 0x1p-23, "max relative error %.3g (%.2f ulp) at %g", worst, worst / 0x1p-24, (double)at);
    fprintf(stderr, "    max relative error %.3g (%.2f ulp of 2^-24) at %g\n", worst, worst / 0x1p-24, (double)at);
    EXPECT(cada_expf(0.0f) == 1.0f && cada_expf(-INFINITY) == 0.0f && cada_expf(-100.0f) == 0.0f);
    EXPECT(isnan(cada_expf(NAN)) && isfinite(cada_expf(1000.0f)) && cada_expf(1000.0f) > 1e38f);
    float v[1003];
    for (int i = 0; i < 1003; i++) v[i] = -0.01f * (float)i;
    double plain = 0;
    for (int i = 0; i < 1003; i++) plain += exp((double)v[i] - 0.5);
    const double s = cada_sum_exp_shift(v, 1003, 0.5f);
    EXPECT(fabs(s - plain) <= 1e-6 * plain, "%.9g vs %.9g", s, plain);
    const float last = v[1002];
    cada_exp_shift(v, 1003, 0.5f);
    const double want = exp((double)(last - 0.5f)); /* the op subtracts in float */
    EXPECT(fabs(v[1002] - want) <= 0x1p-23 * want, "%g vs %g", (double)v[1002], want);
}
