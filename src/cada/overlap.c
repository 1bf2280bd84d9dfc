/* cada/overlap.c: see overlap.h. */
#include "cada/overlap.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define FNV_OFFSET 1469598103934665603ull
#define FNV_PRIME 1099511628211ull

static uint64_t fnv_byte(uint64_t h, unsigned char b) { return (h ^ b) * FNV_PRIME; }

/* One normalised word: [start, start+len) of the lowered copy. */
typedef struct {
    int start, len;
} word;

static uint64_t hash_words(const char *low, const word *w, int n) {
    uint64_t h = FNV_OFFSET;
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < w[i].len; k++) h = fnv_byte(h, (unsigned char)low[w[i].start + k]);
        h = fnv_byte(h, ' '); /* a separator: "ab c" differs from "a bc" */
    }
    return h;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Splits text into words written, lowered and without apostrophes, into low; returns
 * the count (words has room for strlen(text) / 1 + 1). */
static int split_words(const char *text, char *low, word *w) {
    int n = 0, at = 0, len = 0;
    for (const unsigned char *p = (const unsigned char *)text;; p++) {
        if (*p && (isalnum(*p) || *p >= 0x80)) { /* UTF-8 bytes stay inside words */
            low[at + len++] = (char)tolower(*p);
            continue;
        }
        if (*p == '\'' && len) continue; /* "don't" -> "dont" */
        if (len) {
            w[n++] = (word){at, len};
            at += len;
        }
        len = 0;
        if (!*p) break;
    }
    return n;
}

cada_status cada_grams_of(const char *text, cada_grams *g) {
    memset(g, 0, sizeof *g);
    size_t len = strlen(text);
    char *low = malloc(len + 1);
    word *w = malloc(sizeof *w * (len / 2 + 1)); /* a word and its separator: >= 2 bytes, but the last */
    if (!low || !w) {
        free(low);
        free(w);
        return CADA_ERR(CADA_ERR_NOMEM, "word 3-grams of a %zu-byte text", len);
    }
    int n = split_words(text, low, w);
    g->n_words = n;
    g->seq = hash_words(low, w, n);
    int want = n >= 3 ? n - 2 : n > 0;
    if (want) {
        g->gram = malloc(sizeof *g->gram * (size_t)want);
        if (!g->gram) {
            free(low);
            free(w);
            return CADA_ERR(CADA_ERR_NOMEM, "word 3-grams of a %zu-byte text", len);
        }
        if (n < 3) g->gram[0] = g->seq;
        for (int i = 0; i + 3 <= n; i++) g->gram[i] = hash_words(low, w + i, 3);
        qsort(g->gram, (size_t)want, sizeof *g->gram, cmp_u64);
        int d = 0; /* distinct */
        for (int i = 0; i < want; i++)
            if (!d || g->gram[d - 1] != g->gram[i]) g->gram[d++] = g->gram[i];
        g->n = d;
    }
    free(low);
    free(w);
    return CADA_OK;
}

void cada_grams_free(cada_grams *g) {
    free(g->gram);
    memset(g, 0, sizeof *g);
}

void cada_overlap(const cada_grams *a, const cada_grams *b, double *jaccard, double *containment) {
    *jaccard = *containment = 0;
    if (!a->n || !b->n) return;
    if (a->n_words < 3 || b->n_words < 3) { /* short texts compare by their word sequence */
        *jaccard = *containment = a->seq == b->seq && a->n_words == b->n_words;
        return;
    }
    int i = 0, k = 0, shared = 0; /* a merge of the two sorted sets */
    while (i < a->n && k < b->n) {
        if (a->gram[i] == b->gram[k]) shared++, i++, k++;
        else if (a->gram[i] < b->gram[k]) i++;
        else k++;
    }
    *jaccard = (double)shared / (a->n + b->n - shared);
    *containment = (double)shared / (a->n < b->n ? a->n : b->n);
}

int cada_near_duplicate(const cada_grams *a, const cada_grams *b, double jaccard_bar, double containment_bar, double *j,
                        double *c) {
    double jj, cc;
    cada_overlap(a, b, &jj, &cc);
    if (j) *j = jj;
    if (c) *c = cc;
    return jj >= jaccard_bar || cc >= containment_bar;
}
