/* tests/unit/test_learn.c: src/learn pieces on one process: packing, KL estimators,
 * advantages, loss edge cases and errors, truncated importance sampling and PPO's pi_old,
 * AdamW schedules and skipping, the tree accumulator, and the learner on one rank (ZeRO
 * stages agree, micro-batching, non-finite steps, SFT and DPO). Multi-rank checks are in tests/mpi; the golden
 * comparisons with PyTorch in test_learn_golden.c. */
#define _POSIX_C_SOURCE 200809L
#include "test.h"

#include "base/rng.h"
#include "comm/comm.h"
#include "learn/accum.h"
#include "learn/adamw.h"
#include "learn/algo.h"
#include "learn/dpo.h"
#include "learn/learner.h"
#include "learn/synth.h"

#include <stdlib.h>
#include <string.h>

/* ---- packing ------------------------------------------------------------------------------ */

TEST(learn_pack_rows_targets_and_padding) {
    const int a[] = {1, 2, 3, 4, 5}, b[] = {6, 7, 8}, c[] = {9, 10, 11, 12, 13, 14};
    const float lp[8] = {0};
    cada_traj t[3] = {
        {.tokens = a, .prompt_len = 2, .completion_len = 3, .rollout_logprob = lp},
        {.tokens = b, .prompt_len = 1, .completion_len = 2, .rollout_logprob = lp},
        {.tokens = c, .prompt_len = 4, .completion_len = 2, .rollout_logprob = lp},
    };
    EXPECT(cada_pack_rows_needed(t, NULL, 3, 8) == 2);
    cada_packed p = {0};
    REQUIRE_OK(cada_pack(&p, t, NULL, 3, 8, 0));
    REQUIRE(p.B == 2 && p.T == 8);
    /* row 0: a (5) + b (3); row 1: c (6) + 2 padding */
    const int want_tok[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0, 0};
    const int want_pos[16] = {0, 1, 2, 3, 4, 0, 1, 2, 0, 1, 2, 3, 4, 5, 0, 1};
    const int want_tgt[16] = {-1, 3, 4, 5, -1, 7, 8, -1, -1, -1, -1, 13, 14, -1, -1, -1};
    EXPECT(!memcmp(p.tokens, want_tok, sizeof want_tok));
    EXPECT(!memcmp(p.positions, want_pos, sizeof want_pos));
    EXPECT(!memcmp(p.targets, want_tgt, sizeof want_tgt));
    EXPECT(p.lp_index[0] == 1 && p.lp_index[1] == 5 && p.lp_index[2] == 11, "%d %d %d", p.lp_index[0], p.lp_index[1], p.lp_index[2]);
    cada_batch bt = cada_packed_batch(&p);
    EXPECT(cada_batch_validate(&bt, 16) == CADA_OK, "%s", cada_error_message());
    /* prefixes that fit a number of rows: [a b] [c] */
    EXPECT(cada_pack_fit(t, 3, 8, 1) == 2 && cada_pack_fit(t, 3, 8, 2) == 3 && cada_pack_fit(t + 1, 2, 8, 1) == 1);
    EXPECT(cada_pack_fit(t, 3, 5, 9) == 2 && cada_pack_fit(t + 2, 1, 5, 9) == -1, "a too-long sequence ends the prefix");
    EXPECT(cada_pack_fit(t, 0, 8, 1) == 0);
    /* a subset, reusing the buffers; then an empty pack is one padding row */
    int which[1] = {2};
    REQUIRE_OK(cada_pack(&p, t, which, 1, 8, 0));
    EXPECT(p.B == 1 && p.lp_index[0] == 3);
    REQUIRE_OK(cada_pack(&p, t, NULL, 0, 8, 0));
    EXPECT(p.B == 1 && p.positions[7] == 7 && p.targets[0] == -1);
    /* too long: the error names the sequence */
    EXPECT(cada_pack(&p, t, NULL, 3, 5, 0) == CADA_ERR_ARG);
    EXPECT(strstr(cada_error_message(), "sequence 2"), "%s", cada_error_message());
    cada_packed_free(&p);
    cada_traj bad = {.tokens = a, .prompt_len = 0, .completion_len = 2, .rollout_logprob = lp};
    EXPECT(cada_traj_validate(&bad, 1, 16) == CADA_ERR_ARG);
    cada_traj oob = {.tokens = c, .prompt_len = 2, .completion_len = 4, .rollout_logprob = lp};
    EXPECT(cada_traj_validate(&oob, 1, 12) == CADA_ERR_ARG && strstr(cada_error_message(), "token 3 is 12"), "%s", cada_error_message());
}

/* cada_pack_tight: the rows cada_pack fills, each only as long as the fullest one
 * (rounded up to CADA_PACK_ROUND); the same tokens, positions and targets per row. */
