/* model/model_gpu.h: the Llama/Qwen2 transformer of model/model.h on one GPU, built from
 * the launchers of kernels/gpu_ops.h: training forward and backward over packed batches,
 * AdamW, and KV-cache inference with sampling.
 *
 * CUDA-aware code only: this header needs the CUDA build (CADA_HAVE_CUDA, and the
 * include paths -I$(CUDA_HOME)/include -Ikernels that the Makefile adds with it); in the
 * CPU-only build model_gpu.c compiles to nothing and nothing may include this file.
 *
 * It mirrors the CPU model op for op (same parameter layout, same order of operations),
 * in Megatron-style mixed precision (gpu_ops.h): bf16 weights and in-layer matmul
 * inputs/outputs, fp32 residual stream, norm statistics, log-probs, gradients and
 * optimizer state. Not bit-reproducible run to run (atomics in some backward kernels);
 * the CPU model is the exact reference.
 *
 * Shapes: L layers, C hidden, I intermediate, H / KVH query / kv heads, D head dim,
 * HD = H D, QKV = (H + 2 KVH) D, V vocabulary, n = n_params, B x T the batch of a
 * forward (N = B T <= Nmax = max_tokens), S = kv_slots, M = kv_max_len,
 * G = gen_max_tokens, S' = min(S, G) (sequences per infer call).
 *
 * Device memory: ONE arena (gpu_arena_create), sized up front by cada_gpu_model_plan,
 * which needs no GPU and so tells a user whether a configuration fits. Its parts:
 *   weights      bf16 (n): the SAME flat layout as cada_model.params (embed | layer 0
 *                | ... | layer L-1 | final_norm | lm_head if untied; fused qkv and
 *                gate/up), so CADA_LAYER offsets and cada_model_layer_range apply to it
 *                unchanged; + inv_freq fp32 (D/2)
 *   master       fp32 (n) master parameters               (training only)
 *   grads        fp32 (n) same layout, ACCUMULATED by backward (training only)
 *   adam_m/v     fp32 (n) each                              (training only)
 *   activations  residual fp32 (L+1, Nmax, C) (inference-only forward: 2 ping-pong
 *                buffers), and per kept layer: resmid fp32 (Nmax, C), xn1 / xn2 bf16
 *                (Nmax, C), rstd1 / rstd2 fp32 (Nmax), qkv bf16 (Nmax, QKV) after RoPE,
 *                atty bf16 (Nmax, HD), attention lse fp32 (Nmax H), gu bf16 (Nmax, 2I),
 *                h bf16 (Nmax, I); kept layers: L, or 1 with recompute (or without
 *                training); final xf bf16 (Nmax, C), rstdf, vocabulary lse, logprob
 *                fp32 (Nmax), tokens / pos / targets int (Nmax), entropy fp32 (Nmax)
 *   logits       fp32 (Nmax, V) (written once by the LM head, read by the gather and
 *                its backward), dlogits bf16 (Nmax, V) (training), inference logits
 *                fp32 (S', V)
 *   kv_cache     K and V bf16 (S, L, M, KVH D) each
 *   scratch      backward: dres fp32 (Nmax, C), its bf16 copy, dxn bf16 (Nmax, C), dqkv
 *                bf16 (Nmax, QKV), datty bf16 (Nmax, HD), dgu bf16 (Nmax, 2I), dh bf16
 *                (Nmax, I), dlogprob fp32 (Nmax), attention-backward scratch for the
 *                worst B x T with B T <= Nmax; gradient-norm scratch; inference rows
 *                (G of each of x, xn, qkv, atty, lse, gu, h; S' last rows), decode
 *                scratch; an fp32 staging buffer of up to 4 Mi floats (inference-only
 *                models, for uploads and downloads)
 *   blas_workspace  the cuBLASLt workspace (gpu_blas_create; outside the arena)
 *
 * Recompute (activation recomputation): with recompute = 1 only each layer's input
 * (the residual stream) is kept; backward re-runs layer l's forward (up to its SwiGLU)
 * into the one set of layer buffers just before layer l's backward. One extra forward
 * per step for about (L-1)/L of the layer activations.
 *
 * Streams: the model owns one cudaStream_t; every launch goes on it. Functions that
 * return host data (forward, infer with logits, sample, adamw_step, downloads)
 * synchronise it; backward, zero_grads and uploads do not (cada_gpu_model_sync).
 * The model runs on the device that is current when it is created.
 *
 * Shapes the kernels take: D in {64, 128} (attention); C, I and QKV multiples of 8, so
 * that every tensor of the flat buffer starts 16-byte aligned as cuBLASLt requires
 * (else the first matmul fails with an error naming the pointer).
 *
 * Errors: CADA_ERR_ARG for bad calls (naming the argument), CADA_ERR_UNSUPPORTED for what
 * this model does not do (a mixed prefill/decode call), CADA_ERR_NOMEM when the arena
 * does not fit, CADA_ERR_CUDA from CUDA; launcher failures are wrapped with the layer
 * and op ("layer 3: attention backward"). */
