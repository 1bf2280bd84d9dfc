/* learn/learner.h: one optimizer step of a data-parallel learner group: micro-batches,
 * gradient reduction, optimizer sharding (plain DP, ZeRO-1, ZeRO-2, ZeRO-3), AdamW.
 *
 * Every learner rank calls cada_learner_step with the SAME global batch (all
 * trajectories of the step; a rank reads the tokens of its own micro-batches only).
 * The step:
 *   1. advantages over the global batch (learn/algo.h; identical on every rank) and
 *      the global loss totals (learn/stats.h);
 *   2. the global batch is cut into K micro-batches in order: sequences (DPO: pairs,
 *      which must be adjacent) are packed into rows of row_tokens (learn/traj.h) until
 *      the next one would exceed micro_tokens; without fixed_order, a cut whose K is not
 *      a multiple of W is redone into the next multiple of W parts of about equal
 *      tokens where they fit micro_tokens (a small batch would otherwise give one rank
 *      all of it and the others empty micro-batches: cada_learner_split); K is padded
 *      with empty micro-batches to a multiple of the W learners; each micro-batch is
 *      packed into rows only as long as its fullest row (cada_pack_tight), so short
 *      sequences cost their tokens, not row_tokens; every rank gets k = K / W of them: contiguous blocks
 *      (rank r: [r k, (r + 1) k)) for DP and ZeRO-1, interleaved (round i: micro-batch
 *      i W + r) for ZeRO-2 and ZeRO-3, whose reductions happen per round;
 *   3. per micro-batch: forward, entropy (before backward, learn/entropy.h), the loss's
 *      dlogprob, backward (one code path for both devices: the CPU model or the GPU
 *      backend below supplies forward, backward and the gradient buffer);
 *   4. gradients summed over micro-batches and ranks (losses are normalised by global
 *      totals, so the sum IS the gradient of the step's loss);
 *   5. AdamW (learn/adamw.h) on this rank's shard, with the global gradient norm;
 *      ZeRO-1/2 then all-gather the updated parameters, ZeRO-3 only the embeddings,
 *      final norm and LM head (the layers stay sharded).
 *
 * Sharding (W learners, n parameters; comm/comm.h's cada_shards, 64-byte aligned):
 *                 parameters   gradients                          AdamW m, v
 *   DP            4n           4n (model buffer, all-reduced)      8n
 *   ZeRO-1        4n           4n (model buffer; the shard is      8n/W
 *                              reduce-scattered in place into it)
 *   ZeRO-2        4n           the embedding and LM-head ranges    8n/W
 *                              of the model buffer, 2 layer
 *                              blocks, a 4n/W shard, and when a
 *                              rank has k > 1 micro-batches a 4n/W
 *                              round buffer
 *   ZeRO-3        the embedding  as ZeRO-2                           8n/W
 *                 and head ranges,
 *                 the layers' 4n/W
 *                 shard, 2 layer
 *                 blocks
 * plus, with fixed_order and k > 1, the tree accumulator's floor(log2(k + 1)) buffers:
 * full-size for DP and ZeRO-1, shard-size for ZeRO-2 (learn/accum.h).
 * Parameters stay whole on every rank: the CPU forward needs fp32 weights, so they are
 * also the master weights (on the GPU path, bf16 weights plus an fp32 master shard).
 * ZeRO-2 reduces each gradient range as backward finishes it
 * (cada_model_backward_hooked): a layer's gradients go into one of two reusable layer
 * buffers (layer_grads hook) and are reduce-scattered (non-blocking) as soon as the
 * layer is done (range_done hook) while backward continues with the next layer; the
 * embedding and LM-head ranges stay in the model's gradient buffer, whose layer part is
 * then never written (the model allocates it whole with calloc: untouched pages are
 * not resident). cada_learner_memory reports what is held.
 * ZeRO-3 shards the layers' parameters too (the embeddings, final norm and LM head,
 * which every token reads, stay whole): this rank's shard of m->params is the master
 * its AdamW updates; the passes read each layer from one of two gathered blocks
 * (model.h's cada_param_source): a forward asks for layers 0 .. L-1, a backward for
 * L-1 .. 0 (with recomputation, once for the layer's forward again and its backward),
 * and as layer l is handed out the gather of the next one starts (non-blocking
 * comm.h all-gather of a range), so it arrives while l computes. Gradients go as
 * ZeRO-2's. After the update the layer ranges of m->params outside this rank's shard
 * are stale and their pages are dropped (madvise): cada_learner_gather_params makes
 * m->params whole again for whatever reads it outside the passes (colocated rollouts,
 * the weight sync, checkpoints), and the next step drops the copy again. Bit-identity:
 * as ZeRO-2 (the gathered values are the owners' exactly).
 *
 * Reduction order and bit-identity (fixed_order = 1): local micro-batch gradients are
 * summed in the canonical tree (learn/accum.h) and across ranks in the same tree
 * (comm/comm.h), so the step's gradient is the tree over all K micro-batches in order
 * whatever W is, provided
 *   DP, ZeRO-1: k = K / W is a power of two (any W);
 *   ZeRO-2, 3:  W is a power of two (any k);
 * and then W learners end every step with the same parameters, bit for bit, as one
 * learner given the same global batch (tests/mpi). The global gradient norm for ZeRO
 * is a sum of per-shard sums of squares in double (rank order), which agrees with one
 * rank's to ~1e-16 relative; it enters the update only through the clipping factor
 * c = max_norm / (norm + 1e-6) rounded to float, so a clipped step could differ by one
 * float ulp of c in about 1 of 2^29 steps. With fixed_order = 0, DP and ZeRO-1 let the
 * model accumulate micro-batches in its gradient buffer (no extra buffers) and DP uses
 * MPI's allreduce below comm's p2p_min_bytes; ZeRO-2 adds rounds in order: results
 * then match one rank to float rounding, not bit for bit.
 *
 * Tensor parallelism (model/tp.h, CPU): m is one rank's part of the model (m->tp set)
 * and c the data-parallel group of the ranks holding the SAME part (TP rank r of every
 * TP group). Everything above then runs on the part's parameters (ZeRO shards the part),
 * with two additions over the TP group: the squared gradient norm is summed over it
 * (the replicated RMSNorm weights counted once, cada_tp_grad_sqnorm), and each token's
 * entropy combines the ranks' vocabulary slices. The result matches one learner on the
 * whole model to the rounding of the reduction order (tests/mpi/mpi_tp_test.c), not bit
 * for bit. The GPU learner refuses a TP group.
 *
 * Tokens/s counts prompt and completion tokens of the real sequences (not padding). */
