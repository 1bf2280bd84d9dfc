/* model/model.h: the Llama-family transformer on the CPU (fp32): parameters, training
 * forward and backward over packed batches, per-token log-probabilities.
 *
 * Parameters live in ONE buffer (one allocation, one all-reduce, one optimizer sweep),
 * carved into the named views of cada_params, in the order
 *     embed | layer 0 | layer 1 | ... | layer L-1 | final_norm | lm_head (if untied)
 * with each layer one contiguous block, so that the gradients a backward pass finishes
 * layer by layer are contiguous ranges that can be reduced as soon as they are done
 * (ZeRO-2; see cada_backward_hooks). Within a layer the projections that read the same
 * input are fused: q, k and v form one (QKV, C) matrix and gate and up one (2I, C)
 * matrix, so each is a single sgemm.
 * cada_model_tensor_views() maps these views to the Hugging Face and GGUF tensor names
 * that loaders and writers use; no other module needs to know the layout.
 *
 * A batch is B rows of T tokens. Each row packs documents back to back: positions
 * restart at 0 where a document starts, attention never crosses into an earlier
 * document, and targets (the next token, or -1 for none) stop at document ends.
 *
 * Backward takes d objective / d logprob[n] for every token, so one entry point serves
 * cross-entropy (SFT: -1/count on target tokens), REINFORCE and PPO (-advantage-
 * weighted terms), DPO and KL penalties alike. */
#ifndef CADA_MODEL_MODEL_H
#define CADA_MODEL_MODEL_H

#include "base/error.h"
#include "model/config.h"

#include <stddef.h>
#include <stdint.h>

/* Per-layer tensors point into layer 0's block; layer l's copy is layer_stride floats
 * further (CADA_LAYER). */
typedef struct {
    float *embed;        /* (V, C) token embeddings */
    float *attn_norm;    /* (C) input_layernorm */
    float *qkv_w;        /* (QKV, C), QKV = (H + 2 KVH) D; rows [q | k | v] */
    float *qkv_b;        /* (QKV), Qwen2 only; NULL otherwise */
    float *o_w;          /* (C, H D) o_proj */
    float *ffn_norm;     /* (C) post_attention_layernorm */
    float *gu_w;         /* (2I, C); rows [gate | up] */
    float *down_w;       /* (C, I) */
    size_t layer_stride; /* floats from one layer's block to the next */
    float *final_norm;   /* (C) */
    float *lm_head;      /* (V, C); points at embed when embeddings are tied */
} cada_params;

/* Layer l's copy of a per-layer tensor (NULL stays NULL). */
#define CADA_LAYER(p, field, l) ((p)->field ? (p)->field + (size_t)(l) * (p)->layer_stride : (float *)0)

/* One published tensor and where it lives inside the parameter buffer. */
typedef struct {
    char hf_name[96];   /* "model.layers.3.self_attn.q_proj.weight" */
    char gguf_name[64]; /* "blk.3.attn_q.weight" */
    float *data;
    int ndim;           /* 1 or 2 */
    int64_t rows, cols; /* (out, in) for weights; (C) -> rows = C, cols = 1 */
    int rope_permuted;  /* llama.cpp stores its rows permuted (Llama q_proj / k_proj) */
    int n_rope_heads;   /* heads of that permutation */
} cada_tensor_view;

/* How a training forward spends memory (cada_model_set_options; all zero by default):
 *   recompute     0: every layer's activations are kept for backward (Lk = L below);
 *                 1: only each layer's input (residual) is kept, and backward runs the
 *                 layer's forward again, into one layer's buffers (Lk = 1), just before
 *                 its backward. The recomputed values are the forward's, bit for bit
 *                 (same operations, same shapes), so gradients do not change; the cost
 *                 is one more forward of every layer but its down projection, whose
 *                 output backward does not need.
 *   logits_chunk  rows of logits computed at once: 0 = all N (act.logits holds the whole
 *                 (N, V) after forward, as inference tools expect); R > 0: forward
 *                 computes (R, V) logits at a time, keeps log p(target) and the
 *                 log-sum-exp of each row, and backward recomputes each chunk's logits
 *                 (one more LM-head matmul) to form d/dlogits: for a 128k vocabulary no
 *                 (N, V) fp32 buffer exists. Unless R >= N, act.logits is then scratch.
 *   matmul_bf16   0: linear layers in fp32 (sgemm); 1: in bf16 arithmetic with fp32
 *                 sums (ops/bgemm.h: mixed precision as on GPUs, about 1.6x faster
 *                 where the CPU has AVX512-BF16). Parameters, gradients, activations
 *                 and attention stay fp32.
 *   targets_only  0: the LM head and log-softmax run on every row; 1: only on the rows
 *                 with a target (targets >= 0), gathered into chunks of logits_chunk
 *                 rows (all of them when 0): what a trainer needs, log p(target), for
 *                 a fraction of the work when most rows are prompt or padding (an RL
 *                 batch: the prompt's tokens have no target). Rows without a target get
 *                 log-prob 0 and lse 0, the observer sees the rows with a target only,
 *                 and act.logits is scratch. Their gradient was zero anyway (d/dlogits
 *                 of a row without a target is 0), so gradients are the same but for
 *                 the order the LM head's weight gradient sums its rows in. */
