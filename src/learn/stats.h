/* learn/stats.h: the global normalisers of a loss and the token-level statistics every
 * loss reports.
 *
 * Losses are normalised by GLOBAL totals (all sequences of the optimizer step, on all
 * ranks), not by what one micro-batch or one rank holds: then the gradient of the step
 * is the plain SUM of every micro-batch's gradient on every rank, whatever the split,
 * and the all-reduce is a sum. The totals come from sequence lengths, which every rank
 * knows before any forward pass.
 *
 * cada_token_stats are sums (and a few maxima) over the tokens a loss saw; they add up
 * across micro-batches and ranks (cada_token_stats_merge locally; a learner all-reduces
 * the CADA_TOKEN_STATS_NSUM sums with SUM and the CADA_TOKEN_STATS_NMAX maxima with MAX). */
#ifndef CADA_LEARN_STATS_H
#define CADA_LEARN_STATS_H

#include "learn/traj.h"

typedef struct {
    double tokens; /* completion tokens in the step */
    double seqs;   /* sequences with at least one completion token */
    double pairs;  /* DPO pairs (sequences with chosen = 1) */
} cada_loss_norm;

void cada_loss_norm_of(const cada_traj *t, int n, cada_loss_norm *out);

typedef struct {
    /* sums */
    double loss;          /* this part's contribution to the objective (already normalised) */
    double pg_loss;       /* policy-gradient part of loss */
    double kl_loss;       /* KL-in-loss part of loss */
    double tokens;        /* completion tokens seen */
    double seqs;          /* sequences seen */
    double kl_sum;        /* sum over tokens of k3(logprob, ref) when ref_logprob is given: an
                             estimate of KL(pi || pi_ref) per token whatever the penalty's
                             estimator (learn/kl.h: unbiased, >= 0) */
    double kl_tokens;     /* tokens in kl_sum */
    double kl_reward_sum; /* KL in the reward: sum over sequences of sum_t est(logprob, ref),
                             the amount each one's advantage was shifted by / kl_coef */
    double ratio_sum;     /* importance ratio pi / pi_old (PPO) or pi / pi_rollout (vanilla) */
    double clipped;       /* tokens whose clipped PPO term was the minimum (zero gradient) */
    double is_weight_sum; /* the importance weight learner / engine before truncation,
                             exp(old - rollout_logprob) (policy_loss.h) */
    double tis_truncated; /* tokens whose IS weight hit the cap */
    double lp_diff_sum;   /* |logprob - rollout_logprob|: learner/rollout mismatch */
    double entropy_sum;   /* per-token entropy (learn/entropy.h), summed by the learner */
    double pairs;         /* DPO */
    double dpo_correct;   /* pairs with positive implicit-reward margin */
    double dpo_margin_sum;/* sum of (pi_c - ref_c) - (pi_r - ref_r) */
    /* maxima */
    double ratio_max;
    double ratio_min_neg; /* -min ratio, so every maximum reduces with MAX */
    double lp_diff_max;
    double is_weight_max;
    double is_weight_min_neg;
} cada_token_stats;

#define CADA_TOKEN_STATS_NSUM 17
#define CADA_TOKEN_STATS_NMAX 5

void cada_token_stats_zero(cada_token_stats *s);
void cada_token_stats_merge(cada_token_stats *into, const cada_token_stats *add);
/* Views of the struct as arrays for reductions: sums then maxima, in field order. */
void cada_token_stats_pack(const cada_token_stats *s, double *sums, double *maxs);
void cada_token_stats_unpack(cada_token_stats *s, const double *sums, const double *maxs);

/* Bounds check shared by the losses: every sequence's completion log-probs lie inside
 * [0, n_lp). */
cada_status cada_check_lp_index(const cada_traj *t, int n, const int *lp_index, int n_lp, const char *who);

#endif
