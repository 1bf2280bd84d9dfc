/* model/memplan.h: device memory a rank needs, per role, before anything is allocated
 * (`cada plan`). Needs no GPU and no weights: only the model's shape.
 *
 * One formula with the GPU model: each part below is the same tensor list as the single
 * arena of model/model_gpu.h (cada_gpu_model_plan), whose accounting compiles only in
 * the CUDA build; tests/unit/test_memplan.c checks the two agree part by part there.
 * What memplan adds is the data-parallel layout of learn/learner.h over W data-parallel
 * ranks, and tensor parallelism (Megatron-LM, Shoeybi et al. 2019) over groups of P:
 *
 *   part            DP          ZeRO-1        ZeRO-2                     ZeRO-3 (planned)
 *   weights bf16    2n          2n            2n                         2(E + n/W + 2 S_l)
 *   master fp32     4n          4n/W          4n/W                       4n/W
 *                                           (learner.h: "bf16 weights plus an fp32 master shard")
 *   grads fp32      4n          4n            4(E + 2 S_l) + 4n/W [+ 4n/W when k > 1]  as ZeRO-2
 *   AdamW m, v      8n          8n/W          8n/W                       8n/W
 *
 * (n parameters of the rank; E the embedding and LM-head ranges, which ZeRO-2 keeps whole;
 * S_l one layer's parameters, two layer buffers in flight; k micro-batches per
 * data-parallel rank and step, which needs the round buffer; x/W rounds up to whole
 * parameters. ZeRO-3 keeps E whole and gathers two layers at a time, as the CPU learner
 * does; the GPU learner does not run it yet: on the GPU it is a plan.)
 *
 * Tensor parallelism (P = tp, the size of the rank's group; 1: none): each rank of a
 * group holds the part of the model that model/tp.h gives it, an ordinary model of shape
 * H/P heads, KVH/P KV heads, I/P intermediate units and V/P vocabulary rows
 * (model/tp.h's cada_tp_local_config; P must divide the four), so every formula below is evaluated
 * on that local shape:
 *   q, k, v, gate, up     split by output columns (whole heads per rank)      1/P
 *   o, down               split by input rows (an all-reduce follows)         1/P
 *   embedding, LM head    vocabulary-parallel rows (distributed log-softmax)  1/P
 *   RMSNorm weights       replicated                                          whole
 *   residual stream, normed inputs (N, C)  replicated (no sequence parallelism)  whole
 *   q/k/v/attention/gate/up activations, logits (N, V/P), KV cache (KVH/P)   1/P
 * A learner's ZeRO shards the rank's part over W = learners / P data-parallel ranks (the
 * ranks of the same TP rank in each group); learners must be a multiple of P. Inference
 * gathers the last rows' logits whole (S x V, model/tp.h), which the infer buffers count
 * whole.
 *
 * Shapes: L layers, C hidden, I intermediate, H / KVH heads, D head dim, HD = H D,
 * QKV = HD + 2 KVH D, V vocabulary, Nm = micro-batch tokens (rows of one forward),
 * S = rollout slots, M = max_len, G = prefill rows of one infer call.
 *   activations (training, fp32 residual stream and bf16 layer tensors as model_gpu.h):
 *     residual 4 (L+1) Nm C, per KEPT layer Nm (4C + 2C + 4 + 2 QKV + 2 HD + 4H + 2C + 4
 *     + 4I + 2I), final Nm (2C + 4 + 4 + 4 + 12); kept layers = L, or 1 with recompute
 *   logits      fp32 Nm V, + dlogits bf16 Nm V when training
 *   scratch     backward: Nm (4 + 4C + 2C + 2C + 2 QKV + 2 HD + 4I + 2I) + 8
 *               (the attention kernels' own scratch is not counted: it depends on the
 *               kernels' tiles; it is inside the workspace reserve)
 *   kv_cache    K and V bf16: 2 S L M KVH D 2
 *   infer       logits fp32 S V; rows G (4C + 2C + 4 + 2 QKV + 2 HD + 4H + 4I + 2I + 12)
 *               + S (4C + 2C + 4 + 12) for prefill and decode
 *   workspace   cuBLASLt 32 MiB + communication buckets 2 x 32 MiB + a CUDA context
 *               and allocator reserve of 1 GiB (CADA_MEMPLAN_RESERVE)
 *
 * Roles (a rank's total is the sum of its parts):
 *   learner    weights, master, grads, AdamW, training activations, logits, scratch,
 *              workspace
 *   rollout    weights, KV cache, infer rows and logits, workspace; with an overlapped
 *              weight sync (in->sync_copy) the weights twice: the next version lands in
 *              a second copy while the first generates
 *   reference  a frozen bf16 copy and one inference-only forward of Nm tokens
 *              (residual 2 buffers, one layer set, fp32 logits, 16 MiB staging)
 *   colocated  learner + rollout's KV cache and infer buffers (one set of weights), +
 *              the reference when it is held (every rank, kl_coef > 0)
 *   reward     reference (when held) on the reward ranks of a disaggregated layout; the
 *              rule detector needs no device memory
 *
 * Errors: CADA_ERR_ARG naming the field (non-positive sizes, learners < 1, zero not
 * 0-3, tp not dividing the model's shape or, for a learner, the learners). */
