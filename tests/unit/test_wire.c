/* tests/unit/test_wire.c: protobuf frames: round trips, with and without zstd, and
 * every malformed frame the decoder must refuse without crashing or over-allocating;
 * the judge tally a RewardBatch carries. */
#define _POSIX_C_SOURCE 200809L
#include "test.h"

#include "sched/score_stage.h"
#include "sched/wire.h"

#include <stdlib.h>
#include <string.h>
#include <zstd.h>

/* A trajectory batch with n completion tokens per trajectory. */
static Cada__Envelope *make_batch(int n_traj, int n_tokens, Cada__Envelope *env, Cada__TrajectoryBatch *batch,
                                  Cada__Trajectory **ptrs, Cada__Trajectory *trajs, int32_t *tokens, float *lps) {
    cada__envelope__init(env);
    cada__trajectory_batch__init(batch);
    for (int i = 0; i < n_traj; i++) {
        cada__trajectory__init(&trajs[i]);
        trajs[i].prompt_id = 100 + (uint64_t)i;
        trajs[i].sample_index = (uint32_t)i;
        trajs[i].n_completion_tokens = (size_t)n_tokens;
        trajs[i].completion_tokens = tokens;
        trajs[i].n_rollout_logprobs = (size_t)n_tokens;
        trajs[i].rollout_logprobs = lps;
        trajs[i].finish = CADA__FINISH_REASON__FINISH_EOS;
        ptrs[i] = &trajs[i];
    }
    batch->step = 7;
    batch->n_trajectories = (size_t)n_traj;
    batch->trajectories = ptrs;
    env->body_case = CADA__ENVELOPE__BODY_TRAJECTORIES;
    env->trajectories = batch;
    return env;
}

TEST(wire_roundtrip_plain_and_zstd) {
    enum { NT = 4, NTOK = 3000 };
    int32_t *tokens = malloc(sizeof(int32_t) * NTOK);
    float *lps = malloc(sizeof(float) * NTOK);
    for (int i = 0; i < NTOK; i++) {
        tokens[i] = (i * 37) % 49152;
        lps[i] = -0.001f * (float)(i % 100);
    }
    Cada__Envelope env;
    Cada__TrajectoryBatch batch;
    Cada__Trajectory trajs[NT], *ptrs[NT];
    make_batch(NT, NTOK, &env, &batch, ptrs, trajs, tokens, lps);
    cada_wire_options plain = cada_wire_defaults(), packed = cada_wire_defaults();
    plain.zstd_threshold = 0;
    for (int pass = 0; pass < 2; pass++) {
        const cada_wire_options *o = pass ? &packed : &plain;
        uint8_t *frame;
        size_t len;
        REQUIRE_OK(cada_wire_encode(&env, o, &frame, &len));
        EXPECT(((frame[6] & CADA_WIRE_ZSTD) != 0) == (pass == 1), "zstd flag on pass %d", pass);
        Cada__Envelope *back;
        cada_status st = cada_wire_decode(frame, len, o, "rank 1", &back);
        free(frame);
        REQUIRE_OK(st);
        EXPECT(back->body_case == CADA__ENVELOPE__BODY_TRAJECTORIES && back->trajectories->n_trajectories == NT);
        const Cada__Trajectory *t = back->trajectories->trajectories[2];
        EXPECT(t->prompt_id == 102 && t->n_completion_tokens == NTOK && !memcmp(t->completion_tokens, tokens, sizeof(int32_t) * NTOK) &&
                   !memcmp(t->rollout_logprobs, lps, sizeof(float) * NTOK),
               "contents survive");
        cada_wire_free(back);
    }
    free(tokens);
    free(lps);
}

static void expect_refused(const uint8_t *frame, size_t len, const cada_wire_options *o, const char *needle, const char *what) {
    Cada__Envelope *env = NULL;
    cada_status st = cada_wire_decode(frame, len, o, "rank 4", &env);
    EXPECT(st != CADA_OK && env == NULL, "%s: accepted", what);
    EXPECT(strstr(cada_error_message(), "rank 4") && strstr(cada_error_message(), needle), "%s: message '%s' lacks '%s'", what,
           cada_error_message(), needle);
    cada_wire_free(env);
}

