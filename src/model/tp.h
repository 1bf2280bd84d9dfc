/* model/tp.h: tensor parallelism of the Llama-family model (Megatron style), one
 * implementation over any transport.
 *
 * A group of P ranks holds one model between them. Rank r keeps
 *   - attention heads [r H/P, (r+1) H/P) and KV heads [r KVH/P, (r+1) KVH/P): its rows
 *     of q, k and v (the QKV projection split by output columns, whole heads per rank,
 *     so attention and the KV cache are local) and the matching input columns of o_proj;
 *   - intermediate units [r I/P, (r+1) I/P): rows of gate and up, input columns of down;
 *   - vocabulary rows [r V/P, (r+1) V/P) of the embedding and of the LM head;
 *   - the RMSNorm weights whole (replicated).
 * Its local model is an ordinary cada_model whose configuration has H/P heads, KVH/P KV
 * heads, I/P intermediate units and V/P vocabulary rows (cada_tp_local_config), with
 * m->tp set; model/tp_slice.h cuts it from a whole model (and any buffer of the
 * parameter layout), and sums a gradient norm over the group. The passes of model.c and infer.c then communicate
 * where a partial sum becomes whole, (N, C) each time:
 *   forward:  the embedding (each rank fills the rows of the tokens it owns, zeros
 *             elsewhere) -> all-reduce; o_proj's output -> all-reduce; down's output ->
 *             all-reduce; the LM head gives each rank its (rows, V/P) logits, and the
 *             log-softmax combines each row's per-rank max and sum of exponentials
 *             (one all-gather of 3 floats a row): no rank ever holds a row's full
 *             logits in training;
 *   backward: d(input of qkv), d(input of gate/up) and d(final norm's output) ->
 *             all-reduce (the conjugates of the forward's).
 * Between two all-reduces everything is replicated bit for bit (an all-reduce gives
 * every rank the same sum), so the norms' gradients need no reduction over the group,
 * and a data-parallel reduction across groups pairs ranks of the same TP rank.
 * Inference (infer.h) gathers the last rows' logits whole on every rank (n_seqs x V,
 * small), so every rank samples the same tokens from the same stream.
 *
 * Requirements, checked with errors naming the field: P divides num_attention_heads,
 * num_key_value_heads, intermediate_size and vocab_size (llama3-70b: 64, 8, 28672,
 * 128256: P = 8 works; SmolLM2-135M: 9, 3, 1536, 49152: P = 3).
 *
 * Transport: a group is two functions and a context. cada_tp_init_comm binds them to a
 * cada_comm (MPI on the CPU, with the fixed reduction order, so the sum is the same
 * on every rank and does not depend on MPI's algorithm choice); a NCCL communicator
 * binds the same two calls on the GPU. */
#ifndef CADA_MODEL_TP_H
#define CADA_MODEL_TP_H

#include "comm/comm.h"
#include "model/config.h"

#include <stddef.h>

typedef struct cada_tp cada_tp; /* also declared by model/model.h */

struct cada_tp {
    int rank, size;
    int vocab_size;   /* V of the whole model */
    int vocab_offset; /* rank * V / P: this rank's first row of the embedding and LM head */
    /* buf[0..n) summed over the group, in place; the same result on every rank */
    cada_status (*allreduce_sum)(void *ctx, float *buf, size_t n);
    /* buf holds size x n_each floats; rank r's part [r n_each, (r+1) n_each) is gathered
     * into every rank's buf, in place */
    cada_status (*allgather)(void *ctx, float *buf, size_t n_each);
    /* buf[0..n) of doubles summed over the group, in place (norms and statistics) */
    cada_status (*allreduce_sum_f64)(void *ctx, double *buf, int n);
    void *ctx;
};

/* The configuration of one rank's part of `full` over P ranks (errors name the field
 * that P does not divide). P = 1 copies full. */
cada_status cada_tp_local_config(const cada_model_config *full, int P, cada_model_config *local);

/* Binds tp to the ranks of `group` (rank and size from it) for a model of shape full.
 * Sets the communicator's fixed reduction order. group must outlive tp. */
cada_status cada_tp_init_comm(cada_tp *tp, cada_comm *group, const cada_model_config *full);

/* ---- the passes' pieces (model.c, infer.c) ------------------------------------------ */

/* out (N, C) = embedding rows of tokens (whole vocabulary ids), summed over the group:
 * table is this rank's (V/P, C) slice. */
cada_status cada_tp_embedding_forward(const cada_tp *tp, float *out, const int *tokens, const float *table, int N, int C);
/* dtable (V/P, C) += dout rows of the tokens this rank owns. */
void cada_tp_embedding_backward(const cada_tp *tp, float *dtable, const float *dout, const int *tokens, int N, int C);
/* logits: (rows, V/P), this rank's columns; targets: whole-vocabulary ids or -1.
 * Writes, identically on every rank, lse[r] (the log-sum-exp over the whole vocabulary)
 * and logprob[r] = logit of target - lse (0 without target). */
cada_status cada_tp_logsoftmax_gather(const cada_tp *tp, float *logprob, float *lse, const float *logits,
                                      const int *targets, int rows, int Vl);
/* In place: logits (rows, V/P) -> d objective / d logits of this rank's columns, given
 * dlogprob per row (as logsoftmax_gather_backward of ops.h). */
void cada_tp_logsoftmax_gather_backward(const cada_tp *tp, float *logits, const float *lse, const int *targets,
                                        const float *dlogprob, int rows, int Vl);

#endif
