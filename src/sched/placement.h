/* sched/placement.h: the placements of `cada train`, each a plan of which ranks run which
 * stages of a step and which messages pass between them (trainer.h lists the stages).
 *
 * colocated      (colocated.c) every rank: data cursor (its share: positions p with
 *                p % W == rank) -> render -> rollout -> score + reference -> exchange
 *                (every rank swaps TrainBatch frames with every other) -> learn ->
 *                metrics (rank 0) -> checkpoint/boundary. No weights travel: each rank
 *                rolls out with the weights it trains. learn.tp = P > 1 (rollout.tp
 *                and reward.tp equal to it): groups of P consecutive ranks hold the
 *                policy and the reference split one way (model/tp.h); "rank" above
 *                reads "group" (group g of W / P takes p % (W / P) == g), its ranks
 *                generate and compute reference log-probs together, and its first
 *                rank alone scores the rewards and enters the exchange.
 * disaggregated  (disagg.c, disagg_sched.c, disagg_worker.c) one role per rank:
 *                scheduler = learner 0: cursor -> render -> RolloutRequest to each
 *                rollout rank; rollout ranks: rollout -> TrajectoryBatch to their reward
 *                rank; reward ranks: score + reference -> RewardBatch to the scheduler
 *                (no reward ranks: the scheduler scores); scheduler: collect, check,
 *                TrainBatch to the other learners; learners: learn; learner 0 ->
 *                rollout ranks: weight sync by version; every rank: boundary.
 *                rollout.mode = async runs rollout and reward one step ahead.
 * Both run after trainer_setup and end with trainer_finish. */
#ifndef CADA_SCHED_PLACEMENT_H
#define CADA_SCHED_PLACEMENT_H

#ifdef CADA_HAVE_MPI
#include "sched/trainer.h"

cada_status cada_colocated_run(trainer *t);
cada_status cada_disagg_run(trainer *t);
#endif

#endif
