/* ops/ops.h: the numeric operations of the transformer, CPU implementations (fp32).
 *
 * Contract shared with the CUDA kernels in kernels/ (same names, same argument order):
 *   - Shapes in comments use N = rows (tokens of a packed batch, B*T), C = model width,
 *     OC = output width, H = query heads, KVH = key/value heads, D = head dimension,
 *     V = vocabulary, T = tokens per row.
 *   - Matrices are row-major. A weight of a linear layer is (OC, C) as in PyTorch's
 *     nn.Linear, so y = x W^T + b.
 *   - Every *_backward ACCUMULATES (+=) into its parameter gradients and into the input
 *     gradient unless its comment says "writes"; callers zero what must start at zero.
 *   - Loops are threaded with OpenMP; matmuls go through cblas (OpenBLAS).
 *   - Packed rows: `pos` holds each token's position inside its document; a document
 *     starts where pos == 0, so token i of a row may attend to tokens [i - pos[i], i].
 */
#ifndef CADA_OPS_OPS_H
#define CADA_OPS_OPS_H

#include "base/error.h"

#include <stdint.h>

/* Loops run on OpenMP threads only when they touch at least this many elements: a
 * parallel region costs a fork and a barrier (microseconds on idle cores, up to a
 * scheduler time slice when ranks outnumber cores), which decode-sized work (one token,
 * a few thousand elements) cannot repay. */
#define CADA_PAR_MIN_ELEMENTS 32768
#define CADA_PAR(work) ((work) >= CADA_PAR_MIN_ELEMENTS)

/* ---- linear layers --------------------------------------------------------------- */

/* out(N, OC) = inp(N, C) @ weight(OC, C)^T + bias(OC). bias may be NULL. Writes out. */
void matmul_forward(float *out, const float *inp, const float *weight, const float *bias,
                    int N, int C, int OC);
/* Time and floating-point work of every matmul_forward / matmul_backward since the
 * last reset (two clock reads per call; for `cada bench`, which compares the matmul
 * rate inside the model with OpenBLAS alone on the same shapes). */
typedef struct {
    double seconds;
    double flops;
    long calls;
} ops_matmul_stats;
ops_matmul_stats ops_matmul_stats_get(void);
void ops_matmul_stats_reset(void);

/* dinp(N, C) += dout(N, OC) @ weight(OC, C); dweight(OC, C) += dout^T @ inp;
 * dbias(OC) += column sums of dout. dinp, dbias may be NULL. */
void matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                     const float *inp, const float *weight, int N, int C, int OC);

/* The same two with bf16 arithmetic (ops/bgemm.h): inp, weight and dout rounded to
 * bf16 as they are packed, products exact, sums in fp32 (mixed precision as on GPUs;
 * each output within about 2^-7 of sum |a b| of the fp32 result). About 1.5x sgemm's
 * rate where the CPU has AVX512-BF16; elsewhere the same numbers at sgemm's rate or
 * below. Counted in ops_matmul_stats too. */
void matmul_forward_bf16(float *out, const float *inp, const float *weight, const float *bias, int N, int C, int OC);
void matmul_backward_bf16(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                          const float *weight, int N, int C, int OC);

/* ---- normalisation --------------------------------------------------------------- */

/* RMSNorm as in Hugging Face's LlamaRMSNorm: y = w * x / sqrt(mean(x^2) + eps).
 * out, inp: (N, C); weight: (C); rstd: (N) saved for backward. Writes out and rstd. */
void rmsnorm_forward(float *out, float *rstd, const float *inp, const float *weight, int N,
                     int C, float eps);
void rmsnorm_backward(float *dinp, float *dweight, const float *dout, const float *inp,
                      const float *weight, const float *rstd, int N, int C);

/* ---- rotary position embedding ---------------------------------------------------- */

/* Rotates, in place, n_heads vectors of D per row of x (row stride `stride` floats,
 * heads contiguous from the row start) by angle pos[row] * inv_freq[i], in the
 * "rotate half" layout of Hugging Face (pairs (i, i + D/2)). inv_freq: (D/2).
 * rope_backward applies the inverse rotation to a gradient. */