TEST(learn_pack_tight_rows) {
    enum { N = 5 };
    int toks[N][40];
    const float lp[40] = {0};
    cada_traj t[N];
    const int lens[N] = {30, 20, 25, 40, 3};
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < lens[i]; k++) toks[i][k] = 100 * i + k;
        t[i] = (cada_traj){.tokens = toks[i], .prompt_len = 2, .completion_len = lens[i] - 2, .rollout_logprob = lp};
    }
    cada_packed wide = {0}, tight = {0};
    REQUIRE_OK(cada_pack(&wide, t, NULL, N, 64, 7));
    REQUIRE_OK(cada_pack_tight(&tight, t, NULL, N, 64, 7));
    /* rows at 64: [30 20] [25] [40 3]: the fullest holds 50, so rows of 64 -> 64; at 100:
     * [30 20 25] [40 3]: 75 -> 80 */
    EXPECT(wide.B == 3 && tight.B == 3 && tight.T == 64, "B %d T %d", tight.B, tight.T);
    REQUIRE_OK(cada_pack(&wide, t, NULL, N, 100, 7));
    REQUIRE_OK(cada_pack_tight(&tight, t, NULL, N, 100, 7));
    REQUIRE(wide.B == 2 && tight.B == 2 && tight.T == 80, "B %d T %d", tight.B, tight.T);
    int differ = 0;
    for (int r = 0; r < 2; r++)
        for (int k = 0; k < 80; k++) {
            const size_t a = (size_t)r * 100 + k, b = (size_t)r * 80 + k;
            differ += wide.tokens[a] != tight.tokens[b] || wide.positions[a] != tight.positions[b] || wide.targets[a] != tight.targets[b];
        }
    EXPECT(differ == 0, "%d positions differ", differ);
    for (int i = 0; i < N; i++) EXPECT(wide.lp_index[i] / 100 * 80 + wide.lp_index[i] % 100 == tight.lp_index[i], "sequence %d", i);
    /* one short sequence: one row of its length rounded up; none: one short padding row */
    REQUIRE_OK(cada_pack_tight(&tight, t + 4, NULL, 1, 1024, 7));
    EXPECT(tight.B == 1 && tight.T == CADA_PACK_ROUND && tight.tokens[3] == 7 && tight.positions[3] == 0);
    REQUIRE_OK(cada_pack_tight(&tight, t, NULL, 0, 1024, 7));
    EXPECT(tight.B == 1 && tight.T <= CADA_PACK_ROUND);
    cada_packed_free(&wide);
    cada_packed_free(&tight);
}

/* The learner's micro-batches: a small batch is shared between the ranks (without
 * fixed_order) instead of going whole to the first; fixed_order keeps the budget's cut,
 * whatever W is; DPO pairs stay together; a batch the budget already splits evenly is
 * not cut again. */
TEST(learn_split_balances_ranks) {
    enum { N = 8 };
    int toks[N][120];
    const float lp[120] = {0};
    cada_traj t[N];
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < 120; k++) toks[i][k] = k;
        t[i] = (cada_traj){.tokens = toks[i], .prompt_len = 40, .completion_len = 80 - i, .rollout_logprob = lp, .group = i / 2};
    }
    cada_micro_batch mb[N + 8];
    int K = 0;
    /* 8 sequences of ~115 tokens, rows of 1024, 2048 a micro-batch: one micro-batch */
    REQUIRE_OK(cada_learner_split(t, N, 1024, 2048, 2, 0, 0, mb, &K));
    EXPECT(K == 2 && mb[0].first == 0 && mb[0].count == 8 && mb[1].count == 0, "fixed order: K %d", K);
    REQUIRE_OK(cada_learner_split(t, N, 1024, 2048, 2, 1, 0, mb, &K));
    EXPECT(K == 2 && mb[0].count == 4 && mb[1].first == 4 && mb[1].count == 4, "K %d: %d + %d", K, mb[0].count, mb[1].count);
    REQUIRE_OK(cada_learner_split(t, N, 1024, 2048, 4, 1, 0, mb, &K));
    EXPECT(K == 4, "K %d", K);
    for (int k = 0; k < K && K == 4; k++) EXPECT(mb[k].first == 2 * k && mb[k].count == 2, "micro-batch %d: %d + %d", k, mb[k].first, mb[k].count);
    REQUIRE_OK(cada_learner_split(t, N, 1024, 2048, 3, 1, 0, mb, &K)); /* 3 parts of 3, 3, 2 */
    EXPECT(K == 3 && mb[0].count + mb[1].count + mb[2].count == 8 && mb[2].count >= 2, "K %d", K);
    /* DPO: pairs are units, so 4 ranks of 2 sequences and 3 ranks of 2 pairs or 1 */
    REQUIRE_OK(cada_learner_split(t, N, 1024, 2048, 3, 1, 1, mb, &K));
    for (int k = 0; k < K; k++) EXPECT(mb[k].count % 2 == 0 && mb[k].first % 2 == 0, "DPO micro-batch %d splits a pair", k);
    /* the parts close a little under the target: the last takes the rest, never a
     * part more than the ranks (lengths 100 x 7 + 80: parts of 4 and 4) */
    for (int i = 0; i < N; i++) t[i].completion_len = (i == N - 1 ? 80 : 100) - 40;
    REQUIRE_OK(cada_learner_split(t, N, 1024, 2048, 2, 1, 0, mb, &K));
    EXPECT(K == 2 && mb[0].count == 4 && mb[1].count == 4, "K %d: %d + %d", K, mb[0].count, mb[1].count);
    /* target 264: 235 closes before 88, 249 before 43, which would be a third part */
    const int uneven[N] = {42, 43, 109, 41, 88, 67, 94, 43};
    for (int i = 0; i < N; i++) t[i].completion_len = uneven[i] - 40;
    REQUIRE_OK(cada_learner_split(t, N, 1024, 2048, 2, 1, 0, mb, &K));
    EXPECT(K == 2 && mb[0].count == 4 && mb[1].count == 4, "K %d: %d + %d", K, mb[0].count, mb[1].count);
    for (int i = 0; i < N; i++) t[i].completion_len = 80 - i;
    /* one rank: nothing to balance */
    REQUIRE_OK(cada_learner_split(t, N, 1024, 2048, 1, 1, 0, mb, &K));
    EXPECT(K == 1 && mb[0].count == 8);
    /* the budget already gives 2 per rank (one row of 256 a micro-batch: 2 sequences) */
    REQUIRE_OK(cada_learner_split(t, N, 256, 256, 2, 1, 0, mb, &K));
    EXPECT(K == 4 && mb[0].count == 2 && mb[3].first == 6, "K %d", K);
    /* too long a sequence: named */
    EXPECT(cada_learner_split(t, N, 100, 2048, 2, 1, 0, mb, &K) == CADA_ERR_ARG && strstr(cada_error_message(), "sequence 0"),
           "%s", cada_error_message());
}

/* ---- KL ------------------------------------------------------------------------------------- */