#ifndef CADA_LEARN_LEARNER_H
#define CADA_LEARN_LEARNER_H

#include "comm/comm.h"
#include "learn/adamw.h"
#include "learn/algo.h"
#include "model/model.h"

typedef enum { CADA_DP = 0, CADA_ZERO1, CADA_ZERO2, CADA_ZERO3 } cada_zero_stage;

/* Sequences [first, first + count) of the global batch. */
typedef struct {
    int first, count;
} cada_micro_batch;

/* Step 2 above for t[0..n): rows of T tokens, micro_tokens a micro-batch, W learners,
 * balance (the learner's !fixed_order) redoing an uneven cut, pairs (DPO) keeping
 * adjacent pairs together. Writes K (a multiple of W) micro-batches to mb, which holds at
 * least n + W + 1. Errors: a sequence longer than T, a DPO sequence without its partner. */
cada_status cada_learner_split(const cada_traj *t, int n, int T, int micro_tokens, int W, int balance, int pairs,
                               cada_micro_batch *mb, int *K);

typedef struct {
    cada_algo_config algo;
    cada_adamw_config opt;
    cada_zero_stage zero;
    int row_tokens;   /* T of a packed row (the longest sequence must fit) */
    int micro_tokens; /* token budget of one micro-batch: rows x row_tokens <= this */
    int pad_id;       /* token of padding documents */
    int fixed_order;  /* canonical accumulation and reduction order (see above) */
    /* the CPU model's activation memory (model/model.h: whole-layer recomputation, logits
     * in chunks of rows); results do not change with either (tests/unit/test_model.c),
     * bit for bit but for the LM head's gradient, summed over chunks in another order.
     * The GPU backend takes recomputation from cada_learner_gpu_options. */
    cada_model_options model;
} cada_learner_config;

