/* tok/bpe.c: the merge table and the BPE merge loop.
 *
 * tokenizers (models/bpe/word.rs, Word::merge_all) keeps a min-heap of candidate merges
 * ordered by (rank, position of the left symbol), pops the smallest, skips entries whose
 * pair has changed since they were pushed, merges, and pushes the two new pairs the merge
 * creates. The set of live entries is always exactly the set of adjacent pairs that have
 * a merge, so "pop the smallest live entry" equals "merge the adjacent pair of lowest
 * rank, leftmost on ties". Short words (almost all of them) use that second form on an
 * array, which is faster than a heap for a handful of symbols; long words (long CJK or
 * whitespace runs) use the heap to stay O(n log n). */
#include "tok/tok_internal.h"

#include <stdlib.h>
#include <string.h>

size_t tok_bpe_array_max = 48;

cada_status tok_merges_init(tok_merge_map *m, size_t expected) {
    uint64_t cap = 16;
    while (cap < 2 * (uint64_t)expected) cap *= 2;
    m->slots = CADA_MALLOC(cap * sizeof *m->slots, "tokenizer merge table");
    if (!m->slots) return CADA_ERR_NOMEM;
    for (uint64_t i = 0; i < cap; i++) m->slots[i].key = TOK_MERGE_EMPTY;
    m->mask = cap - 1;
    m->n = 0;
    return CADA_OK;
}

void tok_merges_free(tok_merge_map *m) {
    free(m->slots);
    memset(m, 0, sizeof *m);
}

void tok_merges_put(tok_merge_map *m, int32_t left, int32_t right, uint32_t rank, int32_t id) {
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    for (uint64_t i = tok_merge_hash(key) & m->mask;; i = (i + 1) & m->mask) {
        tok_merge_slot *s = &m->slots[i];
        if (s->key == TOK_MERGE_EMPTY) {
            *s = (tok_merge_slot){key, rank, id};
            m->n++;
            return;
        }
        if (s->key == key) {
            s->rank = rank;
            s->id = id;
            return;
        }
    }
}

typedef struct tok_heap_entry {
    uint32_t rank;
    int32_t pos;
    int32_t id;
} tok_heap_entry;