/* Derivatives by central differences, and the estimators' expectations under the
 * sampling policy, summed exactly over a small categorical: k1 and k3 are unbiased for
 * KL(p || q) (Schulman 2020), k2 is not. */
TEST(learn_kl_estimators_gradients_and_bias) {
    const cada_kl_estimator ks[3] = {CADA_KL_K1, CADA_KL_K2, CADA_KL_K3};
    for (int e = 0; e < 3; e++)
        for (double lp = -3.0; lp < 0; lp += 0.37)
            for (double ref = -3.1; ref < 0; ref += 0.41) {
                const double h = 1e-6;
                double fd = (cada_kl_value(ks[e], lp + h, ref) - cada_kl_value(ks[e], lp - h, ref)) / (2 * h);
                EXPECT(fabs(fd - cada_kl_grad(ks[e], lp, ref)) < 1e-6, "%s at (%g, %g): %g vs %g", cada_kl_name(ks[e]), lp, ref,
                       fd, cada_kl_grad(ks[e], lp, ref));
                if (ks[e] != CADA_KL_K1) EXPECT(cada_kl_value(ks[e], lp, ref) >= 0);
            }
    const double p[4] = {0.1, 0.2, 0.3, 0.4}, q[4] = {0.25, 0.25, 0.4, 0.1};
    double kl = 0, e1 = 0, e2 = 0, e3 = 0;
    for (int i = 0; i < 4; i++) {
        kl += p[i] * log(p[i] / q[i]);
        e1 += p[i] * cada_kl_value(CADA_KL_K1, log(p[i]), log(q[i]));
        e2 += p[i] * cada_kl_value(CADA_KL_K2, log(p[i]), log(q[i]));
        e3 += p[i] * cada_kl_value(CADA_KL_K3, log(p[i]), log(q[i]));
    }
    EXPECT(fabs(e1 - kl) < 1e-12 && fabs(e3 - kl) < 1e-12, "KL %g: E k1 %g, E k3 %g", kl, e1, e3);
    EXPECT(fabs(e2 - kl) > 1e-3, "k2 is biased: %g vs %g", e2, kl);
    /* k3 stays finite far out (log r clamped) */
    EXPECT(isfinite(cada_kl_value(CADA_KL_K3, -200.0, 0.0)) && cada_kl_grad(CADA_KL_K3, -200.0, 0.0) == 0.0);
    cada_kl_estimator k;
    EXPECT(cada_kl_parse("k2", &k) == 0 && k == CADA_KL_K2 && cada_kl_parse("k4", &k) != 0);
}

/* ---- advantages ------------------------------------------------------------------------- */

static void fill_rewards(cada_traj *t, int n, const float *r, const int *g) {
    static const int tok[2] = {1, 2};
    static const float lp[1] = {-1.0f};
    for (int i = 0; i < n; i++)
        t[i] = (cada_traj){.tokens = tok, .prompt_len = 1, .completion_len = 1, .rollout_logprob = lp, .reward = r[i], .group = g[i]};
}

TEST(learn_advantages_baselines) {
    cada_traj t[5];
    const float r[5] = {1, 0, 0.5f, 2, 7};
    const int g[5] = {3, 3, 3, 8, 9}; /* a group of 3, one of 1, one of 1 */
    fill_rewards(t, 5, r, g);
    float adv[5];
    cada_adv_config c;
    cada_adv_config_default(&c, CADA_ADV_LEAVE_ONE_OUT);
    REQUIRE_OK(cada_advantages(&c, t, 5, NULL, adv, NULL));
    EXPECT(adv[0] == 1.0f - 0.25f && adv[1] == 0.0f - 0.75f && adv[2] == 0.5f - 0.5f && adv[3] == 0 && adv[4] == 0);
    cada_adv_config_default(&c, CADA_ADV_GROUP);
    c.group_std = 0;
    REQUIRE_OK(cada_advantages(&c, t, 5, NULL, adv, NULL));
    EXPECT(adv[0] == 0.5f && adv[1] == -0.5f && adv[2] == 0.0f && adv[3] == 0.0f);
    cada_adv_config_default(&c, CADA_ADV_BATCH_MEAN);
    REQUIRE_OK(cada_advantages(&c, t, 5, NULL, adv, NULL));
    EXPECT(fabsf(adv[4] - (7.0f - 2.1f)) < 1e-6f);
    /* running mean: advantages use the baseline of earlier steps, then b moves once */
    cada_adv_config_default(&c, CADA_ADV_RUNNING_MEAN);
    c.baseline_beta = 0.5;
    cada_baseline b;
    cada_baseline_init(&b, &c);
    cada_adv_stats st;
    REQUIRE_OK(cada_advantages(&c, t, 5, &b, adv, &st));
    EXPECT(adv[4] == 7.0f && st.baseline_used == 0.0 && fabs(b.value - 1.05) < 1e-12 && b.updates == 1);
    cada_baseline saved = b; /* the run state is a plain struct */
    REQUIRE_OK(cada_advantages(&c, t, 5, &b, adv, NULL));
    EXPECT(fabsf(adv[4] - (7.0f - 1.05f)) < 1e-6f);
    float again[5];
    REQUIRE_OK(cada_advantages(&c, t, 5, &saved, again, NULL));
    EXPECT(!memcmp(adv, again, sizeof adv) && saved.value == b.value, "restored baseline continues identically");
    /* beta <= 0: b is the mean of batch means */
    c.baseline_beta = 0;
    cada_baseline_init(&b, &c);
    REQUIRE_OK(cada_advantages(&c, t, 5, &b, adv, NULL));
    REQUIRE_OK(cada_advantages(&c, t, 2, &b, adv, NULL));
    EXPECT(fabs(b.value - (2.1 + 0.5) / 2) < 1e-12, "b = %g", b.value);
    EXPECT(cada_advantages(&c, t, 5, NULL, adv, NULL) == CADA_ERR_ARG, "the running mean needs its state");
}