void cada_learner_config_default(cada_learner_config *c, cada_algo algo);
const char *cada_zero_name(cada_zero_stage z); /* "dp", "zero1", "zero2", "zero3" */
int cada_zero_parse(const char *name, cada_zero_stage *out);

typedef struct cada_learner cada_learner;

typedef struct {
    long long step;         /* optimizer steps attempted so far (including skipped ones) */
    int applied;            /* 0: skipped for a non-finite gradient */
    long long skipped;      /* total skipped */
    double lr, grad_norm, clip_coef;
    int micro_batches;      /* K (global, after padding) */
    int local_micro_batches;
    cada_adv_stats adv;     /* rewards, advantages, baseline */
    cada_token_stats tok;   /* summed over every rank's tokens */
    /* derived from tok (learn/stats.h, learn/policy_loss.h) */
    double loss, entropy_mean, clip_frac, ratio_mean, ratio_min, ratio_max;
    double kl_mean;         /* per token, k3: an estimate of KL(pi || pi_ref) whatever the penalty's estimator */
    double kl_reward_mean;  /* KL in the reward: mean over sequences of sum_t est (the advantage shift / kl_coef) */
    double lp_diff_mean, lp_diff_max; /* |learner - engine| log-prob per token */
    double is_weight_mean, is_weight_min, is_weight_max; /* exp(old - rollout) before truncation */
    double tis_frac;        /* tokens whose IS weight was truncated at tis_cap */
    double dpo_accuracy;
    double seconds;         /* wall time of the step on this rank */
    double tokens;          /* sequence tokens of the step (all ranks) */
    double tokens_per_s;    /* tokens / seconds */
} cada_step_metrics;

typedef struct {
    size_t n_params;
    size_t params;       /* bytes of parameters */
    size_t grads;        /* bytes of the model's gradient buffer this learner writes */
    size_t grads_alloc;  /* bytes the model allocated for gradients (ZeRO-2: whole, mostly untouched) */
    size_t grad_shard;   /* reduced-gradient shard, accumulators, ZeRO-2 layer buffers */
    size_t optimizer;    /* AdamW m and v */
    size_t comm_scratch; /* the communicator's peak scratch */
    size_t activations;  /* the model's activation arena */
    size_t total;        /* all of the above but activations and grads_alloc's untouched part */
    double bytes_per_param; /* total / n_params */
} cada_learner_memory;

/* m: the policy (parameters identical on every rank: load or broadcast first); c: the
 * learner group (a self communicator for one learner). Both outlive the learner. */
cada_status cada_learner_init(cada_learner **L, cada_model *m, cada_comm *c, const cada_learner_config *cfg);
void cada_learner_free(cada_learner *L);

/* One optimizer step on the global batch t[0..n). out may be NULL. */
cada_status cada_learner_step(cada_learner *L, const cada_traj *t, int n, cada_step_metrics *out);

/* Progress of a step on this rank: fn(ctx, done, total, tokens) is called after each of
 * this rank's local micro-batches, done = 1 .. total = K / W (the empty ones that pad K
 * to a multiple of W included, so done reaches total on every rank), tokens = the
 * sequence tokens (prompt and completion, as tokens_per_s counts them) of this rank's
 * micro-batches so far in the step. Called on the thread running cada_learner_step,
 * between micro-batches (ZeRO-2: after the round's reductions finished), so fn may print
 * or time but must not call the learner or its communicator. fn NULL removes it; none is
 * set by default. Same on both backends. */
void cada_learner_set_progress(cada_learner *L, void (*fn)(void *ctx, int done, int total, double tokens), void *ctx);

/* Run state for checkpoints: the running-mean baseline (a plain struct to save and
 * restore) and the optimizer of this rank's shard (offset, count, m, v, step). */
cada_baseline *cada_learner_baseline(cada_learner *L);
cada_adamw *cada_learner_optimizer(cada_learner *L);
/* Optimizer steps attempted so far (cada_step_metrics.step of the last step). */
long long cada_learner_steps(const cada_learner *L);

