/* tests/unit/test_roles.c: the rank layout of `cada train` (sched/roles.h): role and
 * index of every rank, the reward rank each rollout rank feeds, the start-up line, and
 * layouts that do not fit the world size. */
#include "test.h"

#include "sched/roles.h"

#include <string.h>

TEST(roles_disaggregated_layout) {
    cada_roles r;
    REQUIRE_OK(cada_roles_init(&r, "disaggregated", 2, 3, 2, 7));
    EXPECT(r.disaggregated && r.learners == 2 && r.rollout == 3 && r.reward == 2);
    cada_role want[] = {CADA_ROLE_LEARNER, CADA_ROLE_LEARNER, CADA_ROLE_ROLLOUT, CADA_ROLE_ROLLOUT,
                        CADA_ROLE_ROLLOUT, CADA_ROLE_REWARD, CADA_ROLE_REWARD};
    int index[] = {0, 1, 0, 1, 2, 0, 1};
    for (int k = 0; k < 7; k++) {
        EXPECT(cada_roles_of(&r, k) == want[k]);
        EXPECT(cada_roles_index(&r, k) == index[k]);
        EXPECT(cada_roles_rank(&r, want[k], index[k]) == k);
    }
    /* rollout i -> reward i mod 2: ranks 2, 4 -> 5; rank 3 -> 6 */
    EXPECT(cada_roles_reward_of(&r, 2) == 5 && cada_roles_reward_of(&r, 3) == 6 && cada_roles_reward_of(&r, 4) == 5);
    EXPECT(cada_roles_feeds(&r, 5) == 2 && cada_roles_feeds(&r, 6) == 1);
    char buf[200];
    EXPECT(!strcmp(cada_roles_name(&r, 0, buf, sizeof buf), "scheduler + learner 0"));
    EXPECT(!strcmp(cada_roles_name(&r, 4, buf, sizeof buf), "rollout 2"));
    EXPECT(!strcmp(cada_roles_name(&r, 6, buf, sizeof buf), "reward 1"));
    cada_roles_describe(&r, buf, sizeof buf);
    EXPECT(!strcmp(buf, "7 ranks, disaggregated: rank 0 scheduler + learner 0, rank 1 learner 1, ranks 2-4 rollout, ranks 5-6 reward"), "got \"%s\"", buf);
    /* no reward ranks: trajectories go to the scheduler */
    REQUIRE_OK(cada_roles_init(&r, "disaggregated", 1, 1, 0, 2));
    EXPECT(cada_roles_reward_of(&r, 1) == 0);
    cada_roles_describe(&r, buf, sizeof buf);
    EXPECT(!strcmp(buf, "2 ranks, disaggregated: rank 0 scheduler + learner 0, rank 1 rollout, no reward rank (the scheduler scores)"), "got \"%s\"", buf);
}

/* rollout.tp: engines of consecutive rollout ranks; the leader speaks for its engine */
TEST(roles_rollout_engines) {
    cada_roles r;
    REQUIRE_OK(cada_roles_init(&r, "disaggregated", 1, 6, 2, 9)); /* learner 0, rollout 1-6, reward 7-8 */
    EXPECT(cada_roles_engines(&r) == 6);
    EXPECT(cada_roles_set_rollout_tp(&r, 4) == CADA_ERR_CONFIG); /* 6 ranks are not whole engines of 4 */
    REQUIRE_OK(cada_roles_set_rollout_tp(&r, 3));
    EXPECT(cada_roles_engines(&r) == 2 && cada_roles_engine_rank(&r, 0) == 1 && cada_roles_engine_rank(&r, 1) == 4);
    int leader = -1;
    EXPECT(cada_roles_engine_of(&r, 3, &leader) == 0 && leader == 1);
    EXPECT(cada_roles_engine_of(&r, 5, &leader) == 1 && leader == 4);
    /* engine e -> reward e mod 2: every rank of engine 1 names reward rank 8 */
    EXPECT(cada_roles_reward_of(&r, 1) == 7 && cada_roles_reward_of(&r, 4) == 8 && cada_roles_reward_of(&r, 6) == 8);
    EXPECT(cada_roles_feeds(&r, 7) == 1 && cada_roles_feeds(&r, 8) == 1);
    char buf[200];
    cada_roles_describe(&r, buf, sizeof buf);
    EXPECT(strstr(buf, "ranks 1-6 rollout (2 engines of 3)") != NULL, "got \"%s\"", buf);
}

/* reward.tp: groups of consecutive reward ranks; engines go to group leaders, and every
 * rank of a group takes part in each batch its leader is fed */
TEST(roles_reward_groups) {
    cada_roles r;
    REQUIRE_OK(cada_roles_init(&r, "disaggregated", 1, 3, 4, 8)); /* learner 0, rollout 1-3, reward 4-7 */
    EXPECT(cada_roles_set_reward_tp(&r, 3) == CADA_ERR_CONFIG); /* 4 ranks are not whole groups of 3 */
    REQUIRE_OK(cada_roles_set_reward_tp(&r, 2));
    EXPECT(cada_roles_reward_groups(&r) == 2);
    int leader = -1;
    EXPECT(cada_roles_reward_group_of(&r, 5, &leader) == 0 && leader == 4);
    EXPECT(cada_roles_reward_group_of(&r, 6, &leader) == 1 && leader == 6);
    /* engine e -> group e mod 2: engines 0 and 2 to rank 4, engine 1 to rank 6 */
    EXPECT(cada_roles_reward_of(&r, 1) == 4 && cada_roles_reward_of(&r, 2) == 6 && cada_roles_reward_of(&r, 3) == 4);
    EXPECT(cada_roles_feeds(&r, 4) == 2 && cada_roles_feeds(&r, 5) == 2 && cada_roles_feeds(&r, 6) == 1 && cada_roles_feeds(&r, 7) == 1);
    char buf[200];
    cada_roles_describe(&r, buf, sizeof buf);
    EXPECT(strstr(buf, "ranks 4-7 reward (2 groups of 2)") != NULL, "got \"%s\"", buf);
    cada_roles none;
    REQUIRE_OK(cada_roles_init(&none, "disaggregated", 1, 1, 0, 2));
    EXPECT(cada_roles_set_reward_tp(&none, 2) == CADA_ERR_CONFIG); /* no reward ranks to group */
    EXPECT(cada_roles_set_reward_tp(&none, 1) == CADA_OK);
}

TEST(roles_colocated_and_bad_layouts) {
    cada_roles r;
    REQUIRE_OK(cada_roles_init(&r, "colocated", 4, 0, 0, 4));
    EXPECT(!r.disaggregated && cada_roles_of(&r, 3) == CADA_ROLE_LEARNER && cada_roles_index(&r, 3) == 3);
    char buf[200];
    EXPECT(!strcmp(cada_roles_name(&r, 2, buf, sizeof buf), "learner + rollout + reward, colocated"));
    EXPECT(cada_roles_init(&r, "colocated", 3, 0, 0, 4) == CADA_ERR_CONFIG);
    EXPECT(strstr(cada_error_message(), "learner_ranks = world size (4)"));
    EXPECT(cada_roles_init(&r, "disaggregated", 2, 2, 1, 4) == CADA_ERR_CONFIG);
    EXPECT(strstr(cada_error_message(), "= world size (4), have 2 + 2 + 1 = 5"));
    EXPECT(cada_roles_init(&r, "disaggregated", 2, 0, 2, 4) == CADA_ERR_CONFIG);
    EXPECT(strstr(cada_error_message(), "rollout_ranks >= 1"));
}
