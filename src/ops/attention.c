/* ops/attention.c: causal grouped-query self-attention inside packed documents.
 *
 * Per (row, head):
 *   S = Q K^T / sqrt(D)     (T, T)
 *   P = softmax over j in [i - pos[i], i] of S[i, j]   (0 elsewhere)
 *   O = P V                 (T, D)
 * computed in blocks of ATT_BQ query rows: a block [i0, i1) needs only the key window
 * [j0, i1), j0 the first key any of its rows may see, so the scores of one block are an
 * (R, W) sgemm (R = i1 - i0 rows, W = i1 - j0 keys) and the masked upper triangle
 * beyond the block is never computed. P is not kept: the forward saves the log-sum-exp
 * of each score row (B, H, T), and the backward recomputes each block's P from Q, K and
 * it (P = exp(S - lse)), as the tiled GPU kernel of kernels/attention.cu does. Memory
 * beyond the inputs and outputs is two (ATT_BQ, T) blocks per thread. */
#include "ops/ops.h"
#include "ops/vexp.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* Query rows per block: each block's sgemms have 64 rows or more along M or K (enough
 * for OpenBLAS's kernels), and the per-thread blocks, 64 x T floats (256 KiB at
 * T = 1024), stay cache-sized. */
#define ATT_BQ 64

/* First key column any row of [i0, i1) may attend to. Document starts only move it
 * right (pos resets to 0), so it is row i0's, but rows are checked one by one so that
 * any `pos` keeps the window covering every row's keys. */
static int block_first_key(const int *rpos, int i0, int i1) {
    int lo = i0 - rpos[i0];
    for (int i = i0 + 1; i < i1; i++)
        if (i - rpos[i] < lo) lo = i - rpos[i];
    return lo < 0 ? 0 : lo;
}

/* Per-thread scratch: `per` floats for each of omp_get_max_threads() threads. */
static cada_status alloc_scratch(float **out, size_t per, const char *op) {
    size_t n = per * (size_t)omp_get_max_threads();
    *out = malloc(sizeof(float) * n);
    if (!*out) return CADA_ERR(CADA_ERR_NOMEM, "%s: %zu bytes of scratch", op, sizeof(float) * n);
    return CADA_OK;
}

/* One block of query rows [i0, i1) of head h of one row of the batch (qkv, rpos, out,
 * lse already offset to that row; lse to its head). s: (R, W) scratch. */
static void forward_block(float *out, float *lse, float *s, const float *qkv, const int *rpos, int H, int KVH,
                          int D, int h, int i0, int i1) {
    const int QKV = (H + 2 * KVH) * D, kvh = h / (H / KVH);
    const float scale = 1.0f / sqrtf((float)D);
    const int j0 = block_first_key(rpos, i0, i1), W = i1 - j0, R = i1 - i0;
    const float *q = qkv + (size_t)i0 * QKV + h * D;
    const float *k = qkv + (size_t)j0 * QKV + H * D + kvh * D;
    const float *v = qkv + (size_t)j0 * QKV + (H + KVH) * D + kvh * D;
    /* S(R, W) = scale Q(R, D) K(W, D)^T */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, R, W, D, scale, q, QKV, k, QKV, 0.0f, s, W);
    for (int r = 0; r < R; r++) {
        const int i = i0 + r, lo = (i - rpos[i] < j0 ? j0 : i - rpos[i]) - j0, hi = i - j0;
        float *pi = s + (size_t)r * W;
        float mx = -INFINITY;
        for (int c = lo; c <= hi; c++) mx = pi[c] > mx ? pi[c] : mx;
        cada_exp_shift(pi + lo, hi - lo + 1, mx);
        float sum = 0.0f;
        for (int c = lo; c <= hi; c++) sum += pi[c];
        float inv = 1.0f / sum;
        for (int c = 0; c < lo; c++) pi[c] = 0.0f;
        for (int c = lo; c <= hi; c++) pi[c] *= inv;
        for (int c = hi + 1; c < W; c++) pi[c] = 0.0f;
        lse[i] = mx + logf(sum);
    }
    /* O(R, D) = P(R, W) V(W, D) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, R, D, W, 1.0f, s, W, v, QKV, 0.0f,
                out + (size_t)i0 * H * D + h * D, H * D);
}

cada_status attention_forward(float *out, float *lse, const float *qkv, const int *pos, int B, int T, int H,
                              int KVH, int D) {
    const int QKV = (H + 2 * KVH) * D, nblk = (T + ATT_BQ - 1) / ATT_BQ;
    const size_t per = (size_t)ATT_BQ * T;
    float *scratch;
    CADA_TRY(alloc_scratch(&scratch, per, "attention_forward"));
    const int64_t units = (int64_t)B * H * nblk;
    /* every block writes its own rows of out and lse: any schedule gives the same bits;
     * the late blocks (more keys) are handed out first */
#pragma omp parallel for schedule(dynamic, 1) if (CADA_PAR((int64_t)B * H * T * T / 2))
    for (int64_t u = 0; u < units; u++) {
        const int blk = nblk - 1 - (int)(u % nblk), h = (int)(u / nblk % H), b = (int)(u / nblk / H);
        const int i0 = blk * ATT_BQ, i1 = i0 + ATT_BQ < T ? i0 + ATT_BQ : T;
        forward_block(out + (size_t)b * T * H * D, lse + ((size_t)b * H + h) * T, scratch + per * omp_get_thread_num(),
                      qkv + (size_t)b * T * QKV, pos + (size_t)b * T, H, KVH, D, h, i0, i1);
    }
    free(scratch);
    return CADA_OK;
}

