/* model/infer_weights.h: a bf16 copy of the model's matrices for inference.
 *
 * Decode at few rows reads every weight once per token and is bound by memory
 * bandwidth; a bf16 copy halves those bytes (ops/gemm_bf16.h). cada_model_infer uses
 * the copy when the model holds one (m->bf16 set), for the five projections per layer
 * and model (q/k/v, o, gate/up, down, LM head); the embedding lookup, norms, biases, RoPE,
 * attention and the KV cache stay fp32. The training forward (model.h) never reads it.
 *
 * Memory: the copy is one allocation of cada_infer_weights_bytes(cfg), 2 bytes per
 * element of those matrices (SmolLM2-135M: 269 MB, beside its 540 MB fp32 parameters;
 * with tied embeddings the LM head is packed as a matrix of its own, 56.6 MB of that).
 * The fp32 parameters stay: the embedding, norms and biases are read from them, and the
 * weight sync (sched/weight_sync.h) and checkpoints write them; the copy is made from
 * them.
 *
 * Staleness: the copy is a function of the fp32 parameters at one moment. It carries the
 * policy version it was packed from (-1: unknown, e.g. right after loading). Whoever
 * changes the parameters repacks (the weight sync does, with the version it received);
 * cada_infer_weights_refresh repacks when asked for another version (the rollout stage
 * calls it with the version it samples, which covers learners that update in place). */
#ifndef CADA_MODEL_INFER_WEIGHTS_H
#define CADA_MODEL_INFER_WEIGHTS_H

#include "model/model.h"

#include <stdint.h>

typedef struct cada_infer_weights {
    uint16_t *buf;        /* one allocation: layer 0 | ... | layer L-1 | lm_head */
    uint16_t *qkv, *o;    /* layer 0's: (QKV, C), (C, H D) */
    uint16_t *gu, *down;  /* layer 0's: (2I, C), (C, I) */
    size_t layer_stride;  /* bf16 elements from one layer's block to the next */
    uint16_t *lm_head;    /* (V, C) */
    size_t bytes;
    long long version;    /* policy version of the parameters packed; -1: unknown */
} cada_infer_weights;

/* Layer l's copy of a packed matrix, or NULL without a pack (fp32 then). */
#define CADA_BF16_LAYER(b, field, l) ((b) ? (b)->field + (size_t)(l) * (b)->layer_stride : (uint16_t *)0)

/* Bytes of the pack for cfg (`cada plan` counts them on the rollout ranks). */
size_t cada_infer_weights_bytes(const cada_model_config *cfg);
/* Packs m's fp32 matrices into m->bf16 (allocated on first use), tagged `version`.
 * Fails when the CPU kernel choice is bad (CADA_CPU_KERNELS, base/cpu.h) or on memory. */
cada_status cada_infer_weights_pack(cada_model *m, long long version);
/* Repacks when m holds a pack of another version than `version`; nothing otherwise. */
cada_status cada_infer_weights_refresh(cada_model *m, long long version);
/* Frees the pack: cada_model_infer reads the fp32 parameters again. */
void cada_infer_weights_drop(cada_model *m);

#endif