TEST(learn_loss_errors_and_zero_outside_completions) {
    static const int tok[4] = {1, 2, 3, 4};
    static const float ro[3] = {-1, -1, -1}, ref[3] = {-1.1f, -0.9f, -1};
    cada_traj t[2] = {{.tokens = tok, .prompt_len = 1, .completion_len = 3, .rollout_logprob = ro, .group = 0, .chosen = 1},
                      {.tokens = tok, .prompt_len = 2, .completion_len = 2, .rollout_logprob = ro, .group = 0, .chosen = 0}};
    const int idx[2] = {0, 4};
    float lp[8] = {-1, -1.2f, -0.8f, 9, -1, -1, 9, 9}, dlp[8], adv[2] = {1, -1};
    cada_loss_norm norm;
    cada_loss_norm_of(t, 2, &norm);
    EXPECT(norm.tokens == 5 && norm.seqs == 2 && norm.pairs == 1);
    cada_pg_config c;
    cada_pg_config_default(&c, CADA_PG_PPO_CLIP);
    for (int i = 0; i < 8; i++) dlp[i] = 42;
    REQUIRE_OK(cada_pg_loss(&c, t, 2, idx, adv, lp, 8, &norm, dlp, NULL));
    EXPECT(dlp[3] == 0 && dlp[6] == 0 && dlp[7] == 0, "entries outside completions are zeroed");
    EXPECT(cada_pg_loss(&c, t, 2, idx, adv, lp, 5, &norm, dlp, NULL) == CADA_ERR_ARG, "indices past n_lp");
    c.kl_place = CADA_KL_IN_LOSS;
    c.kl_est = CADA_KL_K3;
    EXPECT(cada_pg_loss(&c, t, 2, idx, adv, lp, 8, &norm, dlp, NULL) == CADA_ERR_ARG && strstr(cada_error_message(), "sequence 0"));
    c.kl_place = CADA_KL_IN_REWARD;
    EXPECT(cada_pg_loss(&c, t, 2, idx, adv, lp, 8, &norm, dlp, NULL) == CADA_ERR_ARG && strstr(cada_error_message(), "sequence 0") &&
               strstr(cada_error_message(), "reward"), "%s", cada_error_message());
    /* k1 in the loss: refused (its expected gradient is zero) */
    c.kl_place = CADA_KL_IN_LOSS;
    c.kl_est = CADA_KL_K1;
    EXPECT(cada_pg_loss(&c, t, 2, idx, adv, lp, 8, &norm, dlp, NULL) == CADA_ERR_CONFIG && strstr(cada_error_message(), "zero"),
           "%s", cada_error_message());
    /* DPO: both members present with reference log-probs, else an error naming the pair */
    t[0].ref_logprob = t[1].ref_logprob = ref;
    cada_token_stats st;
    cada_token_stats_zero(&st);
    REQUIRE_OK(cada_dpo_loss(0.1, t, 2, idx, lp, 8, &norm, dlp, &st));
    EXPECT(st.pairs == 1 && dlp[0] < 0 && dlp[4] > 0 && fabsf(dlp[0] + dlp[4]) < 1e-7f);
    EXPECT(cada_dpo_loss(0.1, t, 1, idx, lp, 8, &norm, dlp, NULL) == CADA_ERR_ARG && strstr(cada_error_message(), "pair 0"));
    t[1].chosen = 1;
    EXPECT(cada_dpo_loss(0.1, t, 2, idx, lp, 8, &norm, dlp, NULL) == CADA_ERR_ARG);
    cada_algo a;
    EXPECT(cada_algo_parse("rloo", &a) == 0 && a == CADA_ALGO_RLOO && !strcmp(cada_algo_name(CADA_ALGO_DPO), "dpo"));
}

/* ---- truncated importance sampling and pi_old ------------------------------------------------ */

/* The policy loss of one sequence alone with advantage A, sequence-sum aggregation (the
 * loss weight is 1); st is zeroed first. */
static cada_status one_sequence_loss(cada_pg_kind kind, double tis_cap, const cada_traj *t, float A, const float *lp, float *dlp,
                                     cada_token_stats *st) {
    cada_pg_config c;
    cada_pg_config_default(&c, kind);
    c.agg = CADA_AGG_SEQ_MEAN_TOKEN_SUM;
    c.tis_cap = tis_cap;
    cada_loss_norm norm;
    cada_loss_norm_of(t, 1, &norm);
    const int idx[1] = {0};
    cada_token_stats_zero(st);
    return cada_pg_loss(&c, t, 1, idx, &A, lp, t->completion_len, &norm, dlp, st);
}

/* One sequence of four tokens whose learner / engine ratios are 0.5, 1.5, 3 and 10, A = 1:
 * d loss / d lp = -w with w = min(ratio, C), a constant (were w differentiated,
 * d(-w lp)/d lp = -w (1 + lp) would show). */
TEST(learn_tis_weights_truncate_and_are_constant) {
    static const int tok[5] = {1, 2, 3, 4, 5};
    const float lp[4] = {-1.0f, -0.5f, -2.0f, -0.25f};
    const double ratio[4] = {0.5, 1.5, 3.0, 10.0};
    float ro[4], dlp[4];
    for (int k = 0; k < 4; k++) ro[k] = (float)(lp[k] - log(ratio[k]));
    cada_traj t = {.tokens = tok, .prompt_len = 1, .completion_len = 4, .rollout_logprob = ro};
    cada_token_stats st;
    for (int kind = 0; kind < 2; kind++) { /* VANILLA, then PPO_CLIP without old log-probs: the same weights */
        REQUIRE_OK(one_sequence_loss((cada_pg_kind)kind, 2.0, &t, 1.0f, lp, dlp, &st));
        for (int k = 0; k < 4; k++) {
            double w = fmin(exp((double)lp[k] - ro[k]), 2.0);
            EXPECT(fabs(dlp[k] + w) < 1e-6, "kind %d token %d: dlogprob %.9g, want %.9g", kind, k, (double)dlp[k], -w);
        }
        EXPECT(st.tis_truncated == 2 && fabs(st.is_weight_max - 10.0) < 1e-5 && fabs(-st.is_weight_min_neg - 0.5) < 1e-6 &&
                   fabs(st.is_weight_sum - 15.0) < 1e-5,
               "truncated %g, max %g, min %g, sum %g", st.tis_truncated, st.is_weight_max, -st.is_weight_min_neg, st.is_weight_sum);
        EXPECT(fabs(st.lp_diff_max - log(10.0)) < 1e-6, "the engine gap: %g", st.lp_diff_max);
        /* off: every weight 1, the statistics still report the ratios */
        REQUIRE_OK(one_sequence_loss((cada_pg_kind)kind, 0.0, &t, 1.0f, lp, dlp, &st));
        for (int k = 0; k < 4; k++) EXPECT(dlp[k] == -1.0f, "kind %d token %d: %g", kind, k, (double)dlp[k]);
        EXPECT(st.tis_truncated == 0 && fabs(st.is_weight_max - 10.0) < 1e-5);
    }
}