void rope_forward(float *x, int N, int stride, int n_heads, int D, const int *pos,
                  const float *inv_freq);
void rope_backward(float *dx, int N, int stride, int n_heads, int D, const int *pos,
                   const float *inv_freq);
/* The same rotations with the angles computed once for a batch and used by every layer
 * (and by q and k heads at once, which lie side by side in a QKV row): cs (N, D/2, 2)
 * holds the cosine and sine of each row's angles, as rope_forward computes them, so the
 * results are the same bit for bit. */
void rope_angles(float *cs, int N, int D, const int *pos, const float *inv_freq);
void rope_forward_angles(float *x, int N, int stride, int n_heads, int D, const float *cs);
void rope_backward_angles(float *dx, int N, int stride, int n_heads, int D, const float *cs);

/* ---- attention ---------------------------------------------------------------------- */

/* Causal self-attention within documents, grouped-query (H query heads share KVH
 * key/value heads, H % KVH == 0), over B rows of T tokens.
 *   qkv: (B*T, QKV) with QKV = (H + 2*KVH) * D: per token [q heads | k heads | v heads],
 *        RoPE already applied to q and k.
 *   pos: (B*T) positions inside documents (see top of file).
 *   out: (B*T, H*D).
 *   lse: (B, H, T): per query row, the natural log of the sum over its allowed keys of
 *        exp(score), scores scaled by 1/sqrt(D) (the GPU kernel's lse), saved for
 *        backward in place of the (T, T) probabilities.
 * Writes out and lse. Fails (CADA_ERR_NOMEM) only when its per-thread scratch of
 * 64 x T floats cannot be allocated. */
cada_status attention_forward(float *out, float *lse, const float *qkv, const int *pos, int B, int T, int H,
                              int KVH, int D);
/* From the forward's out and lse and the upstream gradient dout (B*T, H*D), WRITES (not
 * accumulates) dqkv (B*T, QKV), RoPE not yet undone; the probabilities are recomputed
 * block by block. Deterministic: each (row, key/value head) sums its dK and dV over
 * query rows in one fixed order, whatever the thread count. Per-thread scratch: 2 x 64
 * x T floats (CADA_ERR_NOMEM when it cannot be allocated). */
cada_status attention_backward(float *dqkv, const float *dout, const float *out, const float *lse,
                               const float *qkv, const int *pos, int B, int T, int H, int KVH, int D);

/* ---- MLP ------------------------------------------------------------------------------ */

/* SwiGLU: h = silu(gate) * up with gu: (N, 2*I) = [gate | up] per row; h: (N, I).
 * swiglu_backward WRITES dgu. */
void swiglu_forward(float *h, const float *gu, int N, int I);
void swiglu_backward(float *dgu, const float *dh, const float *gu, int N, int I);

/* out = a + b, n elements (out may alias a). */
void residual_forward(float *out, const float *a, const float *b, int64_t n);

/* ---- embeddings and the vocabulary ---------------------------------------------------- */

/* out(N, C) = table[tokens[n]]. Writes out. */
void embedding_forward(float *out, const int *tokens, const float *table, int N, int C);
/* dtable[tokens[n]] += dout[n]. */
void embedding_backward(float *dtable, const float *dout, const int *tokens, int N, int C);

/* Per row of logits (N, V): lse[n] = log sum_v exp(logits[n, v]) and
 * logprob[n] = logits[n, target[n]] - lse[n] (0 where target[n] < 0). */
void logsoftmax_gather(float *logprob, float *lse, const float *logits, const int *targets,
                       int N, int V);
/* In place, logits(N, V) -> d objective / d logits, given dlogprob[n] = d objective /
 * d logprob[n]: dlogits[n, v] = dlogprob[n] * (1[v == target] - softmax[n, v]).
 * Rows with target < 0 or dlogprob == 0 become zero. */
void logsoftmax_gather_backward(float *logits, const float *lse, const int *targets,
                                const float *dlogprob, int N, int V);

#endif