#ifndef CADA_MODEL_MEMPLAN_H
#define CADA_MODEL_MEMPLAN_H

#include "base/error.h"
#include "model/config.h"

#include <stddef.h>

#define CADA_MEMPLAN_RESERVE ((size_t)1 << 30) /* CUDA context, allocator slack */
#define CADA_MEMPLAN_BLAS ((size_t)32 << 20)   /* model_gpu.c's BLAS_WORKSPACE_BYTES */
#define CADA_MEMPLAN_COMM ((size_t)64 << 20)   /* two 32 MiB buckets (comm.h) */

typedef enum { CADA_ROLE_LEARNER = 0, CADA_ROLE_ROLLOUT, CADA_ROLE_REFERENCE, CADA_ROLE_COLOCATED } cada_mem_role;

typedef struct {
    int learners;       /* learner ranks >= 1 (W = learners / tp data-parallel ranks) */
    int zero;           /* 0 DP, 1 ZeRO-1, 2 ZeRO-2, 3 ZeRO-3 */
    int tp;             /* tensor-parallel size of this role's groups (0 or 1: none) */
    int micro_tokens;   /* Nm >= 1 */
    int micro_per_rank; /* k >= 1, per data-parallel rank */
    int recompute;      /* 0 or 1 */
    int slots;          /* S (rollout and colocated) */
    int max_len;        /* M */
    int prefill_tokens; /* G: rows of the largest infer call */
    int samples;        /* samples per prompt: they share the prompt's cache blocks */
    int reference;      /* colocated: a reference copy on every rank */
    size_t kv_pool;     /* CPU plan: the rollout's KV pool in bytes (rollout.kv_memory_mb; 0: the
                         * worst case of S slots, cada_kv_pool_blocks) */
    int rollout_bf16;   /* CPU plan: rollout.weights = bf16 (a bf16 copy of the matrices) */
    int sync_copy;      /* an overlapped weight sync (rollout.mode = async, disaggregated,
                         * cluster.sync_overlap): a rollout rank holds a second copy of its weights */
} cada_memplan_in;

typedef struct {
    size_t n_params;                     /* the whole model's */
    size_t rank_params;                  /* this rank's part of them (n_params when tp <= 1) */
    size_t weights, master, grads, adam; /* adam: m + v */
    size_t activations, logits, scratch;
    size_t kv_cache, infer;              /* infer: rows, last rows and infer logits */
    size_t reference;                    /* the frozen copy and its forward */
    size_t sync_copy;                    /* a rollout rank's second copy of its weights (in->sync_copy) */
    size_t workspace;
    size_t total;
} cada_memplan;

/* Fills p for one rank of `role` (see the top comment). */
cada_status cada_memplan_role(const cada_model_config *cfg, const cada_memplan_in *in, cada_mem_role role,
                              cada_memplan *p);

