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
 * maximum difference is reported by the engine tests). A model holding a bf16 copy of
 * its matrices (m->bf16, model/infer_weights.h) runs its projections on that copy
 * instead: about half the bytes per decode step, log-probs no longer the learner's
 * (the gap is measured in tests/unit/test_engine_bf16.c and docs/OPERATING.md).
 *
 * Cache layout (paged): keys and values live in a pool of fixed-size blocks of
 * block_tokens positions each; k and v are (n_blocks, L, block_tokens, KVH * D) fp32.
 * Each slot (a sequence) has a block table: its position t lives in block
 * table[slot][t / block_tokens] at row t % block_tokens. Blocks carry reference
 * counts, so several slots may point at the same blocks (the samples of one prompt
 * share its prefilled blocks, cada_kv_cache_share; the prefix cache holds full blocks
 * across requests, cada_kv_block_hold); a shared block that a slot
 * appends to is copied first (copy-on-write). Attention visits positions 0..t in
 * order whatever block they live in, so the arithmetic is the contiguous cache's.
 * Memory per token is cada_config_kv_bytes_per_token(cfg, 4). */
#ifndef CADA_MODEL_INFER_H
#define CADA_MODEL_INFER_H

#include "model/model.h"

typedef struct {
    int n_slots, max_len;
    int block_tokens, n_blocks, max_blocks; /* max_blocks = ceil(max_len / block_tokens): a table's size */
    int n_layers, kv_dim;                   /* KVH * D */
    float *k, *v;                           /* (n_blocks, L, block_tokens, KVH * D) */
    int *len;                               /* (n_slots) tokens cached per slot */
    int *table;                             /* (n_slots, max_blocks) block ids; ceil(len / block_tokens) valid */
    int *ref;                               /* (n_blocks) references from block tables; 0 = free */
    int *free_ids;                          /* (n_blocks) stack of free block ids, n_free of them */
    int n_free, peak_used;                  /* peak_used: most blocks referenced at once */
    /* scratch for up to max_tokens new tokens per call */
    int max_tokens;
    float *x, *xn, *qkv, *atty, *tmp, *gu, *h, *scores, *rstd;
    int *pos, *row_seq, *tokens;
    float *rope_cs;  /* (max_tokens, D/2, 2) the call's rotation angles (ops.h rope_angles) */
    float *tp_stage; /* tensor parallelism: (P, n_seqs, V/P) logits gathered (model/tp.h) */
    size_t tp_stage_floats;
    size_t bytes;
} cada_kv_cache;

#define CADA_KV_BLOCK_TOKENS 16 /* the default block size */

/* n_slots sequences of up to max_len tokens over a pool of n_blocks blocks of
 * block_tokens positions (n_blocks 0: n_slots * ceil(max_len / block_tokens), room for
 * every slot to reach max_len without sharing); calls may bring up to max_tokens new
 * tokens in total. */
cada_status cada_kv_cache_init(cada_kv_cache *kv, const cada_model_config *cfg, int n_slots, int max_len, int max_tokens,
                               int block_tokens, int n_blocks);
/* Bytes cada_kv_cache_init allocates for these sizes with `threads` OpenMP threads
 * (`cada plan` on the CPU path). */
size_t cada_kv_cache_bytes(const cada_model_config *cfg, int n_slots, int max_len, int max_tokens, int block_tokens,
                           int n_blocks, int threads);
/* A pool for n_slots sequences of up to max_len tokens run as groups of `samples`
 * samples of one prompt of prompt_tokens tokens: every slot's blocks, less the full
 * prompt blocks that all but one sample of a group share, plus one block per group
 * (its prompt's partial block, kept for the samples still waiting). A pool smaller than the worst
 * case is still safe with an engine that admits a sequence only when its blocks are
 * free (rollout/engine.h). */
int cada_kv_pool_blocks(int n_slots, int max_len, int block_tokens, int samples, int prompt_tokens);
/* Blocks of block_tokens positions (0: CADA_KV_BLOCK_TOKENS) whose keys and values fit
 * in `bytes` (a memory budget for the pool: rollout.kv_memory_mb). */
int cada_kv_blocks_for_bytes(const cada_model_config *cfg, size_t bytes, int block_tokens);

/* The rollout engine's calls (rollout/engine.h) carry the decode steps of its n_slots
 * sequences plus prefills of at most max(max_len, min(n_slots, CADA_KV_PREFILL_PROMPTS)
 * x prompt_tokens) tokens: the new tokens a cache for it takes per call. */
#define CADA_KV_PREFILL_PROMPTS 16
int cada_kv_prefill_budget(int n_slots, int max_len, int prompt_tokens);
int cada_kv_call_tokens(int n_slots, int max_len, int prompt_tokens);
void cada_kv_cache_free(cada_kv_cache *kv);
/* Drops the slot's tokens; blocks no other slot references return to the pool. */
void cada_kv_cache_clear_slot(cada_kv_cache *kv, int slot);
/* The empty slot dst takes the first n_tokens tokens of src by reference (no copy):
 * src's blocks holding them gain a reference each. */
cada_status cada_kv_cache_share(cada_kv_cache *kv, int dst, int src, int n_tokens);
/* The empty slot takes n full blocks (ids in blocks) by reference as its first
 * n x block_tokens positions (the rollout's prefix cache, rollout/prefix_cache.h);
 * appending continues at that position in a new block, so the blocks are never written. */
cada_status cada_kv_cache_attach(cada_kv_cache *kv, int slot, const int *blocks, int n);
/* A reference on block b held outside the block tables (the prefix cache's); dropping
 * the last reference returns b to the pool. */
void cada_kv_block_hold(cada_kv_cache *kv, int b);
void cada_kv_block_drop(cada_kv_cache *kv, int b);
/* Blocks that appending n_new tokens to slot would take from the pool: new blocks
 * plus the copy of a shared partial last block. */
int cada_kv_cache_blocks_needed(const cada_kv_cache *kv, int slot, int n_new);

typedef struct {
    int slot;          /* cache slot; its cached tokens precede these */
    int n_tokens;      /* >= 1 */
    const int *tokens; /* (n_tokens) */
} cada_infer_seq;

/* Appends each sequence's tokens to its slot and writes the logits of each sequence's
 * LAST new token to logits (n_seqs, V). Errors: slot out of range or used twice, a
 * chunk that overflows max_len (names the slot), more than max_tokens in total, too
 * few free blocks (nothing is changed then). */
cada_status cada_model_infer(const cada_model *m, cada_kv_cache *kv, const cada_infer_seq *seqs, int n_seqs,
                             float *logits);

#endif