/* PPO/GRPO with one optimizer step per batch: pi_old is the learner's own log-prob, so the
 * ratio is 1 and never clipped, however far the engine's log-probs are; given old
 * log-probs, the ratio is taken against them and the TIS weight is old / engine. */
TEST(learn_ppo_old_is_the_learner_when_none_given) {
    static const int tok[4] = {1, 2, 3, 4};
    const float lp[3] = {-1.0f, -0.7f, -2.0f}, ro[3] = {-1.6f, -0.2f, -2.05f};
    cada_traj t = {.tokens = tok, .prompt_len = 1, .completion_len = 3, .rollout_logprob = ro};
    float dlp[3];
    cada_token_stats st;
    REQUIRE_OK(one_sequence_loss(CADA_PG_PPO_CLIP, 0.0, &t, 0.5f, lp, dlp, &st));
    /* against the engine, token 0 (ratio e^0.6 = 1.82 > 1.2, A > 0) would be clipped */
    EXPECT(st.clipped == 0 && st.ratio_max == 1.0 && -st.ratio_min_neg == 1.0, "clipped %g, ratio %g..%g", st.clipped,
           -st.ratio_min_neg, st.ratio_max);
    for (int k = 0; k < 3; k++) EXPECT(dlp[k] == -0.5f, "token %d: %g", k, (double)dlp[k]);
    /* given old log-probs: ratio lp / old (token 0 clipped: e^0.6 > 1.2), weight old / engine */
    const float old[3] = {-1.6f, -0.7f, -2.0f};
    t.old_logprob = old;
    REQUIRE_OK(one_sequence_loss(CADA_PG_PPO_CLIP, 1.5, &t, 0.5f, lp, dlp, &st));
    EXPECT(st.clipped == 1 && dlp[0] == 0.0f, "clipped %g, dlogprob %g", st.clipped, (double)dlp[0]);
    EXPECT(fabs(dlp[1] + 0.5 * fmin(exp(-0.7 + 0.2), 1.5)) < 1e-6 && fabs(dlp[2] + 0.5 * fmin(exp(-2.0 + 2.05), 1.5)) < 1e-6,
           "%g %g", (double)dlp[1], (double)dlp[2]);
}

/* ---- AdamW ----------------------------------------------------------------------------------- */

TEST(learn_adamw_schedules) {
    cada_adamw_config c;
    cada_adamw_config_default(&c);
    c.lr = 1.0;
    c.warmup_steps = 4;
    c.schedule = CADA_LR_LINEAR_WARMUP;
    EXPECT(cada_lr_at(&c, 1) == 0.25 && cada_lr_at(&c, 4) == 1.0 && cada_lr_at(&c, 100) == 1.0);
    c.schedule = CADA_LR_COSINE;
    c.total_steps = 14;
    c.min_lr_ratio = 0.1;
    EXPECT(cada_lr_at(&c, 2) == 0.5 && cada_lr_at(&c, 4) == 1.0);
    EXPECT(fabs(cada_lr_at(&c, 9) - (0.1 + 0.9 * 0.5)) < 1e-12, "half-way: %g", cada_lr_at(&c, 9));
    EXPECT(fabs(cada_lr_at(&c, 14) - 0.1) < 1e-12 && fabs(cada_lr_at(&c, 99) - 0.1) < 1e-12);
    c.schedule = CADA_LR_CONSTANT;
    EXPECT(cada_lr_at(&c, 1) == 1.0);
    cada_adamw o;
    c.schedule = CADA_LR_COSINE;
    c.total_steps = 2;
    EXPECT(cada_adamw_init(&o, &c, 0, 4) == CADA_ERR_CONFIG);
}

TEST(learn_adamw_skips_nonfinite_steps) {
    cada_adamw_config c;
    cada_adamw_config_default(&c);
    cada_adamw o;
    REQUIRE_OK(cada_adamw_init(&o, &c, 0, 3));
    float p[3] = {1, 2, 3}, g[3] = {0.1f, NAN, 0.3f};
    const float p0[3] = {1, 2, 3};
    cada_adamw_result r;
    double sq = cada_sqnorm(g, 3);
    EXPECT(!isfinite(sq));
    REQUIRE_OK(cada_adamw_step(&o, p, g, sq, &r));
    EXPECT(!r.applied && o.skipped == 1 && o.step == 0 && !memcmp(p, p0, sizeof p) && o.m[0] == 0 && o.v[2] == 0);
    g[1] = INFINITY;
    REQUIRE_OK(cada_adamw_step(&o, p, g, cada_sqnorm(g, 3), &r));
    EXPECT(!r.applied && o.skipped == 2);
    g[1] = 0.2f;
    REQUIRE_OK(cada_adamw_step(&o, p, g, cada_sqnorm(g, 3), &r));
    EXPECT(r.applied && o.step == 1 && p[0] < 1.0f && r.lr == c.lr);
    cada_adamw_free(&o);
}

