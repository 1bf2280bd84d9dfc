/* sched/tp_layout.h: where the tensor-parallel groups of a run lie, and what makes a
 * layout valid (checked by `cada train --check`, at `cada train`'s start and by
 * `cada plan`).
 *
 * A role (learners, rollout engines, the reward ranks that hold the reference) runs in
 * groups of tp ranks (learn.tp, rollout.tp, reward.tp). Ranks lie on nodes in blocks of
 * cluster.gpus_per_node in world-rank order (sched/roles.h: learners, then rollout, then
 * reward ranks; the launchers place them so, deploy/slurm), and a role's groups are
 * consecutive ranks from the role's first. A group never spans two nodes: its
 * all-reduces run on every layer and need NVLink, not the inter-node fabric. This holds
 * when tp divides gpus_per_node and every role starts on a multiple of tp, which the
 * checks below make sure of by requiring each role's rank count to be a multiple of its
 * tp (the roles before it then end on a multiple of tp too, when the tps are equal or
 * divide one another; cada_tp_layout_check_span checks the general case rank by rank).
 *
 * Errors: CADA_ERR_CONFIG naming the keys, their values and the reason. */
#ifndef CADA_SCHED_TP_LAYOUT_H
#define CADA_SCHED_TP_LAYOUT_H

#include "base/error.h"
#include "model/config.h"

/* tp_key (e.g. "learn.tp") = tp for ranks_key (e.g. "cluster.learner_ranks") = ranks:
 * tp >= 1, tp divides gpus_per_node, ranks is a multiple of tp. */
cada_status cada_tp_layout_check(const char *tp_key, int tp, const char *ranks_key, int ranks, int gpus_per_node);

/* The role whose ranks are [first, first + ranks) in groups of tp: no group crosses a
 * node boundary (multiples of gpus_per_node). */
cada_status cada_tp_layout_check_span(const char *tp_key, int tp, const char *role, int first, int ranks, int gpus_per_node);

/* tp against the model's shape: it must divide num_attention_heads,
 * num_key_value_heads, intermediate_size and vocab_size (model/tp.h's requirements,
 * cada_tp_local_config). `model` names the model (its path or preset) in the error. */
cada_status cada_tp_layout_check_shape(const char *tp_key, int tp, const cada_model_config *m, const char *model);

#endif
