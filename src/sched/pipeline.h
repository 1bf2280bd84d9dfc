/* sched/pipeline.h: the batch ahead of a one-step-off run (rollout.mode = async), and
 * its file in a checkpoint, so that resuming an async run is exact.
 *
 * In an async run the rollout and reward ranks work on step s + 1 (sampling with policy
 * version s) while the learners train on step s. Rank 0 collects that batch, scored
 * (rewards, components, reference log-probs), before the boundary of step s, so at every
 * step boundary the whole pipeline is in rank 0's hands: the checkpoint written there
 * saves it as pipeline.bin, and --resume gives it back to rank 0, which learns step
 * s + 1 from the very samples the uninterrupted run learns from. Nothing else is in
 * flight: every random stream is keyed by (seed, step, prompt, sample) (run_state.h).
 *
 * pipeline.bin: one frame of sched/wire.h (16-byte header: magic "CADA", version 1,
 * flags, payload and message sizes; zstd-compressed above 4 KiB) holding a
 * cada.Envelope whose body is a RewardBatch (proto/cada.proto):
 *   step          the 0-based step the batch is for = the checkpoint's step
 *   trajectories  in (position, sample) order, each with policy_version = step - 1,
 *                 rollout and (with a KL term) reference log-probs
 *   results[i]    the reward of trajectories[i]: total, components, refused
 *   metrics       "generate_s", "reward_s", "reference_s", "collect_s": the timings the
 *                 step's metrics line reports
 * No trajectories: nothing was ahead (the checkpoint of a run's last step, whose next
 * step was never sampled); a run continued past it restarts its pipeline (its first step
 * samples with the checkpoint's weights, on-policy). The loader checks the frame
 * (wire.h), the step, every trajectory (seqs.h), the versions, and that each
 * (position, sample) of the step is there exactly once. */
#ifndef CADA_SCHED_PIPELINE_H
#define CADA_SCHED_PIPELINE_H

#include "base/error.h"
#include "sched/seqs.h"

typedef struct {
    seq_rec *seqs;  /* (n) in (position, sample) order; NULL: nothing held */
    int n;
    long long step; /* the 0-based step it is for */
    double generate_s, reward_s, reference_s, collect_s;
} cada_ahead;

/* Frees what a holds; a holds nothing after. */
void cada_ahead_clear(cada_ahead *a);
/* dir/pipeline.bin from a (nothing held: an empty batch of step `step`). */
cada_status cada_pipeline_save(const cada_ahead *a, long long step, const char *dir);
/* dir/pipeline.bin into *a, which must be for step `step` with `want` samples (or none:
 * a->seqs stays NULL); errors name the file and the field. */
cada_status cada_pipeline_load(const char *dir, long long step, const seq_limits *lim, int samples_per_prompt, cada_ahead *a);

#endif
