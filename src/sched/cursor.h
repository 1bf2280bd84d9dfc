/* sched/cursor.h: the data cursor of `cada train`: the training set and the order in
 * which its prompts are visited.
 *
 * The cursor is a position counted over epochs: step s takes positions
 * [s * P, (s + 1) * P) (P = data.prompts_per_step). Epoch e visits the set in the order
 * of a Fisher-Yates shuffle drawn from the Philox stream (seed, "EPOCH", e), or in file
 * order when data.shuffle = false. The order is a pure function of the seed and the
 * position, so a resumed run (or another rank) finds the same prompt at the same
 * position without any saved state. */
#ifndef CADA_SCHED_CURSOR_H
#define CADA_SCHED_CURSOR_H

#include "base/error.h"
#include "cada/dataset.h"

#include <stdint.h>

typedef struct {
    cada_prompt_set data;     /* every prompt of data.train_set, files in order */
    int *order;               /* (data.n) epoch `shuffled_epoch`'s order */
    long long shuffled_epoch; /* -1 before the first */
    uint64_t seed;
    int shuffle;
} cada_cursor;

/* Loads files ("a.jsonl,b.jsonl": comma-separated, read in order) with options so.
 * An empty result is CADA_ERR_CONFIG naming data.train_set. */
cada_status cada_cursor_init(cada_cursor *c, const char *files, const cada_set_options *so, uint64_t seed, int shuffle);
/* Dataset index of the prompt at a cursor position. */
int cada_cursor_item(cada_cursor *c, long long position);
void cada_cursor_free(cada_cursor *c);

#endif
