/* cada/bm25.h: Okapi BM25 ranking of a small document collection (the case bank).
 *
 * Words: maximal runs of ASCII letters and digits, and of bytes >= 0x80 (so UTF-8
 * words stay whole), lowercased (ASCII); a short list of English function words
 * ("the", "how", "i", ...) is dropped, since requests share them whatever they ask.
 * Score of document d for query q (Robertson and Zaragoza, "The Probabilistic
 * Relevance Framework: BM25 and Beyond", 2009, eq. 3.15, with the +1 inside the log
 * that keeps idf positive, as Lucene does):
 *   sum over distinct query words w present in d of
 *   idf(w) * tf(w,d) (k1 + 1) / (tf(w,d) + k1 (1 - b + b |d| / avgdl)),
 *   idf(w) = ln(1 + (N - df(w) + 0.5) / (df(w) + 0.5)),  k1 = 1.2, b = 0.75. */
#ifndef CADA_CADA_BM25_H
#define CADA_CADA_BM25_H

#include "base/error.h"

typedef struct {
    int n_docs;
    int n_terms;
    char **terms;     /* (n_terms) */
    int *df;          /* (n_terms) documents holding the term */
    int *doc_start;   /* (n_docs + 1) offsets into postings */
    int *post_term;   /* term ids of each document, sorted */
    int *post_tf;     /* their counts */
    int *doc_len;     /* (n_docs) words */
    double avgdl;
    /* open-addressing table: term text -> id */
    int *table;
    int table_size;
    double k1, b;
} cada_bm25;

cada_status cada_bm25_build(cada_bm25 *ix, const char *const *docs, int n_docs);
/* scores[d] for every document (0 where no query word occurs). */
cada_status cada_bm25_score(const cada_bm25 *ix, const char *query, double *scores);
void cada_bm25_free(cada_bm25 *ix);

/* Calls fn(word, len, ctx) for each word of text (lowercased into a scratch buffer;
 * words longer than 63 bytes are cut). Returns the number of words. */
int cada_bm25_words(const char *text, void (*fn)(const char *w, int len, void *ctx), void *ctx);

#endif
