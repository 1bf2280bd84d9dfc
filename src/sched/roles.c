/* sched/roles.c: see roles.h. */
#include "sched/roles.h"

#include <stdio.h>
#include <string.h>

cada_status cada_roles_init(cada_roles *r, const char *placement, int learners, int rollout, int reward, int world) {
    memset(r, 0, sizeof *r);
    r->world = world;
    r->rollout_tp = 1;
    r->reward_tp = 1;
    if (!strcmp(placement, "colocated")) {
        if (learners != world || rollout != 0 || reward != 0)
            return CADA_ERR(CADA_ERR_CONFIG,
                            "layout: colocated needs cluster.learner_ranks = world size (%d) and rollout_ranks = reward_ranks = 0 (have %d/%d/%d)",
                            world, learners, rollout, reward);
        r->learners = world;
        return CADA_OK;
    }
    if (strcmp(placement, "disaggregated"))
        return CADA_ERR(CADA_ERR_CONFIG, "cluster.placement = '%s' is not one of disaggregated|colocated", placement);
    if (learners < 1 || rollout < 1 || reward < 0)
        return CADA_ERR(CADA_ERR_CONFIG, "layout: disaggregated needs cluster.learner_ranks >= 1 and rollout_ranks >= 1 (have %d/%d/%d)",
                        learners, rollout, reward);
    if (learners + rollout + reward != world)
        return CADA_ERR(CADA_ERR_CONFIG,
                        "layout: disaggregated needs cluster.learner_ranks + rollout_ranks + reward_ranks = world size (%d), "
                        "have %d + %d + %d = %d (start it with mpirun -np %d, or change the counts)",
                        world, learners, rollout, reward, learners + rollout + reward, learners + rollout + reward);
    r->disaggregated = 1;
    r->rollout_tp = 1;
    r->reward_tp = 1;
    r->learners = learners;
    r->rollout = rollout;
    r->reward = reward;
    return CADA_OK;
}

cada_role cada_roles_of(const cada_roles *r, int rank) {
    if (!r->disaggregated || rank < r->learners) return CADA_ROLE_LEARNER;
    return rank < r->learners + r->rollout ? CADA_ROLE_ROLLOUT : CADA_ROLE_REWARD;
}

int cada_roles_index(const cada_roles *r, int rank) {
    switch (cada_roles_of(r, rank)) {
    case CADA_ROLE_LEARNER: return rank;
    case CADA_ROLE_ROLLOUT: return rank - r->learners;
    case CADA_ROLE_REWARD: return rank - r->learners - r->rollout;
    }
    return -1;
}

int cada_roles_rank(const cada_roles *r, cada_role role, int index) {
    return role == CADA_ROLE_LEARNER ? index : role == CADA_ROLE_ROLLOUT ? r->learners + index : r->learners + r->rollout + index;
}

cada_status cada_roles_set_rollout_tp(cada_roles *r, int tp) {
    if (tp < 1 || (r->rollout && r->rollout % tp))
        return CADA_ERR(CADA_ERR_CONFIG, "rollout.tp = %d must divide cluster.rollout_ranks = %d (whole engines)", tp, r->rollout);
    r->rollout_tp = tp;
    return CADA_OK;
}

int cada_roles_engines(const cada_roles *r) { return r->rollout / r->rollout_tp; }

int cada_roles_engine_rank(const cada_roles *r, int e) { return cada_roles_rank(r, CADA_ROLE_ROLLOUT, e * r->rollout_tp); }

int cada_roles_engine_of(const cada_roles *r, int rollout_rank, int *leader) {
    const int e = cada_roles_index(r, rollout_rank) / r->rollout_tp;
    if (leader) *leader = cada_roles_engine_rank(r, e);
    return e;
}

cada_status cada_roles_set_reward_tp(cada_roles *r, int tp) {
    if (tp < 1 || (tp > 1 && r->reward % tp) || (tp > 1 && r->reward == 0))
        return CADA_ERR(CADA_ERR_CONFIG, "reward.tp = %d must divide cluster.reward_ranks = %d (whole reward groups)", tp, r->reward);
    r->reward_tp = tp;
    return CADA_OK;
}

int cada_roles_reward_groups(const cada_roles *r) { return r->reward / r->reward_tp; }

int cada_roles_reward_group_of(const cada_roles *r, int reward_rank, int *leader) {
    const int g = cada_roles_index(r, reward_rank) / r->reward_tp;
    if (leader) *leader = cada_roles_rank(r, CADA_ROLE_REWARD, g * r->reward_tp);
    return g;
}

int cada_roles_reward_of(const cada_roles *r, int rollout_rank) {
    if (r->reward == 0) return 0;
    const int g = cada_roles_engine_of(r, rollout_rank, NULL) % cada_roles_reward_groups(r);
    return cada_roles_rank(r, CADA_ROLE_REWARD, g * r->reward_tp);
}

int cada_roles_feeds(const cada_roles *r, int reward_rank) {
    int j = cada_roles_reward_group_of(r, reward_rank, NULL), n = 0;
    for (int e = 0; e < cada_roles_engines(r); e++) n += e % cada_roles_reward_groups(r) == j;
    return n;
}

const char *cada_roles_name(const cada_roles *r, int rank, char *buf, size_t cap) {
    if (!r->disaggregated) snprintf(buf, cap, "learner + rollout + reward, colocated");
    else if (rank == 0) snprintf(buf, cap, "scheduler + learner 0");
    else {
        static const char *names[] = {"learner", "rollout", "reward"};
        snprintf(buf, cap, "%s %d", names[cada_roles_of(r, rank)], cada_roles_index(r, rank));
    }
    return buf;
}

/* "rank 4" or "ranks 2-3" */
static size_t span(char *buf, size_t cap, int lo, int n, const char *what) {
    if (n == 1) return (size_t)snprintf(buf, cap, ", rank %d %s", lo, what);
    return (size_t)snprintf(buf, cap, ", ranks %d-%d %s", lo, lo + n - 1, what);
}

void cada_roles_describe(const cada_roles *r, char *buf, size_t cap) {
    if (!r->disaggregated) {
        snprintf(buf, cap, "%d ranks, colocated (each rank: learner + rollout + reward)", r->world);
        return;
    }
    size_t at = (size_t)snprintf(buf, cap, "%d ranks, disaggregated: rank 0 scheduler + learner 0", r->world);
    if (at < cap && r->learners > 1) at += span(buf + at, cap - at, 1, r->learners - 1, r->learners == 2 ? "learner 1" : "learners");
    char engines[48];
    snprintf(engines, sizeof engines, "rollout (%d engines of %d)", cada_roles_engines(r), r->rollout_tp);
    if (at < cap) at += span(buf + at, cap - at, r->learners, r->rollout, r->rollout_tp > 1 ? engines : "rollout");
    char groups[48];
    snprintf(groups, sizeof groups, "reward (%d groups of %d)", cada_roles_reward_groups(r), r->reward_tp);
    if (at < cap && r->reward) span(buf + at, cap - at, r->learners + r->rollout, r->reward, r->reward_tp > 1 ? groups : "reward");
    else if (at < cap) snprintf(buf + at, cap - at, ", no reward rank (the scheduler scores)");
}