/* clip_grad_norm_'s coefficient, and the update using exactly it: with lr 0 and no decay
 * AdamW's first moment after one step is (1 - beta1) g c, so m reveals the c applied. */
TEST(learn_adamw_clip_coefficient) {
    EXPECT(cada_clip_coef(1.0, 4.0) == 1.0 / (4.0 + 1e-6));
    EXPECT(cada_clip_coef(1.0, 0.5) == 1.0, "a norm below the limit is kept");
    EXPECT(cada_clip_coef(1.0, 1.0) == 1.0 / (1.0 + 1e-6), "at the limit the 1e-6 still scales, as in torch");
    EXPECT(cada_clip_coef(0.0, 100.0) == 1.0 && cada_clip_coef(-1.0, 100.0) == 1.0, "max_grad_norm <= 0: no clipping");
    EXPECT(cada_clip_coef(1.0, NAN) == 1.0 && cada_clip_coef(2.0, INFINITY) == 0.0);
    cada_adamw_config c;
    cada_adamw_config_default(&c);
    c.lr = 0.0;
    c.weight_decay = 0.0;
    c.max_grad_norm = 0.5;
    cada_adamw o;
    REQUIRE_OK(cada_adamw_init(&o, &c, 0, 2));
    float p[2] = {1, 2}, g[2] = {3, 4}; /* norm 5 */
    cada_adamw_result r;
    REQUIRE_OK(cada_adamw_step(&o, p, g, cada_sqnorm(g, 2), &r));
    const float clip = (float)cada_clip_coef(0.5, 5.0);
    EXPECT(r.applied && r.grad_norm == 5.0 && r.clip_coef == cada_clip_coef(0.5, 5.0));
    EXPECT(o.m[0] == (float)(1.0 - c.beta1) * (g[0] * clip) && o.m[1] == (float)(1.0 - c.beta1) * (g[1] * clip),
           "m = %.9g %.9g", (double)o.m[0], (double)o.m[1]);
    cada_adamw_free(&o);
}

/* ---- the tree accumulator and the canonical order ---------------------------------------- */

TEST(learn_accum_is_the_canonical_tree) {
    enum { N = 5 };
    cada_rng r;
    cada_rng_init(&r, 7, 0, 0, 0);
    for (int K = 0; K <= 13; K++) {
        float leaves[13][N], out[N];
        cada_accum a;
        cada_accum_init(&a, N);
        for (int k = 0; k < K; k++) {
            for (int i = 0; i < N; i++) leaves[k][i] = cada_rng_normal(&r) * (1 + 1000 * (k % 3 == 0));
            REQUIRE_OK(cada_accum_push(&a, leaves[k]));
        }
        cada_accum_finish(&a, out);
        for (int i = 0; i < N; i++) {
            float col[13];
            for (int k = 0; k < K; k++) col[k] = leaves[k][i];
            EXPECT(out[i] == cada_tree_sum(col, K), "K %d element %d: %.9g vs %.9g", K, i, (double)out[i], (double)cada_tree_sum(col, K));
        }
        EXPECT(a.allocated <= (int)floor(log2(K + 1.0)), "K %d: %d buffers", K, a.allocated);
        cada_accum_free(&a);
    }
    /* the decomposition learners rely on: tree(8) == tree(tree(first 4), tree(last 4)) */
    float x[8] = {1e8f, 1, -1e8f, 3.5f, 1e-3f, 7, -2, 1e7f};
    float halves[2] = {cada_tree_sum(x, 4), cada_tree_sum(x + 4, 4)};
    EXPECT(cada_tree_sum(x, 8) == cada_tree_sum(halves, 2));
    float quarters[4] = {cada_tree_sum(x, 2), cada_tree_sum(x + 2, 2), cada_tree_sum(x + 4, 2), cada_tree_sum(x + 6, 2)};
    EXPECT(cada_tree_sum(x, 8) == cada_tree_sum(quarters, 4));
}

TEST(learn_comm_self_and_shards) {
    cada_comm *c;
    REQUIRE_OK(cada_comm_init_world(&c, NULL)); /* no MPI_Init here: one rank */
    EXPECT(cada_comm_size(c) == 1 && cada_comm_rank(c) == 0 && !strcmp(cada_comm_backend(c), "self"));
    float x[5] = {1, 2, 3, 4, 5}, y[5] = {0};
    REQUIRE_OK(cada_comm_allreduce(c, x, 5, CADA_RED_AVG));
    EXPECT(x[4] == 5);
    cada_shards sh;
    cada_shards_init(&sh, 5, 1, 16);
    REQUIRE_OK(cada_comm_reduce_scatter(c, &sh, x + 1, 1, 4, y, CADA_RED_SUM));
    EXPECT(y[0] == 2 && y[2] == 4 && y[3] == 0);
    cada_range rg[2] = {{x, 2}, {y, 3}};
    REQUIRE_OK(cada_comm_allreduce_ranges(c, rg, 2, CADA_RED_SUM));
    double d[2] = {1, 2};
    REQUIRE_OK(cada_comm_allreduce_f64(c, d, 2, CADA_RED_MAX));
    EXPECT(d[1] == 2);
    REQUIRE_OK(cada_comm_barrier(c));
    EXPECT(cada_comm_broadcast(c, x, 5, 1) == CADA_ERR_ARG);
    cada_comm_free(c);
    /* shard layout: aligned, contiguous, covering */
    cada_shards_init(&sh, 1000, 3, 16);
    EXPECT(sh.chunk == 336 && cada_shards_offset(&sh, 1) == 336 && cada_shards_count(&sh, 2) == 1000 - 672);
    cada_shards_init(&sh, 10, 4, 16);
    EXPECT(cada_shards_count(&sh, 0) == 10 && cada_shards_count(&sh, 1) == 0 && cada_shards_offset(&sh, 3) == 10);
    float t5[5] = {1, 2, 3, 4, 5};
    EXPECT(cada_tree_sum(t5, 5) == ((1.0f + 2.0f) + (3.0f + 4.0f)) + 5.0f);
}

