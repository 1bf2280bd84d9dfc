/* kernels/gpu_ops.h: the CUDA implementations of the ops in src/ops (and the few extra
 * ones a GPU model needs), callable from C. Every op here mirrors the CPU op of the
 * same name without the `gpu_` prefix: same argument order, a stream appended last.
 *
 * Contract (read src/ops/ops.h first: shapes, packed rows and `pos` are the same):
 *   - Precision (Megatron-style mixed precision, no loss scaling for bf16):
 *       weights used by forward/backward: bf16 (one bf16 copy of the flat parameter
 *         buffer; the fp32 master copy belongs to the optimizer);
 *       residual stream, norms' rstd, softmax statistics, log-probs, gradients of
 *         parameters, optimizer state: fp32;
 *       matmul inputs and outputs inside a layer (normed x, qkv, attention output,
 *         gate/up, h) and their gradients: bf16;
 *       every reduction (norm sums, softmax sums, dot products) accumulates in fp32.
 *   - cada_bf16 is the bit pattern of a bfloat16 (CUDA's __nv_bfloat16 in .cu files):
 *     C code never does arithmetic on it; conversions happen in kernels.
 *   - Every launcher checks its arguments at entry (NULL pointers, non-positive sizes,
 *     unsupported head sizes), returns CADA_ERR_ARG / CADA_ERR_UNSUPPORTED with a
 *     message naming the op and the argument, launches on `stream`, and returns
 *     CADA_ERR_CUDA if the launch itself failed (cudaGetLastError). Launchers never
 *     synchronise: errors of the kernel's execution surface at the caller's next sync.
 *   - All pointers are device pointers unless a comment says host.
 *   - "ACCUMULATES" means +=, "writes" means =, exactly as in src/ops/ops.h.
 *   - Gradient accumulation across rows into parameters (rmsnorm weight, embedding
 *     rows) may use atomicAdd: the GPU path is not bit-reproducible run to run; the
 *     CPU path is the bit-exact reference.
 * Shapes use N = rows (tokens), C = width, OC = output width, H / KVH = query / kv
 * heads, D = head dim, I = intermediate, V = vocabulary, B x T = rows x tokens. */
#ifndef CADA_KERNELS_GPU_OPS_H
#define CADA_KERNELS_GPU_OPS_H

#include "base/error.h"

#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef uint16_t cada_bf16;

/* ---- conversions, fills, simple elementwise (kernels/elementwise.cu) -------------- */

cada_status gpu_cast_f32_to_bf16(cada_bf16 *out, const float *in, size_t n, cudaStream_t stream);
cada_status gpu_cast_bf16_to_f32(float *out, const cada_bf16 *in, size_t n, cudaStream_t stream);
/* out[i] = scale * N(0,1) draw from a counter-based generator keyed by (seed, i): the
 * same values for any launch shape. For benchmarks and tests; not the CPU's stream. */
cada_status gpu_fill_normal(float *out, size_t n, uint64_t seed, float scale, cudaStream_t stream);
cada_status gpu_fill_normal_bf16(cada_bf16 *out, size_t n, uint64_t seed, float scale, cudaStream_t stream);
cada_status gpu_fill_f32(float *out, size_t n, float value, cudaStream_t stream);
/* out = a + b over n elements (out may alias a). */
cada_status gpu_residual_forward(float *out, const float *a, const float *b, size_t n, cudaStream_t stream);
/* out(fp32) += in(bf16), n elements: adds a bf16 gradient into an fp32 stream. */
cada_status gpu_add_bf16_to_f32(float *out, const cada_bf16 *in, size_t n, cudaStream_t stream);

/* ---- embeddings (kernels/embedding.cu) ---------------------------------------------- */

/* out(N, C) fp32 = table[tokens[n]] (bf16 table (V, C)). Writes out. Token ids outside
 * [0, V) are not checked on the device (the batch is validated on the host). */