TEST(wire_refuses_malformed_frames) {
    cada_wire_options o = cada_wire_defaults();
    Cada__Control ctl = CADA__CONTROL__INIT;
    ctl.kind = CADA__CONTROL__KIND__STOP;
    ctl.reason = "done";
    Cada__Envelope env = CADA__ENVELOPE__INIT;
    env.body_case = CADA__ENVELOPE__BODY_CONTROL;
    env.control = &ctl;
    uint8_t *frame;
    size_t len;
    REQUIRE_OK(cada_wire_encode(&env, &o, &frame, &len));
    uint8_t *bad = malloc(len + 64);

    expect_refused(frame, 10, &o, "header", "short frame");
    memcpy(bad, frame, len); bad[0] ^= 0xff;
    expect_refused(bad, len, &o, "magic", "bad magic");
    memcpy(bad, frame, len); bad[4] = 9;
    expect_refused(bad, len, &o, "version", "bad version");
    memcpy(bad, frame, len); bad[6] = 0x80;
    expect_refused(bad, len, &o, "flags", "unknown flag");
    expect_refused(frame, len - 1, &o, "payload", "truncated payload");
    memcpy(bad, frame, len); memset(bad + len, 0, 8);
    expect_refused(bad, len + 8, &o, "payload", "trailing bytes");
    memcpy(bad, frame, len); bad[12] = 0xff; bad[13] = 0xff; bad[14] = 0xff; bad[15] = 0x7f;
    expect_refused(bad, len, &o, "cap", "message length beyond the cap");
    memcpy(bad, frame, len); memset(bad + CADA_WIRE_HEADER_BYTES, 0xff, len - CADA_WIRE_HEADER_BYTES);
    expect_refused(bad, len, &o, "cada.Envelope", "garbage protobuf");
    /* an envelope with no body */
    Cada__Envelope empty = CADA__ENVELOPE__INIT;
    uint8_t *ef;
    size_t el;
    REQUIRE_OK(cada_wire_encode(&empty, &o, &ef, &el));
    expect_refused(ef, el, &o, "no message", "empty envelope");
    free(ef);

    /* zstd bomb: 64 MiB of zeros compress to a few KiB; with a 1 MiB cap the header's
     * declared size is refused before any decompression. */
    size_t big = (size_t)64 << 20;
    uint8_t *zeros = calloc(big, 1);
    size_t bound = ZSTD_compressBound(big);
    uint8_t *z = malloc(CADA_WIRE_HEADER_BYTES + bound);
    REQUIRE(zeros && z);
    size_t zl = ZSTD_compress(z + CADA_WIRE_HEADER_BYTES, bound, zeros, big, 1);
    REQUIRE(!ZSTD_isError(zl));
    memcpy(z, frame, 8);
    z[6] = CADA_WIRE_ZSTD;
    z[8] = (uint8_t)zl; z[9] = (uint8_t)(zl >> 8); z[10] = (uint8_t)(zl >> 16); z[11] = (uint8_t)(zl >> 24);
    z[12] = 0; z[13] = 0; z[14] = 0; z[15] = 4; /* declares exactly 64 MiB */
    cada_wire_options small = o;
    small.max_message = (size_t)1 << 20;
    expect_refused(z, CADA_WIRE_HEADER_BYTES + zl, &small, "cap", "zstd bomb");
    /* a header that understates what the zstd frame holds */
    z[14] = 1; z[15] = 0; /* 64 KiB */
    expect_refused(z, CADA_WIRE_HEADER_BYTES + zl, &o, "content size", "zstd size mismatch");
    /* a zstd flag on bytes that are not zstd */
    memcpy(bad, frame, len); bad[6] = CADA_WIRE_ZSTD;
    expect_refused(bad, len, &o, "zstd", "not zstd");
    free(zeros);
    free(z);
    free(bad);
    free(frame);
}

/* RewardBatch.judge: a reward rank's judge tally survives packing, and what a
 * malformed one holds is refused naming the sending rank. */
TEST(wire_reward_batch_judge_stats) {
    cada_judge_tally t = {.seconds = 1.5, .cpu_seconds = 2.75, .prompt_tokens = 1234, .gen_tokens = 56};
    t.sum[CADA_JS_REFUSAL] = 3.25, t.count[CADA_JS_REFUSAL] = 8;
    t.sum[CADA_JS_MONITOR] = 0.5, t.count[CADA_JS_MONITOR] = 5;
    Cada__JudgeStats js;
    Cada__JudgeScoreSum sums[CADA_JS_N], *sp[CADA_JS_N];
    cada_judge_tally_to_msg(&t, &js, sums, sp);
    Cada__RewardBatch rb = CADA__REWARD_BATCH__INIT;
    rb.step = 3;
    rb.judge = &js;
    size_t len = cada__reward_batch__get_packed_size(&rb);
    uint8_t *buf = malloc(len);
    REQUIRE(buf);
    cada__reward_batch__pack(&rb, buf);
    Cada__RewardBatch *back = cada__reward_batch__unpack(NULL, len, buf);
    REQUIRE(back && back->judge);
    cada_judge_tally u;
    REQUIRE_OK(cada_judge_tally_from_msg(back->judge, &u, 4));
    EXPECT(u.seconds == 1.5 && u.cpu_seconds == 2.75 && u.prompt_tokens == 1234 && u.gen_tokens == 56);
    for (int k = 0; k < CADA_JS_N; k++) EXPECT(u.sum[k] == t.sum[k] && u.count[k] == t.count[k], "score %d", k);
    /* merged over two reward ranks: sums and counts add, seconds the busiest rank's */
    cada_judge_tally m = u;
    t.seconds = 0.5, t.cpu_seconds = 3.0;
    cada_judge_tally_merge(&m, &t);
    EXPECT(m.seconds == 1.5 && m.cpu_seconds == 3.0 && m.prompt_tokens == 2468 && m.count[CADA_JS_REFUSAL] == 16);
    cada_metric_field f[5 + CADA_JS_N];
    int n = cada_judge_tally_fields(&m, 1u << CADA_JS_REFUSAL | 1u << CADA_JS_HELPFUL, f);
    EXPECT(n == 7 && !strcmp(f[0].name, "judge_s") && !strcmp(f[4].name, "judge_tokens") && f[4].value == 2468 + 112);
    EXPECT(!strcmp(f[5].name, "judge_refusal") && f[5].value == 6.5 / 16 && !strcmp(f[6].name, "judge_helpful") && f[6].value != f[6].value,
           "a score never computed is NaN (null in metrics.jsonl)");
    cada__reward_batch__free_unpacked(back, NULL);
    /* malformed: a negative time, an unknown score */
    js.seconds = -1;
    EXPECT(cada_judge_tally_from_msg(&js, &u, 4) == CADA_ERR_FORMAT && strstr(cada_error_message(), "rank 4"));
    js.seconds = 1;
    sums[1].name = "harm";
    EXPECT(cada_judge_tally_from_msg(&js, &u, 5) == CADA_ERR_FORMAT && strstr(cada_error_message(), "rank 5") &&
           strstr(cada_error_message(), "'harm'"));
    free(buf);
}
