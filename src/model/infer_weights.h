/* model/infer_weights.h: a bf16 copy of the model's matrices for inference.
 *
 * Decode at few rows reads every weight once per token and is bound by memory
 * bandwidth; a bf16 copy halves those bytes (ops/gemm_bf16.h). cada_model_infer uses
 * the copy when the model holds one (m->bf16 set), for the five projections per layer
 * and model (q/k/v, o, gate/up, down, LM head); the embedding lookup, norms, biases, RoPE,
 * attention and the KV cache stay fp32. The training forward (model.h) never reads it.
 * A tensor-parallel part (model/tp.h) packs its own slices: the sizes come from m->cfg,
 * the part's shape.
 *
 * Each matrix is held in gemm_bf16's panel layout (ops/gemm_bf16.h: 16 output rows
 * interleaved by input pairs, so a decode step reads each thread's weights front to back
 * and sums in vector lanes), rows padded to 16 and columns to 2 with zeros.
 *
 * What is held, and why both precisions: the engine keeps ONE bf16 copy of each matrix
 * (cada_infer_weights_bytes(cfg), 2 bytes per element, one allocation; SmolLM2-135M:
 * 269 MB, beside its 540 MB fp32 parameters; with tied embeddings the LM head is packed
 * as a matrix of its own, 56.6 MB of that) and reads no fp32 matrix while it is set. The
 * fp32 parameters stay in the same process because something else owns them: the
 * embedding rows, norms and biases the engine still reads in fp32 live in the same
 * buffer (model.h: one allocation of n_params floats); on a colocated rank the learner
 * updates them in place; on a rollout rank they are the buffer the weight sync
 * (sched/weight_sync.h, sched/reshard.h) receives into, the copy's source, and there
 * the fp32 matrices are packed and released bucket by bucket as they land (below), so
 * only their pages of the bucket in flight are resident. `cada bench generate
 * --weights bf16` holds both on purpose: fp32 is its peer.
 *
 * Staleness: the copy is a function of the fp32 parameters at one moment. It carries the
 * policy version it was packed from (-1: unknown, e.g. right after loading). Whoever
 * changes the parameters repacks (the weight sync does, with the version it received);
 * cada_infer_weights_refresh repacks when asked for another version (a colocated step
 * calls it with the version it samples, as its learner updated the weights in place).
 * The rollout stage refuses a copy of another version than the one it samples
 * (sched/rollout_stage.h). */
#ifndef CADA_MODEL_INFER_WEIGHTS_H
#define CADA_MODEL_INFER_WEIGHTS_H

#include "model/model.h"

#include <stdint.h>

typedef struct cada_infer_weights {
    uint16_t *buf;        /* layer 0 | ... | layer L-1 | lm_head, inside the allocation of this
                           * header (so cada_model_free frees both with one free()) */
    uint16_t *qkv, *o;    /* layer 0's, in panels (ops/gemm_bf16.h): (QKV, C), (C, H D) */
    uint16_t *gu, *down;  /* layer 0's, in panels: (2I, C), (C, I) */
    size_t layer_stride;  /* bf16 elements from one layer's block to the next */
    uint16_t *lm_head;    /* (V, C), in panels */
    size_t bytes;
    long long version;    /* policy version of the parameters packed; -1: unknown */
} cada_infer_weights;

/* Layer l's copy of a packed matrix, or NULL without a pack (fp32 then). */
#define CADA_BF16_LAYER(b, field, l) ((b) ? (b)->field + (size_t)(l) * (b)->layer_stride : (uint16_t *)0)

/* Bytes of the pack's matrices for cfg (`cada plan` counts them on the rollout ranks;
 * the header beside them adds 64). */
size_t cada_infer_weights_bytes(const cada_model_config *cfg);
/* Packs m's fp32 matrices into m->bf16 (allocated on first use), tagged `version`.
 * Fails when the CPU kernel choice is bad (CADA_CPU_KERNELS, base/cpu.h) or on memory. */
cada_status cada_infer_weights_pack(cada_model *m, long long version);
/* Packs when m holds no pack or one of another version than `version`; nothing otherwise. */
cada_status cada_infer_weights_refresh(cada_model *m, long long version);
/* For a rank whose fp32 parameters only receive the weight sync (a disaggregated
 * rollout rank): pack_range packs the matrix elements among parameters [off, off + n)
 * (a range the sync has just written; the copy must exist, its version is the caller's
 * to set once every range has landed), and release_fp32 returns the fp32 matrices'
 * whole pages in that range to the system (madvise: they read as zeros until written
 * again; the tied embedding, which the lookup reads, is kept). Packing and releasing
 * bucket by bucket as the sync lands keeps one bucket of fp32 matrices resident instead
 * of all of them: the rank then holds the bf16 copy, the fp32 embedding, norms and
 * biases (SmolLM2-135M: 269 + 114 MB instead of 269 + 540). Nothing may read the fp32
 * matrices afterwards: cada_model_infer does not while the copy is set. */
cada_status cada_infer_weights_pack_range(cada_model *m, size_t off, size_t n);
/* fp32 values release_fp32 returns over the whole model (the packed matrices less a tied
 * LM head): what cada plan takes off such a rank's parameters. */
size_t cada_infer_weights_released_floats(const cada_model_config *cfg);
/* The weight broadcast's bucket (sched/weight_sync.c, 64 MiB): the most fp32 matrix
 * values such a rank holds at once during a sync (cada plan counts it). */
#define CADA_SYNC_BUCKET_FLOATS ((size_t)16 << 20)
/* cada_infer_weights_pack, each matrix's fp32 pages released as soon as it is packed
 * (the start of such a rank: the two copies are never resident whole together). */
cada_status cada_infer_weights_pack_and_release(cada_model *m, long long version);
void cada_infer_weights_release_fp32(cada_model *m, size_t off, size_t n);
/* Allocates m's pack without filling it (version -1), when m has none: a copy that
 * cada_infer_weights_pack_range will fill as a sync lands (the second copy an overlapped
 * sync receives into, sched/disagg.c). */
cada_status cada_infer_weights_alloc(cada_model *m);
/* Frees the pack: cada_model_infer reads the fp32 parameters again. */
void cada_infer_weights_drop(cada_model *m);

#endif