#ifndef CADA_MODEL_MODEL_GPU_H
#define CADA_MODEL_MODEL_GPU_H

#ifndef CADA_HAVE_CUDA
#error "model/model_gpu.h needs the CUDA build (CADA_HAVE_CUDA)"
#endif

#include "base/error.h"
#include "gpu_ops.h"
#include "learn/adamw.h"
#include "model/config.h"
#include "model/infer.h"
#include "model/model.h"
#include "rollout/sampler.h"

#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int max_tokens;     /* Nmax = B*T the forward/backward buffers hold; 0: none */
    int training;       /* 1: fp32 master, grads, AdamW m and v, backward buffers
                           (needs max_tokens > 0) */
    int recompute;      /* 1: keep only each layer's input; backward recomputes the layer */
    int kv_slots;       /* S; 0: no KV cache (no infer) */
    int kv_max_len;     /* M tokens per slot */
    int gen_max_tokens; /* G: new tokens per infer call, summed over its sequences */
} cada_gpu_model_options;

/* Bytes of each part (see the top comment); arena = every part but blas_workspace,
 * total = arena + blas_workspace. */
typedef struct {
    size_t n_params;
    size_t weights, master, grads, adam_m, adam_v;
    size_t activations, logits, kv_cache, scratch;
    size_t blas_workspace;
    size_t arena, total;
} cada_gpu_model_plan_out;

typedef struct cada_gpu_model cada_gpu_model;

/* Validates cfg and opt (errors name the option) and fills p. Needs no GPU. */
cada_status cada_gpu_model_plan(const cada_model_config *cfg, const cada_gpu_model_options *opt,
                                cada_gpu_model_plan_out *p);

/* A model with host's configuration and parameters (host->params uploaded: fp32 master
 * when training, and its bf16 rounding). host is not referenced afterwards. */
cada_status cada_gpu_model_create(cada_gpu_model **out, const cada_model *host, const cada_gpu_model_options *opt);
/* A model with parameters drawn on the device (no host copy; for benchmarks on large
 * shapes): matrices and embeddings N(0, 0.02^2) from gpu_fill_normal keyed by seed,
 * norm weights 1, biases 0. */
cada_status cada_gpu_model_create_random(cada_gpu_model **out, const cada_model_config *cfg, uint64_t seed,
                                         const cada_gpu_model_options *opt);
void cada_gpu_model_free(cada_gpu_model *gm); /* NULL is fine */

/* gpu_arena_report of the model's arena (stdout), then the cuBLASLt workspace line. */
void cada_gpu_model_report(const cada_gpu_model *gm);
const cada_gpu_model_plan_out *cada_gpu_model_plan_of(const cada_gpu_model *gm);
const cada_model_config *cada_gpu_model_config(const cada_gpu_model *gm);
const cada_gpu_model_options *cada_gpu_model_options_of(const cada_gpu_model *gm);
size_t cada_gpu_model_n_params(const cada_gpu_model *gm);
/* Device pointers (NULL when absent): the fp32 gradients (n_params, the flat layout; for
 * a caller's data-parallel all-reduce on cada_gpu_model_stream before adamw_step) and
 * the bf16 weights. */
float *cada_gpu_model_grads(cada_gpu_model *gm);
const cada_bf16 *cada_gpu_model_weights(const cada_gpu_model *gm);
cudaStream_t cada_gpu_model_stream(const cada_gpu_model *gm);
/* Waits for the stream; surfaces a kernel's execution error. */
cada_status cada_gpu_model_sync(cada_gpu_model *gm);

/* Training forward of a packed batch (host arrays; checked by cada_batch_validate; B*T
 * <= max_tokens). Synchronises; then the log-probs (B*T floats, 0 where target < 0)
 * are on the host, and loss / n_valid are as cada_model_forward's. */
cada_status cada_gpu_model_forward(cada_gpu_model *gm, const cada_batch *b);
const float *cada_gpu_model_logprobs(const cada_gpu_model *gm); /* host, (B*T) of the last forward */
float cada_gpu_model_loss(const cada_gpu_model *gm, int *n_valid); /* n_valid may be NULL */

/* Backward of the last forward, dlogprob_host (B*T) = dJ/dlogprob as model.h; gradients
 * ACCUMULATE into the device grads (cada_gpu_model_zero_grads first). Training models
 * only. May be called again for the same forward (the logits are not overwritten). */
cada_status cada_gpu_model_backward(cada_gpu_model *gm, const float *dlogprob_host);