/* Backward of one (row of the batch, key/value head): its query heads one after the
 * other, each over its query blocks in order, so dK and dV of the head (accumulated
 * over every query row of every head of the group) always sum in the same order.
 * qkv, dqkv, dout, out, rpos are offset to the row, lse to (row, head 0).
 * s, ds: (ATT_BQ, T) scratch each. */
static void backward_kv_head(float *dqkv, float *s, float *ds, const float *dout, const float *out,
                             const float *lse, const float *qkv, const int *rpos, int T, int H, int KVH, int D,
                             int kvh) {
    const int QKV = (H + 2 * KVH) * D, HD = H * D, group = H / KVH;
    const float scale = 1.0f / sqrtf((float)D);
    float *dk = dqkv + H * D + kvh * D, *dv = dqkv + (H + KVH) * D + kvh * D;
    const float *k = qkv + H * D + kvh * D, *v = qkv + (H + KVH) * D + kvh * D;
    for (int h = kvh * group; h < (kvh + 1) * group; h++) {
        const float *lh = lse + (size_t)h * T;
        for (int i0 = 0; i0 < T; i0 += ATT_BQ) {
            const int i1 = i0 + ATT_BQ < T ? i0 + ATT_BQ : T, R = i1 - i0;
            const int j0 = block_first_key(rpos, i0, i1), W = i1 - j0;
            const float *q = qkv + (size_t)i0 * QKV + h * D;
            const float *dO = dout + (size_t)i0 * HD + h * D, *O = out + (size_t)i0 * HD + h * D;
            /* P(R, W) = exp(scale Q K^T - lse), 0 where masked */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, R, W, D, scale, q, QKV, k + (size_t)j0 * QKV,
                        QKV, 0.0f, s, W);
            /* dP(R, W) = dO(R, D) V(W, D)^T */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, R, W, D, 1.0f, dO, HD, v + (size_t)j0 * QKV, QKV,
                        0.0f, ds, W);
            /* dS = P * (dP - sum_j P dP), times the score scale; sum_j P_ij dP_ij =
             * dO_i . O_i, a D-long dot instead of a W-long one */
            for (int r = 0; r < R; r++) {
                const int i = i0 + r, lo = (i - rpos[i] < j0 ? j0 : i - rpos[i]) - j0, hi = i - j0;
                const float l = lh[i];
                float *pi = s + (size_t)r * W, *di = ds + (size_t)r * W;
                const float *dOi = dO + (size_t)r * HD, *Oi = O + (size_t)r * HD;
                float dot = 0.0f;
                for (int d = 0; d < D; d++) dot += dOi[d] * Oi[d];
                for (int c = 0; c < lo; c++) pi[c] = di[c] = 0.0f;
                cada_exp_shift(pi + lo, hi - lo + 1, l);
                for (int c = lo; c <= hi; c++) di[c] = pi[c] * (di[c] - dot) * scale;
                for (int c = hi + 1; c < W; c++) pi[c] = di[c] = 0.0f;
            }
            /* dV[j0:i1] += P^T dO; dQ[i0:i1] = dS K[j0:i1]; dK[j0:i1] += dS^T Q */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, W, D, R, 1.0f, s, W, dO, HD, 1.0f,
                        dv + (size_t)j0 * QKV, QKV);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, R, D, W, 1.0f, ds, W, k + (size_t)j0 * QKV, QKV,
                        0.0f, dqkv + (size_t)i0 * QKV + h * D, QKV);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, W, D, R, 1.0f, ds, W, q, QKV, 1.0f,
                        dk + (size_t)j0 * QKV, QKV);
        }
    }
}

cada_status attention_backward(float *dqkv, const float *dout, const float *out, const float *lse,
                               const float *qkv, const int *pos, int B, int T, int H, int KVH, int D) {
    const int QKV = (H + 2 * KVH) * D;
    const size_t per = (size_t)2 * ATT_BQ * T;
    float *scratch;
    CADA_TRY(alloc_scratch(&scratch, per, "attention_backward"));
    memset(dqkv, 0, sizeof(float) * (size_t)B * T * QKV);
    /* one unit per (row, key/value head): units write disjoint columns or rows of dqkv */
#pragma omp parallel for schedule(dynamic, 1) if (CADA_PAR((int64_t)B * H * T * T / 2))
    for (int u = 0; u < B * KVH; u++) {
        const int b = u / KVH, kvh = u % KVH;
        float *s = scratch + per * omp_get_thread_num();
        backward_kv_head(dqkv + (size_t)b * T * QKV, s, s + (size_t)ATT_BQ * T, dout + (size_t)b * T * H * D,
                         out + (size_t)b * T * H * D, lse + (size_t)b * H * T, qkv + (size_t)b * T * QKV,
                         pos + (size_t)b * T, T, H, KVH, D, kvh);
    }
    free(scratch);
    return CADA_OK;
}