cada_status gpu_embedding_forward(float *out, const int *tokens, const cada_bf16 *table, int N, int C,
                                  cudaStream_t stream);
/* dtable(V, C) fp32 [tokens[n]] += dout(N, C) fp32. */
cada_status gpu_embedding_backward(float *dtable, const float *dout, const int *tokens, int N, int C,
                                   cudaStream_t stream);

/* ---- RMSNorm (kernels/norm.cu) ------------------------------------------------------- */

/* out(N, C) bf16 = weight * inp / sqrt(mean(inp^2) + eps); inp fp32 (the residual
 * stream), weight bf16 (C); rstd (N) fp32 written for backward. */
cada_status gpu_rmsnorm_forward(cada_bf16 *out, float *rstd, const float *inp, const cada_bf16 *weight, int N,
                                int C, float eps, cudaStream_t stream);
/* dinp(N, C) fp32 ACCUMULATES (the residual gradient), dweight(C) fp32 ACCUMULATES;
 * dout bf16 (N, C). */
cada_status gpu_rmsnorm_backward(float *dinp, float *dweight, const cada_bf16 *dout, const float *inp,
                                 const cada_bf16 *weight, const float *rstd, int N, int C, cudaStream_t stream);

/* ---- RoPE (kernels/rope.cu) ---------------------------------------------------------- */

/* In place on bf16 x (row stride `stride` elements, n_heads heads of D from the row
 * start), angle pos[row] * inv_freq[i] computed in fp32 with sincosf (not the fast
 * intrinsic), rotate-half layout. inv_freq (D/2) fp32, from cada_config_rope_inv_freq
 * (llama3 / linear scaling already folded in). rope_backward rotates by -angle. */
cada_status gpu_rope_forward(cada_bf16 *x, int N, int stride, int n_heads, int D, const int *pos,
                             const float *inv_freq, cudaStream_t stream);
cada_status gpu_rope_backward(cada_bf16 *dx, int N, int stride, int n_heads, int D, const int *pos,
                              const float *inv_freq, cudaStream_t stream);

/* ---- attention (kernels/attention.cu) ------------------------------------------------- */

/* Flash-attention forward (tiled, online softmax, never materialises T x T), causal
 * within documents (key j visible to query i iff i - pos[i] <= j <= i, as ops.h),
 * grouped-query. D in {64, 128} (else CADA_ERR_UNSUPPORTED).
 *   qkv (B*T, (H + 2 KVH) D) bf16, RoPE applied; out (B*T, H D) bf16 writes;
 *   lse (B, H, T) fp32 writes: log-sum-exp of each query's scaled scores (backward).
 * Scale 1/sqrt(D). */
cada_status gpu_attention_forward(cada_bf16 *out, float *lse, const cada_bf16 *qkv, const int *pos, int B, int T,
                                  int H, int KVH, int D, cudaStream_t stream);
/* Bytes of device scratch gpu_attention_backward needs (fp32 dq accumulators and the
 * per-query rowsum(dout * out)). */
size_t gpu_attention_backward_scratch_bytes(int B, int T, int H, int KVH, int D);
/* dqkv (B*T, QKV) bf16 WRITES (q, k and v parts; RoPE not undone), from dout and the
 * forward's out and lse. scratch: gpu_attention_backward_scratch_bytes bytes. */
cada_status gpu_attention_backward(cada_bf16 *dqkv, void *scratch, const cada_bf16 *dout, const cada_bf16 *out,
                                   const float *lse, const cada_bf16 *qkv, const int *pos, int B, int T, int H,
                                   int KVH, int D, cudaStream_t stream);

/* KV cache of one layer: k_cache, v_cache point at slot 0 of that layer; slot s starts
 * s * slot_stride elements further; a token at position p of a slot is the row of
 * KVH * D elements at p * KVH * D inside it. */
/* Copies the k and v parts of qkv rows (n, QKV) into each row's slot at its position:
 * row r goes to slot slots[r], position positions[r]. */
