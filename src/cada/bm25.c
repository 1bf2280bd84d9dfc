/* cada/bm25.c: see bm25.h. */
#include "cada/bm25.h"

#include "cada/text.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const stopwords[] = {
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "could", "do", "does", "for", "from", "how", "i", "if",
    "in", "into", "is", "it", "its", "me", "my", "of", "on", "or", "so", "that", "the", "their", "them", "there",
    "this", "to", "was", "what", "when", "where", "which", "who", "why", "will", "with", "would", "you", "your"};

static int is_stop(const char *w, int len) {
    for (size_t i = 0; i < sizeof stopwords / sizeof *stopwords; i++)
        if ((int)strlen(stopwords[i]) == len && !memcmp(stopwords[i], w, (size_t)len)) return 1;
    return 0;
}

static int word_byte(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

int cada_bm25_words(const char *text, void (*fn)(const char *w, int len, void *ctx), void *ctx) {
    int count = 0;
    const unsigned char *p = (const unsigned char *)text;
    while (*p) {
        while (*p && !word_byte(*p)) p++;
        if (!*p) break;
        char w[64];
        int len = 0;
        while (*p && word_byte(*p)) {
            unsigned char c = *p++;
            if (c >= 'A' && c <= 'Z') c = (unsigned char)(c - 'A' + 'a');
            if (len < 63) w[len++] = (char)c;
        }
        w[len] = 0;
        if (is_stop(w, len)) continue;
        fn(w, len, ctx);
        count++;
    }
    return count;
}

static uint64_t hash_word(const char *w, int len) {
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < len; i++) {
        h ^= (unsigned char)w[i];
        h *= 1099511628211ull;
    }
    return h;
}

static int lookup(const cada_bm25 *ix, const char *w, int len, int *slot) {
    unsigned mask = (unsigned)ix->table_size - 1;
    unsigned at = (unsigned)hash_word(w, len) & mask;
    for (;; at = (at + 1) & mask) {
        int id = ix->table[at];
        if (id < 0) {
            if (slot) *slot = (int)at;
            return -1;
        }
        if ((int)strlen(ix->terms[id]) == len && !memcmp(ix->terms[id], w, (size_t)len)) return id;
    }
}

typedef struct {
    cada_bm25 *ix;
    int *ids; /* words of the current document, as term ids */
    int n, cap;
    cada_status st;
} build_ctx;