/* The policy's entropy summed over the last forward's rows that have a target (>= 0),
 * as learn/entropy.h's cada_token_entropy with mask = the batch's targets: per row on
 * the device (gpu_token_entropy), the rows then summed on the host in row order.
 * Call after cada_gpu_model_forward (before or after backward: the logits stay).
 * Synchronises. */
cada_status cada_gpu_model_entropy(cada_gpu_model *gm, double *sum);
cada_status cada_gpu_model_zero_grads(cada_gpu_model *gm);

/* One AdamW update of all parameters with update count t (>= 1), as learn/adamw.c:
 * global norm = sqrt(gpu_sqnorm(grads)); clip coefficient cada_clip_coef(max_grad_norm,
 * norm) (learn/adamw.h); lr = cada_lr_at(cfg, t). A non-finite norm SKIPS
 * the step (nothing changes; the caller must not advance t) and returns CADA_OK with the
 * non-finite norm in *grad_norm_out (may be NULL); cada_gpu_model_adamw_skipped counts
 * skips. Writes the fp32 master and the bf16 weights in one pass. Synchronises. */
cada_status cada_gpu_model_adamw_step(cada_gpu_model *gm, const cada_adamw_config *cfg, long long t,
                                      double *grad_norm_out);
long long cada_gpu_model_adamw_skipped(const cada_gpu_model *gm);

/* host: n_params floats in the flat layout. download_params reads the fp32 master when
 * training, else the bf16 weights widened to fp32. upload_params writes the master
 * (training) and the bf16 weights. Downloads synchronise. */
cada_status cada_gpu_model_download_params(cada_gpu_model *gm, float *host);
cada_status cada_gpu_model_download_grads(cada_gpu_model *gm, float *host);
cada_status cada_gpu_model_upload_params(cada_gpu_model *gm, const float *host);
/* AdamW's first and second moments of the elements [offset, offset + count) of the flat
 * layout (training models), for optimizer checkpoints: m_host and v_host hold count
 * floats each. The update count t is the caller's (adamw_step takes it), so these and
 * t are the whole optimizer state. Downloads synchronise; uploads are stream-ordered
 * before any later adamw_step. */
cada_status cada_gpu_model_download_adamw(cada_gpu_model *gm, size_t offset, size_t count, float *m_host,
                                          float *v_host);
cada_status cada_gpu_model_upload_adamw(cada_gpu_model *gm, size_t offset, size_t count, const float *m_host,
                                        const float *v_host);

/* KV-cache inference with the semantics of cada_model_infer (infer.h), restricted to
 * two kinds of call:
 *   prefill: every sequence's slot is empty; its whole prompt is one packed document
 *            (positions 0..n-1) of a single attention_forward, then appended;
 *   decode:  every sequence brings exactly one token (appended, then attends to its
 *            slot's cache).
 * Anything else is CADA_ERR_UNSUPPORTED. At most kv_slots sequences and gen_max_tokens
 * tokens per call; a slot may not overflow kv_max_len. The logits of each sequence's
 * last token stay on the device (n_seqs, V) for cada_gpu_model_sample and are copied to
 * logits_host (n_seqs, V) when it is not NULL (then the call synchronises). */
cada_status cada_gpu_model_infer(cada_gpu_model *gm, const cada_infer_seq *seqs, int n_seqs, float *logits_host);
/* Samples one token per row of the last infer call's logits (rows 0..n_seqs-1) with
 * gpu_sample: u_host (n_seqs) uniforms in [0, 1) from the caller's streams, sp as
 * rollout/sampler.h (temperature 0 = greedy). tokens_host (n_seqs) receives the tokens,
 * logprob_host (n_seqs, may be NULL) their model log-probs. Synchronises. */
cada_status cada_gpu_model_sample(cada_gpu_model *gm, int n_seqs, const float *u_host, const cada_sampling *sp,
                                  int *tokens_host, float *logprob_host);
cada_status cada_gpu_model_clear_slot(cada_gpu_model *gm, int slot);
int cada_gpu_model_slot_len(const cada_gpu_model *gm, int slot); /* -1 for a bad slot */

/* Model FLOPs per token for MFU (Megatron / PaLM accounting), T = attention length:
 *   training:     6 P + 12 L H D T
 *   forward only: 2 P +  4 L H D T
 * with P = parameters without the input embedding but with the LM head (counted even
 * when tied, since its matmul runs): L * per-layer + C + V C. The attention term counts
 * FULL T x T attention: the causal halving is NOT applied (nor any saving from packed
 * documents), as in the PaLM paper's MFU; halve that term for a causal-only count. */
double cada_gpu_model_flops_per_token(const cada_model_config *cfg, int T, int training);

#endif
