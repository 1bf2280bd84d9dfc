/* sched/roles.h: which rank does what in a `cada train` job.
 *
 * colocated      every rank is a learner that also rolls out and scores (learner_ranks
 *                = world size, rollout_ranks = reward_ranks = 0).
 * disaggregated  one role per rank, in this order of world ranks:
 *                  [0, L)            learners (L = cluster.learner_ranks); rank 0 is also
 *                                    the scheduler (data cursor, routing, metrics,
 *                                    checkpoint folder): it has the learner group's
 *                                    rank 0 weights, which is what the rollout ranks need
 *                  [L, L + R)        rollout ranks (R = cluster.rollout_ranks >= 1)
 *                  [L + R, L + R + Q) reward ranks (Q = cluster.reward_ranks >= 0): rule
 *                                    rewards (or the judge) and, with a KL term, the
 *                                    frozen reference model
 *                L + R + Q must equal the world size. Rollout rank i sends its
 *                trajectories to reward rank i mod Q (with Q = 0: to the scheduler,
 *                which then scores them and computes the reference log-probs itself).
 * A layout that does not fit the world size is CADA_ERR_CONFIG naming the keys and
 * both numbers; nothing else has started when it is checked. */
#ifndef CADA_SCHED_ROLES_H
#define CADA_SCHED_ROLES_H

#include "base/error.h"

#include <stddef.h>

typedef enum { CADA_ROLE_LEARNER = 0, CADA_ROLE_ROLLOUT, CADA_ROLE_REWARD } cada_role;

typedef struct {
    int disaggregated;
    int world;
    int learners, rollout, reward; /* rank counts (colocated: world, 0, 0) */
    int rollout_tp;                /* ranks per rollout engine (rollout.tp; 1 by default) */
    int reward_tp;                 /* ranks per reward group (reward.tp; 1 by default) */
} cada_roles;

/* placement: "colocated" or "disaggregated"; counts as configured. */
cada_status cada_roles_init(cada_roles *r, const char *placement, int learners, int rollout, int reward, int world);
cada_role cada_roles_of(const cada_roles *r, int rank);
/* The rank's index among the ranks of its role (learner 0, rollout 1, ...). */
int cada_roles_index(const cada_roles *r, int rank);
/* World rank of role's index-th rank. */
int cada_roles_rank(const cada_roles *r, cada_role role, int index);
/* Rollout engines: the rollout ranks in consecutive groups of rollout_tp (model/tp.h),
 * each generating as one; its first rank (the leader) takes the engine's requests and
 * sends its trajectories. set_rollout_tp: CADA_ERR_CONFIG unless it divides rollout. */
cada_status cada_roles_set_rollout_tp(cada_roles *r, int tp);
int cada_roles_engines(const cada_roles *r);
/* World rank of engine e's leader. */
int cada_roles_engine_rank(const cada_roles *r, int e);
/* The engine of a rollout rank (world rank); *leader (may be NULL): its leader's rank. */
int cada_roles_engine_of(const cada_roles *r, int rollout_rank, int *leader);
/* Reward groups: the reward ranks in consecutive groups of reward_tp, each holding the
 * frozen reference model as one (model/tp.h); its first rank (the leader) takes the
 * trajectories, hands them to the others, scores them and sends the rewards.
 * set_reward_tp: CADA_ERR_CONFIG unless it divides reward. */
cada_status cada_roles_set_reward_tp(cada_roles *r, int tp);
int cada_roles_reward_groups(const cada_roles *r);
/* The reward group of a reward rank (world rank); *leader (may be NULL): its leader. */
int cada_roles_reward_group_of(const cada_roles *r, int reward_rank, int *leader);
/* World rank a rollout rank (world rank) sends its trajectories to: a reward group's
 * leader, or 0 (the scheduler) when there are no reward ranks. */
int cada_roles_reward_of(const cada_roles *r, int rollout_rank);
/* Rollout engines whose trajectories a reward rank (world rank) scores, it or its
 * group (engine e goes to reward group e mod groups). */
int cada_roles_feeds(const cada_roles *r, int reward_rank);
/* "scheduler + learner 0", "learner 1", "rollout 0", "reward 0", or colocated's
 * "learner + rollout + reward, colocated". */
const char *cada_roles_name(const cada_roles *r, int rank, char *buf, size_t cap);
/* The start-up line: "5 ranks, disaggregated: rank 0 scheduler + learner 0, rank 1
 * learner 1, ranks 2-3 rollout, rank 4 reward". */
void cada_roles_describe(const cada_roles *r, char *buf, size_t cap);

#endif