/* ---- the learner on one rank ------------------------------------------------------------ */

static cada_status make_model(cada_model *m, int tie) {
    cada_model_config cfg;
    cada_synth_config(&cfg, 32, 32, 2, tie);
    return cada_synth_model(m, &cfg, 11, 0.1f);
}

/* Runs `steps` learner steps of `algo` under `zero` on a copy of the synthetic model and
 * returns its parameters (malloc'd). */
static float *train(cada_algo algo, cada_zero_stage zero, int micro_tokens, int fixed, int steps, int tie,
                    cada_step_metrics *last) {
    cada_model m;
    if (make_model(&m, tie) != CADA_OK) return NULL;
    cada_comm *c = NULL;
    cada_learner *L = NULL;
    cada_synth_batch b;
    float *out = NULL;
    if (cada_comm_init_self(&c, NULL) != CADA_OK) goto done;
    cada_learner_config lc;
    cada_learner_config_default(&lc, algo);
    lc.zero = zero;
    lc.row_tokens = 16;
    lc.micro_tokens = micro_tokens;
    lc.fixed_order = fixed;
    lc.opt.lr = 1e-2;
    lc.opt.weight_decay = 0.01;
    lc.opt.max_grad_norm = 0.5;
    if (algo == CADA_ALGO_DPO) cada_algo_set_kl(&lc.algo, CADA_KL_OFF, CADA_KL_K3, 0);
    if (cada_learner_init(&L, &m, c, &lc) != CADA_OK) goto done;
    if (cada_synth_batch_make(&b, 16, algo == CADA_ALGO_DPO ? 2 : 4, 32, 5, 9, 0, 1, 3) != CADA_OK) goto done;
    for (int s = 0; s < steps; s++)
        if (cada_learner_step(L, b.t, b.n, last) != CADA_OK) {
            cada_synth_batch_free(&b);
            goto done;
        }
    cada_synth_batch_free(&b);
    out = malloc(sizeof(float) * m.n_params);
    if (out) memcpy(out, m.params, sizeof(float) * m.n_params);
done:
    if (!out) cada_test_fail(__FILE__, __LINE__, "training failed: %s", cada_error_message());
    cada_learner_free(L);
    cada_comm_free(c);
    cada_model_free(&m);
    return out;
}

static size_t n_params_of(int tie) {
    cada_model_config cfg;
    cada_synth_config(&cfg, 32, 32, 2, tie);
    return (size_t)cada_config_param_count(&cfg);
}

/* On one rank the three stages compute the same tree of micro-batch gradients, so their
 * parameters agree bit for bit; the algorithms all move the parameters. */
TEST(learn_learner_one_rank_stages_bit_identical) {
    for (int tie = 0; tie <= 1; tie++) {
        const size_t n = n_params_of(tie);
        cada_step_metrics sm;
        float *dp = train(CADA_ALGO_GRPO, CADA_DP, 48, 1, 3, tie, &sm);
        REQUIRE(dp);
        EXPECT(sm.micro_batches >= 4, "%d micro-batches", sm.micro_batches);
        float *z1 = train(CADA_ALGO_GRPO, CADA_ZERO1, 48, 1, 3, tie, NULL);
        float *z2 = train(CADA_ALGO_GRPO, CADA_ZERO2, 48, 1, 3, tie, NULL);
        REQUIRE(z1 && z2);
        EXPECT(!memcmp(dp, z1, sizeof(float) * n), "tie %d: ZeRO-1 differs from DP", tie);
        EXPECT(!memcmp(dp, z2, sizeof(float) * n), "tie %d: ZeRO-2 differs from DP", tie);
        free(dp);
        free(z1);
        free(z2);
    }
}

/* Micro-batching changes only the summation order: one micro-batch and many agree to
 * float rounding. Adam divides by sqrt(v), so a rounding difference in a near-zero
 * gradient can move that parameter by up to ~lr per step: the bound is 3 steps x lr
 * (1e-2) for the worst element, while the median must stay at rounding level. */
TEST(learn_learner_micro_batches_match_one_batch) {
    const size_t n = n_params_of(0);
    cada_step_metrics one, many;
    float *a = train(CADA_ALGO_REINFORCE, CADA_DP, 4096, 1, 3, 0, &one);
    float *b = train(CADA_ALGO_REINFORCE, CADA_DP, 32, 0, 3, 0, &many);
    REQUIRE(a && b);
    EXPECT(one.micro_batches == 1 && many.micro_batches > 4, "%d and %d micro-batches", one.micro_batches, many.micro_batches);
    EXPECT(fabs(one.loss - many.loss) < 1e-5 * (1 + fabs(one.loss)), "loss %g vs %g", one.loss, many.loss);
    float worst = 0;
    size_t above = 0;
    for (size_t i = 0; i < n; i++) {
        float d = fabsf(a[i] - b[i]);
        worst = fmaxf(worst, d);
        above += d > 1e-5f;
    }
    fprintf(stderr, "    1 vs %d micro-batches after 3 steps: max |diff| %.3g, %zu of %zu above 1e-5\n", many.micro_batches,
            (double)worst, above, n);
    EXPECT(worst < 3e-2f && above < n / 100);
    free(a);
    free(b);
}