cada_status gpu_kv_append(cada_bf16 *k_cache, cada_bf16 *v_cache, size_t slot_stride, const cada_bf16 *qkv,
                          const int *slots, const int *positions, int n, int H, int KVH, int D,
                          cudaStream_t stream);
/* Decode attention: row r's query (its q heads in qkv row r) attends to positions
 * [0, lens[r]) of slot slots[r] (its own key already appended). out (n, H D) bf16.
 * Split over the key axis (flash-decoding) so one sequence still fills the GPU;
 * scratch: gpu_attention_decode_scratch_bytes(n, H, D, max_len) bytes. */
size_t gpu_attention_decode_scratch_bytes(int n, int H, int D, int max_len);
cada_status gpu_attention_decode(cada_bf16 *out, void *scratch, const cada_bf16 *qkv, const cada_bf16 *k_cache,
                                 const cada_bf16 *v_cache, size_t slot_stride, const int *slots, const int *lens,
                                 int n, int H, int KVH, int D, int max_len, cudaStream_t stream);

/* ---- MLP (kernels/swiglu.cu) --------------------------------------------------------- */

/* h(N, I) = silu(gate) * up, gu (N, 2I) = [gate | up] per row, all bf16, fp32 math. */
cada_status gpu_swiglu_forward(cada_bf16 *h, const cada_bf16 *gu, int N, int I, cudaStream_t stream);
/* dgu (N, 2I) bf16 WRITES. */
cada_status gpu_swiglu_backward(cada_bf16 *dgu, const cada_bf16 *dh, const cada_bf16 *gu, int N, int I,
                                cudaStream_t stream);

/* ---- the vocabulary (kernels/logsoftmax.cu) ------------------------------------------ */

/* One pass over each row of fp32 logits (N, V) (online max and sum): lse[n] and
 * logprob[n] = logits[n, target] - lse[n] (0 where target < 0). */
cada_status gpu_logsoftmax_gather(float *logprob, float *lse, const float *logits, const int *targets, int N, int V,
                                  cudaStream_t stream);
/* dlogits (N, V) bf16 WRITES dlogprob[n] * (1[v == target] - softmax[n, v]) (zero rows
 * where target < 0 or dlogprob == 0), reading logits once more: the fp32 logits are
 * written once (by the LM head) and read twice, never rewritten. */
cada_status gpu_logsoftmax_gather_backward(cada_bf16 *dlogits, const float *logits, const float *lse,
                                           const int *targets, const float *dlogprob, int N, int V,
                                           cudaStream_t stream);

/* entropy (N) fp32 WRITES lse[n] - sum_v softmax[n, v] logits[n, v] (each row summed in
 * double), 0 where mask[n] < 0 (mask (N) may be NULL: every row), as
 * learn/entropy.h's cada_token_entropy (kernels/entropy.cu). */
cada_status gpu_token_entropy(float *entropy, const float *logits, const float *lse, const int *mask, int N, int V,
                              cudaStream_t stream);

/* ---- sampling (kernels/sample.cu) ----------------------------------------------------- */

/* For each of n rows of fp32 logits (n, V): temperature, then top-k (0 = off), then
 * top-p (1 = off), then one draw with the uniform u[r] in [0, 1) supplied by the host
 * (from the CPU's Philox stream, so the draw sequence is the CPU's). temperature == 0
 * is greedy: the first index of the maximum (torch.argmax). tokens (n) int writes;
 * logprob (n) writes the MODEL log-prob of the chosen token (log_softmax at
 * temperature 1, no filtering), as rollout/sampler.h. The draw walks the kept tokens
 * in the CPU sampler's order (index order without top-k/top-p; probability descending,
 * then index, with them); the kept set is exactly the CPU sampler's (ties at the
 * threshold broken by lower index, as its sort). */
cada_status gpu_sample(int *tokens, float *logprob, const float *logits, const float *u, int n, int V,
                       float temperature, int top_k, float top_p, cudaStream_t stream);

