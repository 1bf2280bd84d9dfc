/* tests/unit/test_seqs.c: a scored sequence through its protobuf form and back, as a
 * reward rank sends it to the scheduler (RewardBatch): reward, every component, and
 * the reward's flags (refused, truncated, the monitor's verdict) arrive. */
#include "test.h"

#include "sched/seqs.h"

#include <stdlib.h>
#include <string.h>

TEST(seqs_reward_batch_roundtrip) {
    int tokens[] = {5, 6, 7, 8, 9};
    float lp[] = {-0.5f, -1.25f}, ref[] = {-0.75f, -1.0f};
    seq_rec s[2];
    memset(s, 0, sizeof s);
    for (int i = 0; i < 2; i++) {
        s[i] = (seq_rec){.order = i, .sample = 1 - i, .item = 3 + i, .tokens = tokens, .prompt_len = 3, .completion_len = 2,
                         .rollout_lp = lp, .ref_lp = ref, .reward = -1.0f + (float)i, .harmful = 1, .version = 4};
        for (int c = 0; c < SEQ_N_COMP; c++) s[i].comp[c] = 0.125f * (float)(c + 1) * (float)(i + 1);
    }
    s[0].finish = CADA_FINISH_LENGTH;
    s[0].truncated = 1;
    s[0].monitor_flagged = 1;
    s[0].p_monitor = 0.75f;
    s[1].finish = CADA_FINISH_EOS;
    s[1].refused = 1;
    seq_reward_msg m;
    REQUIRE_OK(seq_reward_msg_init(&m, s, 2, 7));
    size_t len = cada__reward_batch__get_packed_size(&m.batch);
    uint8_t *buf = malloc(len);
    REQUIRE(buf);
    cada__reward_batch__pack(&m.batch, buf);
    seq_reward_msg_free(&m);
    Cada__RewardBatch *b = cada__reward_batch__unpack(NULL, len, buf);
    free(buf);
    REQUIRE(b && b->n_trajectories == 2 && b->n_results == 2 && b->step == 7);
    seq_limits lim = {10, 4};
    for (int i = 0; i < 2; i++) {
        seq_rec q;
        REQUIRE_OK(seq_from_msg(b->trajectories[i], &lim, &q, 2, i));
        seq_apply_reward(&q, b->results[i]);
        EXPECT(q.order == s[i].order && q.sample == s[i].sample && q.item == s[i].item && q.finish == s[i].finish &&
               q.version == 4 && q.harmful == 1);
        EXPECT(q.reward == s[i].reward && q.refused == s[i].refused, "item %d", i);
        EXPECT(q.truncated == s[i].truncated && q.monitor_flagged == s[i].monitor_flagged && q.p_monitor == s[i].p_monitor,
               "item %d: truncated %d flagged %d p %g", i, q.truncated, q.monitor_flagged, (double)q.p_monitor);
        for (int c = 0; c < SEQ_N_COMP; c++)
            EXPECT(q.comp[c] == s[i].comp[c], "item %d component %s: %g, want %g", i, seq_comp_names[c], (double)q.comp[c],
                   (double)s[i].comp[c]);
        EXPECT(!memcmp(q.tokens, tokens, sizeof tokens) && q.ref_lp && q.ref_lp[1] == ref[1]);
        free(q.tokens);
        free(q.rollout_lp);
        free(q.ref_lp);
    }
    EXPECT(!strcmp(seq_comp_names[5], "truncated") && !strcmp(seq_comp_names[6], "monitor"));
    cada__reward_batch__free_unpacked(b, NULL);
}
