/* sched/lifecycle.h: what every placement does around its steps: begin (resume from a
 * checkpoint, open rank 0's metrics), report a step, end a step (checkpoint when due,
 * agree on stop signals), finish.
 *
 * Signals: SIGTERM (Slurm preemption, scancel) and SIGINT only set a flag; after each
 * step the ranks take the max of it (one small all-reduce, also a per-step sign of life)
 * and, when set, every rank writes its part of checkpoint-<step> and the job exits 0
 * ("SIGTERM: checkpoint-N written, exiting"). */
#ifndef CADA_SCHED_LIFECYCLE_H
#define CADA_SCHED_LIFECYCLE_H

#ifdef CADA_HAVE_MPI
#include "sched/trainer.h"

/* SIGTERM / SIGINT set the flag trainer_step_end reads. */
void trainer_install_signals(void);
/* After trainer_setup: t->resume restored (weights, optimizer shard, baseline,
 * counters; async: rank 0's batch ahead, pipeline.h), rank 0's metrics files opened
 * (metrics.h). */
cada_status trainer_begin(trainer *t);
/* After a learner step, on every learner: first/last reward bookkeeping, and on rank 0
 * the metrics line, TensorBoard and samples (metrics.h). */
cada_status trainer_report(trainer *t, long long step, const seq_rec *all, int n_all, const cada_step_metrics *sm,
                           const cada_metric_field *fields, int n_fields);
/* The end of step (0-based): checkpoint when due, then every rank learns whether a stop
 * signal reached any of them (*stopped = 1: the checkpoint is written, stop). */
cada_status trainer_step_end(trainer *t, long long step, int *stopped);
/* The closing line (rank 0) and the final timed barrier. */
cada_status trainer_finish(trainer *t, int stopped);
#endif

#endif
