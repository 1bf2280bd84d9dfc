/* sched/learn_stage.h: the learn stage: advantages and the policy update on the step's
 * global batch (the same records, in the same order, on every learner).
 *
 * The sequences become learn/traj.h trajectories (group = prompt position, so GRPO and
 * RLOO group the samples of a prompt; DPO: the pair, sample 0 chosen, sample 1 rejected,
 * as offline_stage.h builds them) and go through cada_learner_step: advantages,
 * loss, micro-batches split over the learner group, gradient reduction, ZeRO, AdamW
 * (learn/learner.h). progress (may be NULL) shows the micro-batches under `label`. */
#ifndef CADA_SCHED_LEARN_STAGE_H
#define CADA_SCHED_LEARN_STAGE_H

#include "base/error.h"
#include "learn/learner.h"
#include "sched/progress.h"
#include "sched/seqs.h"

/* *learn_s: the update's wall time. */
cada_status cada_learn_stage_run(cada_learner *L, const seq_rec *all, int n_all, cada_progress *progress, const char *label,
                                 cada_step_metrics *sm, double *learn_s);

#endif
