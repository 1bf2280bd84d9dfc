/* sched/run_state.h: run_state.json of a checkpoint, and finding the newest checkpoint.
 *
 * run_state.json holds what, beside the weights and the optimizer shards, a run needs to
 * continue exactly: every random stream (rollout sampling, epoch shuffles, case choice)
 * is a pure function of the seed and the step, epoch or prompt id, so the step IS the
 * RNG state; the data cursor is step x prompts_per_step (cursor.h). The only other
 * state is an async run's batch ahead, already sampled, in pipeline.bin (pipeline.h).
 * checkpoint.h writes it; `cada train --resume` reads it before any rank starts. */
#ifndef CADA_SCHED_RUN_STATE_H
#define CADA_SCHED_RUN_STATE_H

#include "base/error.h"

#include <stddef.h>

typedef struct {
    long long step;           /* steps done = policy version */
    int learners, zero;       /* the layout that wrote the optimizer shards */
    long long n_params;       /* parameters of the policy */
    long long prompts;        /* prompts in data.train_set (the cursor's modulus) */
    double baseline;          /* running-mean baseline, exact (%.17g) */
    long long baseline_updates;
    double first_reward, first_refusal; /* step 1's, for the closing line (NaN: none) */
    char placement[32];       /* colocated | disaggregated */
} cada_run_state;

/* ckpt/run_state.json; errors name the file and the field. */
cada_status cada_run_state_read(const char *ckpt, cada_run_state *rs);
/* `--resume latest`: the highest checkpoint-N under out_dir with a run_state.json (a
 * checkpoint-N.tmp is unfinished and never matches). */
cada_status cada_checkpoint_latest(const char *out_dir, char *path, size_t cap);

#endif