static int heap_less(const tok_heap_entry *a, const tok_heap_entry *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(tok_heap_entry *h, size_t *n, tok_heap_entry e) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_less(&e, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = e;
}

static tok_heap_entry heap_pop(tok_heap_entry *h, size_t *n) {
    tok_heap_entry top = h[0];
    tok_heap_entry last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && heap_less(&h[c + 1], &h[c])) c++;
        if (!heap_less(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n > 0) h[i] = last;
    return top;
}

static cada_status scratch_reserve(tok_bpe_scratch *s, size_t n) {
    if (n <= s->cap) return CADA_OK;
    size_t cap = s->cap ? s->cap : 64;
    while (cap < n) cap *= 2;
    int32_t *id = realloc(s->id, cap * sizeof *id);
    if (id) s->id = id;
    uint32_t *rank = realloc(s->rank, cap * sizeof *rank);
    if (rank) s->rank = rank;
    int32_t *prev = realloc(s->prev, cap * sizeof *prev);
    if (prev) s->prev = prev;
    int32_t *next = realloc(s->next, cap * sizeof *next);
    if (next) s->next = next;
    if (!id || !rank || !prev || !next)
        return CADA_ERR(CADA_ERR_NOMEM, "BPE scratch for a word of %zu symbols", n);
    s->cap = cap;
    return CADA_OK;
}

void tok_bpe_scratch_free(tok_bpe_scratch *s) {
    free(s->id);
    free(s->rank);
    free(s->prev);
    free(s->next);
    free(s->heap);
    memset(s, 0, sizeof *s);
}

/* Array form: rank[i] / prev[i] (reused as "merged id") describe the pair (i, i+1). */
static size_t merge_array(const tok_merge_map *m, tok_bpe_scratch *s, int32_t *ids, size_t n) {
    uint32_t *rank = s->rank;
    int32_t *mid = s->prev;
    for (size_t i = 0; i + 1 < n; i++) {
        const tok_merge_slot *sl = tok_merges_get(m, ids[i], ids[i + 1]);
        rank[i] = sl ? sl->rank : UINT32_MAX;
        mid[i] = sl ? sl->id : -1;
    }
    while (n > 1) {
        uint32_t best = UINT32_MAX;
        size_t bi = 0;
        for (size_t i = 0; i + 1 < n; i++)
            if (rank[i] < best) best = rank[i], bi = i;
        if (best == UINT32_MAX) break;
        ids[bi] = mid[bi];
        /* drop symbol bi+1 and pair (bi, bi+1)'s successor entry */
        memmove(ids + bi + 1, ids + bi + 2, (n - bi - 2) * sizeof *ids);
        if (bi + 2 < n) {
            memmove(rank + bi + 1, rank + bi + 2, (n - bi - 3) * sizeof *rank);
            memmove(mid + bi + 1, mid + bi + 2, (n - bi - 3) * sizeof *mid);
        }
        n--;
        if (bi > 0) {
            const tok_merge_slot *sl = tok_merges_get(m, ids[bi - 1], ids[bi]);
            rank[bi - 1] = sl ? sl->rank : UINT32_MAX;
            mid[bi - 1] = sl ? sl->id : -1;
        }
        if (bi + 1 < n) {
            const tok_merge_slot *sl = tok_merges_get(m, ids[bi], ids[bi + 1]);
            rank[bi] = sl ? sl->rank : UINT32_MAX;
            mid[bi] = sl ? sl->id : -1;
        }
    }
    return n;
}

static cada_status merge_heap(const tok_merge_map *m, tok_bpe_scratch *s, int32_t *ids, size_t *np) {
    size_t n = *np;
    /* n - 1 initial pairs plus at most two per merge (n - 1 merges). */
    size_t hcap = 3 * n;
    if (hcap > s->heap_cap) {
        tok_heap_entry *h = realloc(s->heap, hcap * sizeof *h);
        if (!h) return CADA_ERR(CADA_ERR_NOMEM, "BPE heap for a word of %zu symbols", n);
        s->heap = h;
        s->heap_cap = hcap;
    }
    int32_t *id = s->id, *prev = s->prev, *next = s->next;
    uint32_t *dead = s->rank;
    tok_heap_entry *h = s->heap;
    size_t hn = 0;
    for (size_t i = 0; i < n; i++) {
        id[i] = ids[i];
        prev[i] = (int32_t)i - 1;
        next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
        dead[i] = 0;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        const tok_merge_slot *sl = tok_merges_get(m, id[i], id[i + 1]);
        if (sl) heap_push(h, &hn, (tok_heap_entry){sl->rank, (int32_t)i, sl->id});
    }
    while (hn > 0) {
        tok_heap_entry top = heap_pop(h, &hn);
        int32_t p = top.pos;
        if (dead[p]) continue;
        int32_t nx = next[p];
        if (nx < 0) continue;
        const tok_merge_slot *sl = tok_merges_get(m, id[p], id[nx]);
        if (!sl || sl->id != top.id) continue; /* a stale entry */
        id[p] = top.id;
        dead[nx] = 1;
        next[p] = next[nx];
        if (next[nx] >= 0) prev[next[nx]] = p;
        if (prev[p] >= 0) {
            const tok_merge_slot *l = tok_merges_get(m, id[prev[p]], id[p]);
            if (l) heap_push(h, &hn, (tok_heap_entry){l->rank, prev[p], l->id});
        }
        if (next[p] >= 0) {
            const tok_merge_slot *r = tok_merges_get(m, id[p], id[next[p]]);
            if (r) heap_push(h, &hn, (tok_heap_entry){r->rank, p, r->id});
        }
    }
    size_t k = 0;
    for (int32_t i = 0; i >= 0; i = next[i]) ids[k++] = id[i];
    *np = k;
    return CADA_OK;
}

cada_status tok_bpe_merge(const tok_merge_map *m, tok_bpe_scratch *s, int32_t *ids, size_t *n) {
    if (*n < 2) return CADA_OK;
    CADA_TRY(scratch_reserve(s, *n));
    if (*n <= tok_bpe_array_max) {
        *n = merge_array(m, s, ids, *n);
        return CADA_OK;
    }
    return merge_heap(m, s, ids, n);
}
