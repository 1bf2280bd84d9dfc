/* ops/attention.c: causal grouped-query self-attention inside packed documents.
 *
 * Each (row, head) pair is two sgemms around a masked softmax:
 *   S = Q K^T / sqrt(D)     (T, T)
 *   P = softmax over j in [i - pos[i], i] of S[i, j]   (0 elsewhere)
 *   O = P V                 (T, D)
 * Scores are computed for the whole (T, T) tile and masked afterwards: at the row
 * lengths of training batches (T <= a few thousand) a dense sgemm is faster than
 * skipping the masked half. P is kept for backward (B*H*T*T floats); the fused, tiled
 * GPU kernel of kernels/ never materialises it. */
#include "ops/ops.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

void attention_forward(float *out, float *att, const float *qkv, const int *pos, int B, int T,
                       int H, int KVH, int D) {
    const int QKV = (H + 2 * KVH) * D;
    const int group = H / KVH; /* query heads per key/value head */
    const float scale = 1.0f / sqrtf((float)D);
    for (int b = 0; b < B; b++) {
        const float *row = qkv + (int64_t)b * T * QKV;
        const int *rpos = pos + (int64_t)b * T;
        for (int h = 0; h < H; h++) {
            int kvh = h / group;
            const float *q = row + h * D;
            const float *k = row + H * D + kvh * D;
            const float *v = row + (H + KVH) * D + kvh * D;
            float *p = att + ((int64_t)b * H + h) * T * T;
            float *o = out + (int64_t)b * T * H * D + h * D;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, D, scale, q, QKV, k, QKV,
                        0.0f, p, T);
#pragma omp parallel for schedule(static) if (CADA_PAR((int64_t)T * T))
            for (int i = 0; i < T; i++) {
                float *pi = p + (int64_t)i * T;
                int lo = i - rpos[i];
                float mx = -INFINITY;
                for (int j = lo; j <= i; j++) mx = pi[j] > mx ? pi[j] : mx;
                float sum = 0.0f;
                for (int j = lo; j <= i; j++) {
                    pi[j] = expf(pi[j] - mx);
                    sum += pi[j];
                }
                float inv = 1.0f / sum;
                for (int j = 0; j < lo; j++) pi[j] = 0.0f;
                for (int j = lo; j <= i; j++) pi[j] *= inv;
                for (int j = i + 1; j < T; j++) pi[j] = 0.0f;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, D, T, 1.0f, p, T, v, QKV,
                        0.0f, o, H * D);
        }
    }
}

void attention_backward(float *dqkv, float *datt, const float *dout, const float *att,
                        const float *qkv, const int *pos, int B, int T, int H, int KVH, int D) {
    const int QKV = (H + 2 * KVH) * D;
    const int group = H / KVH;
    const float scale = 1.0f / sqrtf((float)D);
    memset(dqkv, 0, sizeof(float) * (size_t)B * T * QKV);
    (void)pos; /* the mask is carried by P: masked entries are exactly 0 */
    for (int b = 0; b < B; b++) {
        const float *row = qkv + (int64_t)b * T * QKV;
        float *drow = dqkv + (int64_t)b * T * QKV;
        for (int h = 0; h < H; h++) {
            int kvh = h / group;
            const float *q = row + h * D;
            const float *k = row + H * D + kvh * D;
            const float *v = row + (H + KVH) * D + kvh * D;
            float *dq = drow + h * D;
            float *dk = drow + H * D + kvh * D;
            float *dv = drow + (H + KVH) * D + kvh * D;
            const float *p = att + ((int64_t)b * H + h) * T * T;
            const float *dO = dout + (int64_t)b * T * H * D + h * D;
            /* dP = dO V^T */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, D, 1.0f, dO, H * D, v, QKV,
                        0.0f, datt, T);
            /* dV += P^T dO (heads of one group accumulate into the same dV) */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, D, T, 1.0f, p, T, dO, H * D,
                        1.0f, dv, QKV);
            /* softmax backward: dS = P * (dP - sum_j P dP), times the score scale */
#pragma omp parallel for schedule(static) if (CADA_PAR((int64_t)T * T))
            for (int i = 0; i < T; i++) {
                const float *pi = p + (int64_t)i * T;
                float *di = datt + (int64_t)i * T;
                float dot = 0.0f;
                for (int j = 0; j <= i; j++) dot += pi[j] * di[j];
                for (int j = 0; j <= i; j++) di[j] = pi[j] * (di[j] - dot) * scale;
                for (int j = i + 1; j < T; j++) di[j] = 0.0f;
            }
            /* dQ = dS K; dK += dS^T Q */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, D, T, 1.0f, datt, T, k, QKV,
                        1.0f, dq, QKV);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, D, T, 1.0f, datt, T, q, QKV,
                        1.0f, dk, QKV);
        }
    }
}
