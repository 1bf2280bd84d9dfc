/* sched/exchange.h: a step's sequences between ranks, as protobuf TrainBatch frames
 * (sched/wire.h over MPI_COMM_WORLD, tag CADA_TAG_BATCH): the colocated ranks' swap of
 * their shares, and the scheduler's batch to the other learners.
 *
 * Each frame is checked (wire.h), then each Trajectory (seqs.h: lengths, prompt ids and
 * positions against the limits); errors name the sending rank. Every wait is timed;
 * *peer (may be NULL) names the rank being waited for, for the failure report. */
#ifndef CADA_SCHED_EXCHANGE_H
#define CADA_SCHED_EXCHANGE_H

#ifdef CADA_HAVE_MPI
#include "base/error.h"
#include "sched/seqs.h"

/* The MPI tags of cada train's frames (one place, so no two stages share one by accident). */
#define CADA_TAG_BATCH 101  /* TrainBatch: colocated swap, scheduler -> learners */
#define CADA_TAG_WORK 102   /* RolloutRequest / Control WEIGHTS: scheduler -> rollout */
#define CADA_TAG_TRAJS 103  /* TrajectoryBatch: rollout -> reward (or scheduler) */
#define CADA_TAG_SCORED 104 /* RewardBatch: reward -> scheduler */
#define CADA_TAG_WEIGHTS 105 /* resharded weight sync: learner -> rollout (sched/reshard.h) */

/* s[0..n) of step `step` to rank dest. */
cada_status cada_batch_send(const seq_rec *s, int n, long long step, int dest, double timeout_s);
/* A TrainBatch from rank `from` (records malloc'd, rewards with their components and
 * the reward's flags included: rank 0's metrics count every rank's sequences). */
cada_status cada_batch_recv(int from, const seq_limits *lim, double timeout_s, seq_rec **out, int *n_out);

/* Colocated: every rank's sequences on every rank, in (position, sample) order. Every
 * pair of ranks swaps shares, the pairs taken in one global order, the lower rank of a
 * pair sending first (a send above MPI's eager limit completes only when its receiver
 * takes it, so "all send, then all receive" would wait forever). mine's records move
 * into *all (mine itself is freed in every case). */
cada_status cada_exchange_all(seq_rec *mine, int n_mine, long long step, int rank, int world, const seq_limits *lim,
                              double timeout_s, int *peer, seq_rec **all, int *n_all);
#endif

#endif