/* ---- optimizer and reductions (kernels/adamw.cu) --------------------------------------- */

/* Bytes of scratch gpu_sqnorm needs. */
size_t gpu_sqnorm_scratch_bytes(size_t n);
/* *out (device double) = sum of g[i]^2 in fp64 (fixed block partition, so the same
 * value run to run). Non-finite g gives a non-finite result. */
cada_status gpu_sqnorm(double *out, void *scratch, const float *g, size_t n, cudaStream_t stream);
/* One AdamW update over n elements, in the order of learn/adamw.h (torch.optim.AdamW):
 *   g = grads * grad_scale; p *= 1 - lr * wd; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 *   p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 * params fp32 master, m, v fp32; params_bf16 (may be NULL) receives the new weights
 * rounded to bf16 in the same pass (the copy forward uses). t >= 1. */
cada_status gpu_adamw_step(float *params, cada_bf16 *params_bf16, const float *grads, float *m, float *v, size_t n,
                           float lr, float beta1, float beta2, float eps, float weight_decay, float grad_scale,
                           long long t, cudaStream_t stream);

/* ---- matmuls through cuBLASLt (kernels/matmul.cu) -------------------------------------- */

/* A cuBLASLt handle and one workspace, sized once (workspace_bytes, 0 = 32 MiB). */
typedef struct cada_gpu_blas cada_gpu_blas;
cada_status gpu_blas_create(cada_gpu_blas **out, size_t workspace_bytes);
void gpu_blas_destroy(cada_gpu_blas *b);

/* out(N, OC) = inp(N, C) @ weight(OC, C)^T (+ bias(OC)) (+ residual(N, OC)).
 * inp, weight, bias bf16; fp32 accumulation. Output:
 *   out_f32 != NULL: fp32 out; residual (fp32, may equal out_f32 or be NULL) is added
 *                    by the matmul itself (beta = 1), which fuses the residual add;
 *   else out_bf16:   bf16 out; residual must be NULL.
 * bias (may be NULL) is fused as the epilogue. */
cada_status gpu_matmul_forward(cada_gpu_blas *b, float *out_f32, cada_bf16 *out_bf16, const float *residual,
                               const cada_bf16 *inp, const cada_bf16 *weight, const cada_bf16 *bias, int N, int C,
                               int OC, cudaStream_t stream);
/* dinp(N, C) bf16 WRITES dout @ weight (may be NULL);
 * dweight(OC, C) fp32 ACCUMULATES dout^T @ inp; dbias(OC) fp32 ACCUMULATES column sums
 * of dout (may be NULL). dout, inp, weight bf16. */
cada_status gpu_matmul_backward(cada_gpu_blas *b, cada_bf16 *dinp, float *dweight, float *dbias,
                                const cada_bf16 *dout, const cada_bf16 *inp, const cada_bf16 *weight, int N, int C,
                                int OC, cudaStream_t stream);

/* ---- device memory (kernels/arena.cu) ---------------------------------------------------- */

/* One cudaMalloc per role, sized up front; named carve-outs (256-byte aligned) are
 * recorded so the arena can report what each part takes. Allocation past the capacity
 * fails with a message naming the part, its size and what is already taken. */
typedef struct cada_gpu_arena cada_gpu_arena;
cada_status gpu_arena_create(cada_gpu_arena **out, size_t capacity_bytes, const char *role);
void gpu_arena_destroy(cada_gpu_arena *a);
cada_status gpu_arena_alloc(cada_gpu_arena *a, void **ptr, size_t bytes, const char *name);
size_t gpu_arena_used(const cada_gpu_arena *a);
size_t gpu_arena_capacity(const cada_gpu_arena *a);
/* One line per part and a total, to stdout, each with MiB and share of the arena. */
void gpu_arena_report(const cada_gpu_arena *a);

#ifdef __cplusplus
}
#endif

#endif
