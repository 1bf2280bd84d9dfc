/* rollout/prefix_cache.h: full KV blocks reused across the requests of one generate call.
 *
 * Every CADA prompt starts with the same system turn, so the engine keeps the full
 * blocks its prefills computed and points later requests with the same leading tokens
 * at them instead of prefilling those tokens again (vLLM's automatic prefix caching).
 * A block's keys and values depend on every token before it, so a block is keyed by
 * its whole prefix: a chain hash of (the previous block's hash, its block_tokens token
 * ids), the entries chained through their parent entry. A hit compares the parent entry
 * and the token ids, not only the hash, so a collision can never serve another prefix's
 * KV (hash_mask 0 makes every key collide: the tests' check of that).
 *
 * Only full blocks are cached and they are never written again (a slot appends only to
 * its partial last block, copying it first when shared: model/infer.h), so a cached
 * block is immutable. The cache holds one reference on each of its blocks; a block
 * that only the cache references is evictable, least recently used first, and only
 * once no cached block follows it (children go before their parent). A slot that holds
 * a cached block holds the whole chain before it (it attached the chain, or computed
 * and cached it), so every block only the cache references can be evicted in time.
 *
 * The cache lives within one cada_generate call (one policy version), so it never
 * serves KV of other weights. Single-threaded. */
#ifndef CADA_ROLLOUT_PREFIX_CACHE_H
#define CADA_ROLLOUT_PREFIX_CACHE_H

#include "model/infer.h"

#include <stdint.h>

typedef struct {
    int block_tokens, cap; /* cap: entries at most (one per pool block) */
    uint64_t hash_mask;    /* bits of the chain hash kept (all by default; 0: every key collides) */
    int n_buckets;         /* a power of two */
    int *bucket;           /* (n_buckets) first entry of each chain, -1 none */
    int *next;             /* (cap) next entry in its bucket, or next free entry */
    uint64_t *hash;        /* (cap) chain hash of the prefix up to the block's end, masked */
    int *parent;           /* (cap) entry of the previous block; -1: the first block */
    int *block;            /* (cap) KV block id; -1: the entry is free */
    int *children;         /* (cap) cached entries whose parent this is */
    long *used;            /* (cap) last use (LRU) */
    int *tokens;           /* (cap, block_tokens) the block's token ids */
    int free_head, n;      /* free entries' list; entries in use */
    long clock;
    long evictions;
} cada_prefix_cache;

/* A cache of at most cap blocks of block_tokens positions. */
cada_status cada_prefix_cache_init(cada_prefix_cache *pc, int cap, int block_tokens);
/* Drops the cache's references on kv (kv may be NULL when it is freed already) and its memory. */
void cada_prefix_cache_free(cada_prefix_cache *pc, cada_kv_cache *kv);
/* The longest cached prefix of tokens in full blocks, at most max_blocks of them:
 * writes their block ids to blocks and returns how many (0 none). Marks them used. */
int cada_prefix_cache_lookup(cada_prefix_cache *pc, const int *tokens, int max_blocks, int *blocks);
/* Caches the full blocks of a sequence whose first n_blocks x block_tokens tokens live
 * in blocks[0 .. n_blocks) (a slot's block table): new entries take a reference on kv.
 * A prefix already cached in another block stops the walk there (the first copy stays
 * the cached one); so does a full cache. */
void cada_prefix_cache_insert(cada_prefix_cache *pc, cada_kv_cache *kv, const int *tokens, int n_blocks, const int *blocks);
/* Evicts the least recently used cached block that only the cache references and that
 * no cached block follows: it goes back to kv's pool. Returns 1, or 0 when none is. */
int cada_prefix_cache_evict(cada_prefix_cache *pc, cada_kv_cache *kv);

#endif