typedef struct {
    int recompute;
    int logits_chunk;
    int matmul_bf16;
    int targets_only;
} cada_model_options;

typedef struct {
    int B, T;          /* the batch shape the buffers are sized for (last forward) */
    int Lk;            /* layers whose activations are kept: L, or 1 with recompute */
    int logit_rows;    /* rows of the logits buffer: N, or the chunk */
    float *residual;   /* (L+1, N, C): input of each layer; [L] is the last output */
    float *resmid;     /* (Lk, N, C): residual after attention */
    float *xn1, *rstd1;/* (Lk, N, C), (Lk, N) */
    float *qkv;        /* (Lk, N, QKV) after RoPE */
    float *attlse;     /* (Lk, B, H, T) attention log-sum-exp per query row (for backward) */
    float *atty;       /* (Lk, N, H D) attention output before o_proj */
    float *xn2, *rstd2;/* (Lk, N, C), (Lk, N) */
    float *gu;         /* (Lk, N, 2I) */
    float *h;          /* (Lk, N, I) */
    float *xf, *rstdf; /* (N, C), (N) final norm */
    float *logits;     /* (logit_rows, V); turned into d/dlogits by backward */
    float *lse;        /* (N) log-sum-exp of each row */
    /* targets_only: the rows with a target, and one chunk of them gathered */
    int *lm_rows;      /* (N) their row indices, n_lm of them */
    int n_lm;
    float *sel_x, *sel_dx; /* (logit_rows, C) their final-norm outputs / d of those */
    float *sel_lp, *sel_lse, *sel_dlp; /* (logit_rows) */
    int *sel_tgt;      /* (logit_rows) */
    float *logprob;    /* (N) log p(target) (0 without target) */
    int *tokens, *pos, *targets; /* (N) copies of the batch */
    float *rope_cs;    /* (N, D/2, 2) the batch's rotation angles (ops.h rope_angles), for every layer */
    /* backward scratch */
    float *dres, *dxn, *dqkv, *datty, *dgu, *dh;
    size_t bytes;
} cada_activations;

/* Where a pass reads each layer's parameters (ZeRO-3, whose learners hold a shard of
 * them): layer(ctx, l, next) returns layer l's block (layer_stride floats, laid out as
 * in the parameter buffer), valid until the call after next; next is the layer the pass
 * will ask for after this one (-1: none), for prefetching. A forward asks for 0 .. L-1,
 * a backward for L-1 .. 0, each layer once per pass (before the backward's layer_grads
 * hook of that layer). NULL (the default): the parameter buffer. The embeddings, final
 * norm and LM head are always read from the parameter buffer. */
typedef struct {
    const float *(*layer)(void *ctx, int l, int next);
    void *ctx;
} cada_param_source;

/* A tensor-parallel group (model/tp.h). */
typedef struct cada_tp cada_tp;
struct cada_infer_weights;

typedef struct {
    cada_model_config cfg; /* this rank's shape: with tp, its part of the model (tp.h) */
    float *params;   /* one buffer of n_params floats */
    const cada_param_source *param_source; /* NULL, or where layers' parameters come from */
    const cada_tp *tp; /* NULL, or the tensor-parallel group this rank's part belongs to */
    size_t n_params;
    cada_params p;
    float *grads;    /* same layout, allocated by cada_model_alloc_grads */
    cada_params g;
    float *inv_freq; /* (D/2) RoPE inverse frequencies */
    cada_activations act;
    cada_model_options opt;
    int n_valid;     /* tokens with a target in the last forward */
    float loss;      /* mean -logprob over them */
    char source[512];/* the path it was loaded from */
    struct cada_infer_weights *bf16; /* NULL, or a bf16 copy of the matrices that cada_model_infer
                                      * uses (model/infer_weights.h): one allocation, freed with
                                      * the model */
} cada_model;

