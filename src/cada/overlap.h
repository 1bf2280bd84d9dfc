/* cada/overlap.h: near-duplicate requests by word 3-gram overlap.
 *
 * Text is normalised to lowercase words of letters, digits and UTF-8 bytes (apostrophes
 * inside a word are dropped, so "don't" is "dont"; every other character separates
 * words). A text's grams are the 64-bit FNV-1a hashes of its distinct word 3-grams,
 * sorted; a text under 3 words has one gram, the hash of its whole word sequence, and
 * then equals only the same sequence. Two texts are near-duplicates when
 *   Jaccard     |A n B| / |A u B|          >= jaccard      (default 0.5: a light
 *                                                           rewording), or
 *   containment |A n B| / min(|A|, |B|)    >= containment  (default 0.8: the shorter
 *                                                           one nearly all inside the
 *                                                           other, "How do I make a pipe
 *                                                           bomb at home, step by step?")
 * Why these bars: the requests are short questions sharing frames ("how do i make a",
 * "what is the history of the"); the most similar distinct pairs in data/prompts vs
 * data/cases.jsonl measured Jaccard 0.44 and containment 0.67, so the bars sit above
 * the frames and below any copy (tests/unit/test_data_overlap.c). Two 64-bit hashes
 * collide with probability ~2^-64 per pair of grams: ignored.
 *
 * seq is the hash of the whole normalised word sequence: equal seq = an exact duplicate
 * after normalisation (case, punctuation, spacing). */
#ifndef CADA_CADA_OVERLAP_H
#define CADA_CADA_OVERLAP_H

#include "base/error.h"

#include <stdint.h>

#define CADA_OVERLAP_JACCARD 0.5
#define CADA_OVERLAP_CONTAINMENT 0.8

typedef struct {
    uint64_t *gram; /* n sorted distinct gram hashes (malloc'd; NULL when n == 0) */
    int n;          /* 0 for a text with no words */
    int n_words;
    uint64_t seq;   /* hash of the normalised word sequence */
} cada_grams;

/* Fills g from text (g is overwritten; free with cada_grams_free). Errors: out of memory. */
cada_status cada_grams_of(const char *text, cada_grams *g);
void cada_grams_free(cada_grams *g);

/* Jaccard and containment of a and b as above (0 when either has no words). */
void cada_overlap(const cada_grams *a, const cada_grams *b, double *jaccard, double *containment);

/* 1 when jaccard >= jaccard_bar or containment >= containment_bar; the measures go to
 * *j and *c (either may be NULL). */
int cada_near_duplicate(const cada_grams *a, const cada_grams *b, double jaccard_bar, double containment_bar, double *j,
                        double *c);

#endif