/* Host memory of one rank on the CPU path (cluster.device = cpu), from the same lists
 * the CPU model and cache allocate from (cada_model_activation_bytes,
 * cada_kv_cache_bytes), so the plan and the allocations cannot drift apart:
 * With tp > 1 it is evaluated on the rank's local shape, as the GPU plan.
 *   parameters  fp32 4n, whole on every rank (the CPU forward reads fp32 weights; they
 *               are also the master weights); a ZeRO-3 learner that does not roll out
 *               (disaggregated) holds 4 (E + n/W + 2 S_l): the outer ranges, its shard
 *               and two gathered layers (a colocated one gathers every layer to roll out)
 *   gradients   and AdamW m, v: as the GPU table above (learn/learner.h's layout)
 *   activations one micro-batch: Nm / M rows of M tokens, every layer kept or one with
 *               recompute, logits in chunks of logits_chunk rows
 *   rollout     the KV cache (fp32): a pool of blocks, kv_pool's worth (the engine runs as
 *               many sequences as it holds, preempting when they outgrow it), else for S
 *               slots x M with the full blocks of a prompt of G / S tokens counted once
 *               per group of `samples` samples (cada_kv_pool_blocks); tables for S slots
 *               (no more than the blocks) and the rows of the engine's largest call
 *               (cada_kv_call_tokens: S decode steps and the prefills of prompts of G / S
 *               tokens); it exists while a rank rolls out and is freed before it learns
 *   reference   its fp32 copy 4n and the forward of one sequence of M tokens (one kept
 *               layer: the reference never runs backward)
 *   infer_weights  rollout.weights = bf16 on a rank that rolls out: the bf16 copy of the
 *               matrices (cada_infer_weights_bytes), held for the whole run beside the
 *               fp32 parameters (the weight sync and the fp32 parts read those); on a
 *               disaggregated rollout rank the fp32 matrices are released as they are
 *               packed, so parameters counts the rest of the fp32 parameters and one
 *               sync bucket of matrices (CADA_SYNC_BUCKET_FLOATS, model/infer_weights.h)
 *   sync_copy   an overlapped sync's second copy on a rollout rank: what it holds of its
 *               weights (parameters + infer_weights as above), once more
 * peak = parameters + infer_weights + sync_copy + gradients + AdamW + reference + max(activations, rollout): the
 * phases of a colocated step do not overlap; a bf16 rollout rank's peak is the larger of
 * its load (4n, before the first pack) and parameters + infer_weights + rollout. Threads: the OpenMP threads of the rank
 * (the cache's score rows). Errors: as cada_memplan_role. */
typedef struct {
    size_t n_params, rank_params; /* as cada_memplan */
    size_t params, grads, adam, activations, rollout, reference;
    size_t infer_weights;
    size_t sync_copy;
    size_t peak;
} cada_memplan_cpu;
cada_status cada_memplan_cpu_role(const cada_model_config *cfg, const cada_memplan_in *in, int logits_chunk, int threads,
                                  cada_mem_role role, cada_memplan_cpu *p);

/* The parameters of `full` that tensor parallelism splits over a group (every matrix,
 * bias, embedding and LM-head row; not the RMSNorm weights, which every rank holds
 * whole): a rank of a group of tp holds split / tp + (all - split). */
size_t cada_memplan_tp_split_params(const cada_model_config *full);

/* Element counts the ZeRO-2 gradient term keeps whole: embedding + LM head + final norm
 * (E) and one layer's parameters (S_l), from the flat layout of model.h. */
size_t cada_memplan_whole_ranges(const cada_model_config *cfg);
size_t cada_memplan_layer_params(const cada_model_config *cfg);

/* Named shapes for planning without the weights: "llama3-8b", "llama3-70b",
 * "qwen2.5-7b", "smollm2-135m" (their published config.json values). Returns 0 and
 * fills cfg, or -1 for an unknown name. cada_memplan_presets lists the names. */
int cada_memplan_preset(const char *name, cada_model_config *cfg);
const char *cada_memplan_presets(void);

#endif
