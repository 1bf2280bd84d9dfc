/* sched/disagg.h: what the three files of the disaggregated placement share (not a
 * public interface; placement.h describes the placement).
 *
 * One step s (0-based; policy version v = the updates applied so far):
 *   scheduler (rank 0)  renders the step's prompts (the colocated order: the same data
 *                       cursor), gives each prompt to the rollout rank with the fewest
 *                       outstanding tokens (S samples x (prompt + max_new_tokens)) and
 *                       sends every rollout rank one RolloutRequest (possibly empty)
 *                       tagged with the policy version it must sample with;
 *   rollout ranks       check the version against the weights they hold, generate, send
 *                       a TrajectoryBatch to their reward rank (rollout i -> reward i mod Q);
 *                       with rollout.tp = Pr > 1 the rollout ranks form engines of Pr
 *                       consecutive ranks (one TP group each, model/tp.h): "rollout rank"
 *                       above then reads "engine": the scheduler sends each engine's
 *                       leader one request, which the leader hands to the engine's other
 *                       ranks; all of them generate together (the same tokens on each),
 *                       and the leader alone sends the batch (engine e -> reward e mod Q);
 *   reward ranks        score each batch as it arrives, add the reference log-probs and
 *                       send a RewardBatch to the scheduler (no reward rank: the
 *                       scheduler scores);
 *   scheduler           checks that every sample of the step is there, once, from the
 *                       expected version, orders them and sends the batch to the other
 *                       learners (TrainBatch);
 *   learners            the learn stage; learner 0 then syncs the weights (weight_sync.h;
 *                       rollout.tp > 1: every learner, each rollout rank receiving exactly
 *                       its slice, reshard.h);
 *   every rank          checkpoint when due and the step boundary.
 * rollout.mode = async (one-step-off): the rollout and reward ranks run one step ahead:
 * during step s they generate and score step s + 1 with version s while the learners
 * train on step s (generated with version s - 1): staleness 1 from the second step on,
 * recorded per step. Sends that may cross the step boundary (to the scheduler) are
 * non-blocking and completed at the next step (wire.h cada_wire_isend), so no rank waits
 * in a send while its receiver waits in the boundary's collective. The scheduler takes
 * the batch of step s + 1 before the boundary of step s (the rollout and reward ranks
 * finished it before reaching that boundary anyway), so at the boundary it holds the
 * whole pipeline: the checkpoint saves it and a resumed run continues exactly
 * (pipeline.h). With cluster.sync_overlap (the default) a rollout rank posts the receives
 * of version s + 1 before it generates step s + 1 and moves what has arrived between its
 * model calls, into a second copy of its part; it swaps the copies after the rollout, so
 * a learner whose update ends first sends while the rollout still runs and neither side
 * waits for the other's sync.
 *
 * Waiting: every wait is a timed poll with back-off. A wait that covers other ranks' work
 * gets more time the more work it covers: a reward rank waits cluster.timeout_seconds (T)
 * for trajectories, the scheduler 1.25 T for results, other learners and the rollout
 * ranks 1.5 T for the batch or the weights; so the rank next to a silent one times out
 * first and names it. */
#ifndef CADA_SCHED_DISAGG_H
#define CADA_SCHED_DISAGG_H

#ifdef CADA_HAVE_MPI
#include "sched/trainer.h"

#include <stddef.h>

/* cluster.timeout_seconds x tier. */
double disagg_wait(const trainer *t, double tier);
int disagg_async(const trainer *t);
/* Starts a send that may cross a collective (completed by disagg_flush_sends). */
cada_status disagg_start_send(trainer *t, int dest, int tag, const Cada__Envelope *env);
cada_status disagg_flush_sends(trainer *t);
/* rollout.mode = async with cluster.sync_overlap: the rollout ranks receive each version
 * into a second copy of their part while they generate (disagg_sync_begin/finish). */
int disagg_overlapped(const trainer *t);
/* rollout.tp > 1, learn.tp > 1, cluster.weight_sync = bf16 or an overlapped sync: the
 * weight sync is resharded (sched/reshard.h), from every learner. */
int disagg_resharded(const trainer *t);
/* The weight sync of version `version`: rank 0 and every rollout rank (a broadcast of
 * the whole model from rank 0), or, resharded, every learner and every rollout rank. */
cada_status disagg_sync_weights(trainer *t, long long version);
/* The overlapped sync on a rollout rank: begin posts the receives of `version` into
 * t->policy_next (allocated on first use) before the rollout; the rollout's engine calls
 * disagg_sync_progress(t->sync_next) between its model calls, so the bytes move while it
 * generates with t->policy; finish waits for what is still missing and swaps the copies
 * (cada_model_swap_weights): the rank then holds `version`. The learners' side is the
 * same resharded sync as without overlap. */
cada_status disagg_sync_begin(trainer *t, long long version);
void disagg_sync_progress(void *sync_next);
cada_status disagg_sync_finish(trainer *t);
/* Named numbers carried in batches ("generate_s", "rollout_rank", ...). */
Cada__Metric *disagg_metric(Cada__Metric *m, const char *name, double v);
double disagg_metric_of(Cada__Metric **m, size_t n, const char *name);

/* The learners' loop (rank 0 also schedules: disagg_sched.c). */
cada_status disagg_run_learner(trainer *t, int *stopped);
/* The rollout and reward ranks' loop (disagg_worker.c). */
cada_status disagg_run_worker(trainer *t, int *stopped);
#endif

#endif