/* This rank's optimizer shard as one file (checkpoints hold one per learner rank,
 * optimizer-rank-R.bin). Layout, little-endian, 80-byte header then the data:
 *     char[8] magic "CADAOPT\0"   u32 version (1)   u32 rank   u32 world   u32 zero stage
 *     u64 n_params   u64 offset   u64 count   i64 step (AdamW t)   i64 skipped
 *     i64 learner steps   u64 reserved (0)
 *     f32 m[count]   f32 v[count]
 * Saving writes exactly that. Loading checks every header field against this learner
 * (rank, world size, ZeRO stage, parameter count, the shard's offset and count) and the
 * file's size against 80 + 8 count bytes BEFORE reading the data; any difference is
 * CADA_ERR_FORMAT naming the file and the field (a truncated or foreign shard never
 * half-loads: m, v and the counters change only when everything checked out). */
cada_status cada_learner_save_optimizer(const cada_learner *L, const char *path);
cada_status cada_learner_load_optimizer(cada_learner *L, const char *path);

void cada_learner_memory_get(const cada_learner *L, cada_learner_memory *out);

/* ---- the GPU backend (cluster.device = cuda) ----------------------------------------------
 * The same contract as above (the same global batch on every rank, the same split into
 * micro-batches, the same losses and statistics, AdamW as learn/adamw.h with its
 * global-norm clipping and non-finite skip), computed on one GPU per learner rank
 * (learn/learner_gpu.h, model/model_gpu.h: bf16 weights, fp32 master, gradients and
 * AdamW state on the device). Per micro-batch: forward on the GPU, its log-probs
 * downloaded, the loss's dlogprob computed on the host exactly as on the CPU,
 * backward on the GPU accumulating the device gradients; then, with W > 1 learners,
 * the gradients SUMMED over the learners with NCCL (losses are normalised by the global
 * totals, so the sum is the step's gradient, as on the CPU path), then AdamW on the
 * device. Data parallel only: ZeRO stages are refused (CADA_ERR_UNSUPPORTED); not bit-
 * reproducible (bf16, atomics), fixed_order has no effect.
 * The host parameters m->params are NOT updated by a step: cada_learner_pull_params
 * downloads the fp32 master weights into them (checkpoints), cada_learner_push_params
 * uploads them (after a restore; on the CPU it marks m->params whole again). The
 * optimizer shard file is the same format: m and v
 * move between the device and the file in chunks (cada_adamw.m / .v stay NULL). */
#include "learn/learner_gpu.h" /* cada_learner_gpu_options, the GPU scorer */

/* As cada_learner_init, on the GPU. Errors: CADA_ERR_UNSUPPORTED (a build without CUDA,
 * W > 1 without NCCL, a ZeRO stage), CADA_ERR_CUDA / CADA_ERR_NOMEM from the device. */
cada_status cada_learner_init_gpu(cada_learner **L, cada_model *m, cada_comm *c, const cada_learner_config *cfg,
                                  const cada_learner_gpu_options *g);
/* The learner's GPU model (NULL on the CPU backend): the colocated rollout engine
 * generates with it (rollout/engine.h, cada_generate_gpu). */
cada_gpu_model *cada_learner_gpu_model(cada_learner *L);
/* device -> m->params; CPU backend: cada_learner_gather_params */
cada_status cada_learner_pull_params(cada_learner *L);
/* m->params whole for readers other than the learner's passes (colocated rollouts, the
 * weight sync, checkpoints): with ZeRO-3 on the CPU an all-gather over the learners
 * (collective: every learner calls it); otherwise nothing. A step drops the copy again. */
cada_status cada_learner_gather_params(cada_learner *L);
cada_status cada_learner_push_params(cada_learner *L); /* m->params -> device; CPU backend: nothing */
/* The GPU model's arena report (stdout) and its device bytes (0 on the CPU backend). */
void cada_learner_gpu_report(const cada_learner *L);
size_t cada_learner_gpu_bytes(const cada_learner *L);


#ifdef CADA_HAVE_MPI
/* This rank's CUDA device: its rank among the ranks of its node (MPI_Comm_split_type
 * MPI_COMM_TYPE_SHARED over world, collective) modulo the visible GPUs. Errors name the
 * reason when no GPU is visible (or the build has no CUDA). */
cada_status cada_learner_pick_device(MPI_Comm world, int *device, int *local_rank, int *n_visible);
#endif

#endif
