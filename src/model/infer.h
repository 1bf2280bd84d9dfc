/* model/infer.h: incremental inference with a KV cache (generation and scoring).
 *
 * One call advances any number of sequences at once: each brings a chunk of new tokens
 * (a whole prompt for prefill, one token for a decode step) and its cache slot. All
 * chunks' tokens go through the per-layer matmuls together as one (N, C) matrix, so a
 * prefill and many decode steps share each sgemm (what continuous batching needs);
 * attention is per sequence, against that slot's cached keys and values.
 *
 * The arithmetic is the training forward's (model.h) in the same fp32 order per token,
 * so log-probs of sampled tokens agree with what a learner recomputes (tested; the
 * maximum difference is reported by the engine tests).
 *
 * Cache layout: k and v are (slots, L, max_len, KVH * D) fp32. Memory per token is
 * cada_config_kv_bytes_per_token(cfg, 4). */
#ifndef CADA_MODEL_INFER_H
#define CADA_MODEL_INFER_H

#include "model/model.h"

typedef struct {
    int n_slots, max_len;
    int n_layers, kv_dim; /* KVH * D */
    float *k, *v;         /* (n_slots, L, max_len, KVH * D) */
    int *len;             /* (n_slots) tokens cached per slot */
    /* scratch for up to max_tokens new tokens per call */
    int max_tokens;
    float *x, *xn, *qkv, *atty, *tmp, *gu, *h, *scores, *rstd;
    int *pos, *row_seq;
    size_t bytes;
} cada_kv_cache;

/* n_slots sequences of up to max_len tokens; calls may bring up to max_tokens new
 * tokens in total. */
cada_status cada_kv_cache_init(cada_kv_cache *kv, const cada_model_config *cfg, int n_slots, int max_len, int max_tokens);
/* Bytes cada_kv_cache_init allocates for these sizes with `threads` OpenMP threads
 * (`cada plan` on the CPU path). */
size_t cada_kv_cache_bytes(const cada_model_config *cfg, int n_slots, int max_len, int max_tokens, int threads);
void cada_kv_cache_free(cada_kv_cache *kv);
static inline void cada_kv_cache_clear_slot(cada_kv_cache *kv, int slot) { kv->len[slot] = 0; }

typedef struct {
    int slot;          /* cache slot; its cached tokens precede these */
    int n_tokens;      /* >= 1 */
    const int *tokens; /* (n_tokens) */
} cada_infer_seq;

/* Appends each sequence's tokens to its slot and writes the logits of each sequence's
 * LAST new token to logits (n_seqs, V). Errors: slot out of range or used twice, a
 * chunk that overflows max_len (names the slot), more than max_tokens in total. */
cada_status cada_model_infer(const cada_model *m, cada_kv_cache *kv, const cada_infer_seq *seqs, int n_seqs,
                             float *logits);

#endif