static void add_word(const char *w, int len, void *p) {
    build_ctx *b = p;
    cada_bm25 *ix = b->ix;
    if (b->st != CADA_OK) return;
    int slot = 0, id = lookup(ix, w, len, &slot);
    if (id < 0) {
        if (2 * (ix->n_terms + 1) > ix->table_size) { /* keep the load under 1/2 */
            int size = ix->table_size * 2;
            int *t = malloc(sizeof *t * (size_t)size);
            if (!t) {
                b->st = CADA_ERR(CADA_ERR_NOMEM, "bm25 table");
                return;
            }
            for (int i = 0; i < size; i++) t[i] = -1;
            free(ix->table);
            ix->table = t;
            ix->table_size = size;
            for (int i = 0; i < ix->n_terms; i++) {
                int s = 0;
                lookup(ix, ix->terms[i], (int)strlen(ix->terms[i]), &s);
                ix->table[s] = i;
            }
            lookup(ix, w, len, &slot);
        }
        char **terms = realloc(ix->terms, sizeof *terms * (size_t)(ix->n_terms + 1));
        if (!terms) {
            b->st = CADA_ERR(CADA_ERR_NOMEM, "bm25 terms");
            return;
        }
        ix->terms = terms;
        if (!(ix->terms[ix->n_terms] = cada_strndup(w, (size_t)len))) {
            b->st = CADA_ERR_NOMEM;
            return;
        }
        id = ix->n_terms++;
        ix->table[slot] = id;
    }
    if (b->n == b->cap) {
        int cap = b->cap ? 2 * b->cap : 64;
        int *ids = realloc(b->ids, sizeof *ids * (size_t)cap);
        if (!ids) {
            b->st = CADA_ERR(CADA_ERR_NOMEM, "bm25 words");
            return;
        }
        b->ids = ids;
        b->cap = cap;
    }
    b->ids[b->n++] = id;
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

cada_status cada_bm25_build(cada_bm25 *ix, const char *const *docs, int n_docs) {
    memset(ix, 0, sizeof *ix);
    ix->k1 = 1.2;
    ix->b = 0.75;
    ix->n_docs = n_docs;
    ix->table_size = 256;
    ix->table = malloc(sizeof *ix->table * (size_t)ix->table_size);
    ix->doc_start = calloc((size_t)n_docs + 1, sizeof *ix->doc_start);
    ix->doc_len = calloc((size_t)n_docs + 1, sizeof *ix->doc_len);
    if (!ix->table || !ix->doc_start || !ix->doc_len) {
        cada_bm25_free(ix);
        return CADA_ERR(CADA_ERR_NOMEM, "bm25 index of %d documents", n_docs);
    }
    for (int i = 0; i < ix->table_size; i++) ix->table[i] = -1;
    build_ctx b = {ix, NULL, 0, 0, CADA_OK};
    int n_post = 0, cap_post = 0;
    long total = 0;
    for (int d = 0; d < n_docs && b.st == CADA_OK; d++) {
        b.n = 0;
        cada_bm25_words(docs[d], add_word, &b);
        if (b.st != CADA_OK) break;
        ix->doc_len[d] = b.n;
        total += b.n;
        qsort(b.ids, (size_t)b.n, sizeof *b.ids, cmp_int);
        ix->doc_start[d] = n_post;
        for (int i = 0; i < b.n;) {
            int j = i;
            while (j < b.n && b.ids[j] == b.ids[i]) j++;
            if (n_post == cap_post) {
                cap_post = cap_post ? 2 * cap_post : 256;
                int *t = realloc(ix->post_term, sizeof *t * (size_t)cap_post);
                int *f = t ? realloc(ix->post_tf, sizeof *f * (size_t)cap_post) : NULL;
                if (t) ix->post_term = t;
                if (f) ix->post_tf = f;
                if (!t || !f) {
                    b.st = CADA_ERR(CADA_ERR_NOMEM, "bm25 postings");
                    break;
                }
            }
            ix->post_term[n_post] = b.ids[i];
            ix->post_tf[n_post] = j - i;
            n_post++;
            i = j;
        }
    }
    free(b.ids);
    if (b.st == CADA_OK) {
        ix->doc_start[n_docs] = n_post;
        ix->avgdl = n_docs ? (double)total / n_docs : 0;
        ix->df = calloc((size_t)ix->n_terms + 1, sizeof *ix->df);
        if (!ix->df) b.st = CADA_ERR(CADA_ERR_NOMEM, "bm25 df");
        for (int i = 0; b.st == CADA_OK && i < n_post; i++) ix->df[ix->post_term[i]]++;
    }
    if (b.st != CADA_OK) cada_bm25_free(ix);
    return b.st;
}

typedef struct {
    const cada_bm25 *ix;
    int *ids;
    int n, cap;
} query_ctx;

static void query_word(const char *w, int len, void *p) {
    query_ctx *q = p;
    int id = lookup(q->ix, w, len, NULL);
    if (id < 0 || q->n == q->cap) return;
    for (int i = 0; i < q->n; i++)
        if (q->ids[i] == id) return; /* distinct words */
    q->ids[q->n++] = id;
}

cada_status cada_bm25_score(const cada_bm25 *ix, const char *query, double *scores) {
    int ids[256];
    query_ctx q = {ix, ids, 0, 256};
    cada_bm25_words(query, query_word, &q);
    for (int d = 0; d < ix->n_docs; d++) {
        double s = 0;
        double norm = ix->k1 * (1 - ix->b + ix->b * (ix->avgdl > 0 ? ix->doc_len[d] / ix->avgdl : 0));
        const int *terms = ix->post_term + ix->doc_start[d];
        int n = ix->doc_start[d + 1] - ix->doc_start[d];
        for (int i = 0; i < q.n && n > 0; i++) {
            const int *hit = bsearch(&ids[i], terms, (size_t)n, sizeof *terms, cmp_int);
            if (!hit) continue;
            double tf = ix->post_tf[ix->doc_start[d] + (hit - terms)];
            double df = ix->df[ids[i]];
            double idf = log(1.0 + (ix->n_docs - df + 0.5) / (df + 0.5));
            s += idf * tf * (ix->k1 + 1) / (tf + norm);
        }
        scores[d] = s;
    }
    return CADA_OK;
}

void cada_bm25_free(cada_bm25 *ix) {
    for (int i = 0; i < ix->n_terms; i++) free(ix->terms[i]);
    free(ix->terms);
    free(ix->df);
    free(ix->doc_start);
    free(ix->post_term);
    free(ix->post_tf);
    free(ix->doc_len);
    free(ix->table);
    memset(ix, 0, sizeof *ix);
}
