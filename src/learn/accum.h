/* learn/accum.h: summing a sequence of gradient buffers in the canonical pairwise tree.
 *
 * Why: W learners can only produce the bits of one learner if both add the same
 * numbers in the same order. comm/comm.h's fixed-order reductions sum over ranks in
 * the canonical tree (split at the largest power of two below the count, which is the
 * in-place bottom-up pairwise sum); this accumulator applies the same tree to the
 * micro-batch gradients one rank produces in sequence, so that
 *   tree over K micro-batches (one rank) == tree over ranks of trees over each rank's
 *   K / W contiguous micro-batches (W ranks)
 * whenever K / W is a power of two (see learn/learner.h). It is a binary counter: a
 * stack of partial sums, one per level; pushing a leaf merges equal levels (left +
 * right; a leaf that is a right sibling is added in place, never copied), and the
 * final result folds the stack from the right. At most floor(log2(K + 1)) buffers
 * live at once (the most set bits of any count up to K: 1 for K = 2, 2 for K = 4,
 * 3 for K = 8); they are recycled.
 *
 * Each buffer is n floats. */
#ifndef CADA_LEARN_ACCUM_H
#define CADA_LEARN_ACCUM_H

#include "base/error.h"

#include <stddef.h>

#define CADA_ACCUM_MAX_LEVELS 40

typedef struct {
    size_t n;
    float *stack[CADA_ACCUM_MAX_LEVELS];
    int level[CADA_ACCUM_MAX_LEVELS];
    int depth;
    float *spare[CADA_ACCUM_MAX_LEVELS]; /* recycled buffers */
    int n_spare;
    int allocated;                       /* buffers ever allocated (for memory accounting) */
    long long pushed;
} cada_accum;

void cada_accum_init(cada_accum *a, size_t n);
void cada_accum_free(cada_accum *a);
/* Adds leaf x (copied). */
cada_status cada_accum_push(cada_accum *a, const float *x);
/* Writes the tree sum of every leaf pushed so far into out (zeros when none) and
 * empties the accumulator (buffers are kept for the next round). */
void cada_accum_finish(cada_accum *a, float *out);
size_t cada_accum_bytes(const cada_accum *a); /* bytes allocated */

#endif