TEST(learn_learner_metrics_and_algorithms) {
    const cada_algo algos[] = {CADA_ALGO_REINFORCE, CADA_ALGO_GRPO, CADA_ALGO_RLOO, CADA_ALGO_PPO, CADA_ALGO_SFT, CADA_ALGO_DPO};
    for (unsigned k = 0; k < sizeof algos / sizeof algos[0]; k++) {
        cada_step_metrics first, last;
        float *p1 = train(algos[k], CADA_ZERO2, 64, 1, 1, 0, &first);
        float *p = train(algos[k], CADA_ZERO2, 64, 1, 6, 0, &last);
        REQUIRE(p && p1);
        EXPECT(last.applied && last.tok.tokens > 0 && last.tokens > last.tok.tokens && last.tokens_per_s > 0);
        EXPECT(last.entropy_mean > 0 && last.entropy_mean <= log(32) + 1e-4, "%s: entropy %g", cada_algo_name(algos[k]), last.entropy_mean);
        if (algos[k] == CADA_ALGO_SFT)
            EXPECT(last.loss < first.loss - 0.05, "SFT on a fixed batch: loss %g -> %g", first.loss, last.loss);
        if (algos[k] == CADA_ALGO_DPO)
            EXPECT(last.dpo_accuracy > first.dpo_accuracy || last.dpo_accuracy == 1.0, "DPO accuracy %g -> %g",
                   first.dpo_accuracy, last.dpo_accuracy);
        if (algos[k] == CADA_ALGO_GRPO || algos[k] == CADA_ALGO_PPO)
            EXPECT(last.ratio_max >= last.ratio_min && last.ratio_mean > 0.5 && last.kl_mean >= 0);
        free(p1);
        free(p);
    }
}

typedef struct {
    int calls, last_done, total, ordered;
    double tokens;
} progress_log;

static void log_progress(void *ctx, int done, int total, double tokens) {
    progress_log *p = ctx;
    p->ordered &= done == p->last_done + 1 && tokens >= p->tokens && (p->calls == 0 || total == p->total);
    p->calls++;
    p->last_done = done;
    p->total = total;
    p->tokens = tokens;
}

/* The progress hook: once per local micro-batch, done counting up to total, the tokens
 * growing to the step's; removed, it is not called again. */
TEST(learn_learner_progress_hook) {
    const cada_zero_stage stages[2] = {CADA_DP, CADA_ZERO2};
    for (int z = 0; z < 2; z++) {
        cada_model m;
        REQUIRE_OK(make_model(&m, 0));
        cada_comm *c;
        REQUIRE_OK(cada_comm_init_self(&c, NULL));
        cada_learner_config lc;
        cada_learner_config_default(&lc, CADA_ALGO_GRPO);
        lc.zero = stages[z];
        lc.row_tokens = 16;
        lc.micro_tokens = 32;
        cada_learner *L;
        REQUIRE_OK(cada_learner_init(&L, &m, c, &lc));
        cada_synth_batch b;
        REQUIRE_OK(cada_synth_batch_make(&b, 12, 4, 32, 5, 9, 0, 1, 7));
        progress_log p = {.ordered = 1};
        cada_learner_set_progress(L, log_progress, &p);
        cada_step_metrics sm;
        REQUIRE_OK(cada_learner_step(L, b.t, b.n, &sm));
        EXPECT(sm.local_micro_batches > 2 && p.calls == sm.local_micro_batches && p.total == sm.local_micro_batches &&
                   p.last_done == p.total && p.ordered,
               "%s: %d calls, done %d of %d, %d micro-batches, in order %d", cada_zero_name(stages[z]), p.calls, p.last_done,
               p.total, sm.local_micro_batches, p.ordered);
        EXPECT(p.tokens == sm.tokens, "tokens %g, the step's %g", p.tokens, sm.tokens);
        cada_learner_set_progress(L, NULL, NULL);
        REQUIRE_OK(cada_learner_step(L, b.t, b.n, &sm));
        EXPECT(p.calls == sm.local_micro_batches);
        cada_synth_batch_free(&b);
        cada_learner_free(L);
        cada_comm_free(c);
        cada_model_free(&m);
    }
}

TEST(learn_learner_skips_a_nonfinite_step) {
    cada_model m;
    REQUIRE_OK(make_model(&m, 0));
    cada_comm *c;
    REQUIRE_OK(cada_comm_init_self(&c, NULL));
    cada_learner_config lc;
    cada_learner_config_default(&lc, CADA_ALGO_RLOO);
    lc.zero = CADA_ZERO1;
    lc.row_tokens = 16;
    lc.micro_tokens = 64;
    cada_learner *L;
    REQUIRE_OK(cada_learner_init(&L, &m, c, &lc));
    cada_synth_batch b;
    REQUIRE_OK(cada_synth_batch_make(&b, 8, 4, 32, 5, 9, 0, 0, 5));
    float *before = malloc(sizeof(float) * m.n_params);
    memcpy(before, m.params, sizeof(float) * m.n_params);
    b.t[2].reward = NAN;
    cada_step_metrics sm;
    REQUIRE_OK(cada_learner_step(L, b.t, b.n, &sm));
    EXPECT(!sm.applied && sm.skipped == 1 && !memcmp(before, m.params, sizeof(float) * m.n_params));
    b.t[2].reward = 1;
    REQUIRE_OK(cada_learner_step(L, b.t, b.n, &sm));
    EXPECT(sm.applied && sm.skipped == 1 && cada_learner_optimizer(L)->step == 1 && memcmp(before, m.params, sizeof(float) * m.n_params));
    cada_learner_memory mem;
    cada_learner_memory_get(L, &mem);
    EXPECT(mem.optimizer == 8 * m.n_params && mem.params == 4 * m.n_params && mem.bytes_per_param > 16);
    /* a sequence longer than a row (16 tokens) is an error naming it */
    static const int long_tokens[45] = {0};
    static const float long_lp[40] = {0};
    b.t[5].tokens = long_tokens;
    b.t[5].prompt_len = 5;
    b.t[5].completion_len = 40;
    b.t[5].rollout_logprob = long_lp;
    b.t[5].ref_logprob = NULL;
    EXPECT(cada_learner_step(L, b.t, b.n, &sm) == CADA_ERR_ARG && strstr(cada_error_message(), "sequence 5"), "%s",
           cada_error_message());
    free(before);
    cada_synth_batch_free(&b);
    cada_learner_free(L);
    cada_comm_free(c);
    cada_model_free(&m);
}