typedef struct {
    int B, T;
    const int *tokens;    /* (B, T) in [0, V) */
    const int *positions; /* (B, T) position inside the document */
    const int *targets;   /* (B, T) next token of the same document, or -1 */
} cada_batch;

/* Allocates zeroed parameters for cfg. */
cada_status cada_model_init(cada_model *m, const cada_model_config *cfg);
void cada_model_free(cada_model *m);
/* Exchanges the weights of two models of one configuration: their parameter buffers with
 * the views into them, and their bf16 copies (model/infer_weights.h). A sync that landed
 * in a second copy becomes the model's at the cost of three pointers. */
void cada_model_swap_weights(cada_model *a, cada_model *b);
cada_status cada_model_alloc_grads(cada_model *m);
void cada_model_zero_grads(cada_model *m);

/* Number of published tensors; fills views when not NULL. */
int cada_model_tensor_views(const cada_model_config *cfg, const cada_params *p, cada_tensor_view *views);

/* The whole model's vocabulary size (cfg.vocab_size is this rank's part under tp). */
int cada_model_vocab(const cada_model *m);

/* Checks a batch (ids in range, positions that restart only at 0 and otherwise count
 * up by one, targets in [-1, V)); errors name the row and column. */
cada_status cada_batch_validate(const cada_batch *b, int vocab_size);

/* Sets how training passes spend memory (see cada_model_options); frees the activation
 * buffers, which the next forward sizes anew. Errors name the bad field. */
cada_status cada_model_set_options(cada_model *m, const cada_model_options *o);
/* Bytes of the activation arena a forward of B x T tokens allocates under options o
 * (what ensure_activations allocates; `cada plan` uses it for the CPU path). */
size_t cada_model_activation_bytes(const cada_model_config *c, int B, int T, const cada_model_options *o);

/* Forward: fills act.lse, act.logprob, m->loss / m->n_valid, and act.logits (all of
 * them when opt.logits_chunk is 0). */
cada_status cada_model_forward(cada_model *m, const cada_batch *b);

/* Sees the logits as forward makes them, chunk by chunk: fn(ctx, logits, lse, row_of,
 * rows) with logits (rows, V) and their log-sum-exp (rows), logits row i being batch row
 * row_of[i], in row order, once per row (every row; with opt.targets_only the rows with a
 * target). For what needs every logit but not all at once (the policy's entropy,
 * learn/entropy.h). With m->tp the logits are this rank's (rows, V/P) vocabulary columns
 * and lse is the whole vocabulary's: a sum over the columns is this rank's part of the
 * whole (the caller reduces it over the group). */
typedef struct {
    void (*fn)(void *ctx, const float *logits, const float *lse, const int *row_of, int rows);
    void *ctx;
} cada_logits_observer;
cada_status cada_model_forward_observed(cada_model *m, const cada_batch *b, const cada_logits_observer *obs);
/* Backward of the last forward for objective J with dlogprob[n] = dJ/dlogprob[n]
 * (B*T values); ACCUMULATES into m->grads (call cada_model_zero_grads first).
 * Overwrites act.logits. */
cada_status cada_model_backward(cada_model *m, const float *dlogprob);

/* Offset and length, in floats of the parameter buffer, of layer l's block. */
void cada_model_layer_range(const cada_model *m, int l, size_t *offset, size_t *count);

/* Hooks into backward, for learners that reduce gradients while backward runs.
 * Gradients become final in this order: [final_norm, end of buffer) (final norm, and
 * the LM head when untied), then layer L-1 down to layer 0 (cada_model_layer_range),
 * then [0, first layer) (the embeddings, which with tied weights also hold the LM
 * head's gradient). range_done(ctx, offset, count) is called as each range becomes
 * final (offsets in floats into the gradient buffer layout).
 * layer_grads(ctx, l), when set, supplies the buffer (layer_stride floats, laid out as
 * a layer block, zeroed or holding earlier micro-batches' sums) that layer l's
 * gradients accumulate into instead of m->grads; range_done then refers to it. */
typedef struct {
    void (*range_done)(void *ctx, size_t offset, size_t count);
    float *(*layer_grads)(void *ctx, int layer);
    void *ctx;
} cada_backward_hooks;
cada_status cada_model_backward_hooked(cada_model *m, const float *dlogprob, const cada_backward_hooks *hooks);

/* dlogprob for the mean cross-entropy over tokens with a target: -1/count there. */
void cada_ce_dlogprob(const int *targets, int n, float *dlogprob);

#endif
