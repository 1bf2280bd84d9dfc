/* rollout/prefix_cache.c: see prefix_cache.h. */
#define _POSIX_C_SOURCE 200809L
#include "rollout/prefix_cache.h"

#include <stdlib.h>
#include <string.h>

static uint64_t mix64(uint64_t x) { /* splitmix64's finaliser */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* The chain hash of a block: its parent's (0 before the first block) and its tokens. */
static uint64_t chain_hash(uint64_t parent, const int *tokens, int n) {
    uint64_t h = mix64(parent + 0x9e3779b97f4a7c15ULL);
    for (int i = 0; i < n; i++) h = mix64(h ^ ((uint64_t)(uint32_t)tokens[i] + 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1)));
    return h;
}

cada_status cada_prefix_cache_init(cada_prefix_cache *pc, int cap, int block_tokens) {
    memset(pc, 0, sizeof *pc);
    if (cap <= 0 || block_tokens <= 0)
        return CADA_ERR(CADA_ERR_ARG, "prefix cache: %d blocks of %d tokens", cap, block_tokens);
    pc->block_tokens = block_tokens;
    pc->cap = cap;
    pc->hash_mask = ~0ULL;
    pc->n_buckets = 1;
    while (pc->n_buckets < 2 * cap) pc->n_buckets <<= 1;
    pc->bucket = malloc(sizeof(int) * (size_t)pc->n_buckets);
    pc->next = malloc(sizeof(int) * (size_t)cap);
    pc->hash = malloc(sizeof(uint64_t) * (size_t)cap);
    pc->parent = malloc(sizeof(int) * (size_t)cap);
    pc->block = malloc(sizeof(int) * (size_t)cap);
    pc->children = calloc((size_t)cap, sizeof(int));
    pc->used = calloc((size_t)cap, sizeof(long));
    pc->tokens = malloc(sizeof(int) * (size_t)cap * (size_t)block_tokens);
    if (!pc->bucket || !pc->next || !pc->hash || !pc->parent || !pc->block || !pc->children || !pc->used || !pc->tokens) {
        cada_prefix_cache_free(pc, NULL);
        return CADA_ERR(CADA_ERR_NOMEM, "prefix cache: %d blocks", cap);
    }
    for (int b = 0; b < pc->n_buckets; b++) pc->bucket[b] = -1;
    for (int e = 0; e < cap; e++) {
        pc->block[e] = -1;
        pc->next[e] = e + 1 < cap ? e + 1 : -1;
    }
    pc->free_head = 0;
    return CADA_OK;
}

void cada_prefix_cache_free(cada_prefix_cache *pc, cada_kv_cache *kv) {
    if (kv && pc->block)
        for (int e = 0; e < pc->cap; e++)
            if (pc->block[e] >= 0) cada_kv_block_drop(kv, pc->block[e]);
    free(pc->bucket);
    free(pc->next);
    free(pc->hash);
    free(pc->parent);
    free(pc->block);
    free(pc->children);
    free(pc->used);
    free(pc->tokens);
    memset(pc, 0, sizeof *pc);
}

/* The entry caching the block after `parent` (-1: the first) holding these tokens, or -1. */
static int find(const cada_prefix_cache *pc, uint64_t hash, int parent, const int *tokens) {
    for (int e = pc->bucket[hash & (uint64_t)(pc->n_buckets - 1)]; e >= 0; e = pc->next[e])
        if (pc->hash[e] == hash && pc->parent[e] == parent &&
            !memcmp(pc->tokens + (size_t)e * pc->block_tokens, tokens, sizeof(int) * (size_t)pc->block_tokens))
            return e;
    return -1;
}

int cada_prefix_cache_lookup(cada_prefix_cache *pc, const int *tokens, int max_blocks, int *blocks) {
    const int B = pc->block_tokens;
    uint64_t h = 0;
    int parent = -1, n = 0;
    pc->clock++;
    for (; n < max_blocks; n++) {
        h = chain_hash(h, tokens + (size_t)n * B, B);
        int e = find(pc, h & pc->hash_mask, parent, tokens + (size_t)n * B);
        if (e < 0) break;
        pc->used[e] = pc->clock;
        blocks[n] = pc->block[e];
        parent = e;
    }
    return n;
}

void cada_prefix_cache_insert(cada_prefix_cache *pc, cada_kv_cache *kv, const int *tokens, int n_blocks, const int *blocks) {
    const int B = pc->block_tokens;
    uint64_t h = 0;
    int parent = -1;
    pc->clock++;
    for (int i = 0; i < n_blocks; i++) {
        const int *t = tokens + (size_t)i * B;
        h = chain_hash(h, t, B);
        const uint64_t key = h & pc->hash_mask;
        int e = find(pc, key, parent, t);
        if (e >= 0) {
            if (pc->block[e] != blocks[i]) return; /* computed twice: the cached copy stays, this chain ends */
        } else {
            if (pc->free_head < 0) return;
            e = pc->free_head;
            pc->free_head = pc->next[e];
            const int bk = (int)(key & (uint64_t)(pc->n_buckets - 1));
            pc->next[e] = pc->bucket[bk];
            pc->bucket[bk] = e;
            pc->hash[e] = key;
            pc->parent[e] = parent;
            pc->block[e] = blocks[i];
            pc->children[e] = 0;
            memcpy(pc->tokens + (size_t)e * B, t, sizeof(int) * (size_t)B);
            if (parent >= 0) pc->children[parent]++;
            cada_kv_block_hold(kv, blocks[i]);
            pc->n++;
        }
        pc->used[e] = pc->clock;
        parent = e;
    }
}

int cada_prefix_cache_evict(cada_prefix_cache *pc, cada_kv_cache *kv) {
    int v = -1;
    for (int e = 0; e < pc->cap; e++)
        if (pc->block[e] >= 0 && pc->children[e] == 0 && kv->ref[pc->block[e]] == 1 && (v < 0 || pc->used[e] < pc->used[v]))
            v = e;
    if (v < 0) return 0;
    int *link = &pc->bucket[pc->hash[v] & (uint64_t)(pc->n_buckets - 1)];
    while (*link != v) link = &pc->next[*link];
    *link = pc->next[v];
    if (pc->parent[v] >= 0) pc->children[pc->parent[v]]--;
    cada_kv_block_drop(kv, pc->block[v]);
    pc->block[v] = -1;
    pc->next[v] = pc->free_head;
    pc->free_head = v;
    pc->n--;
    pc->evictions++;
    return 1;
}
