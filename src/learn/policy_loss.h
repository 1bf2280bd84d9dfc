/* learn/policy_loss.h: policy-gradient losses without a critic, per token, with the
 * derivative the model's backward takes (dlogprob[n] = d loss / d logprob[n]).
 *
 * Per completion token t of sequence s, with A = adv[s] (learn/advantage.h; the same
 * for every token of the sequence), lp = the learner's log-prob (from the forward),
 * ro = rollout_logprob, old = old_logprob if given else ro:
 *
 *   VANILLA (REINFORCE, RLOO; Williams 1992, Ahmadian et al. 2024):
 *       l_t = -w_t A lp_t,             d l_t / d lp_t = -w_t A
 *     w_t = 1, or with truncated importance sampling (tis_cap = C > 0)
 *       w_t = min(exp(lp_t - ro_t), C), treated as a constant (no gradient through it):
 *     the correction for sampling from the rollout engine's distribution (Yao et al.
 *     2025, "Your efficient RL framework secretly brings you off-policy RL training":
 *     TIS).
 *
 *   PPO_CLIP (Schulman et al. 2017, eq. 7; GRPO, Shao et al. 2024, eq. 3 uses the same
 *   clipped surrogate; separate lower and upper bounds as in DAPO, Yu et al. 2025):
 *       rho_t = exp(lp_t - old_t)
 *       l_t   = -w_t min(rho_t A, clip(rho_t, 1 - eps_low, 1 + eps_high) A)
 *       d l_t / d lp_t = -w_t A rho_t where rho_t A <= clipped term, else 0
 *     w_t = 1, or when old_logprob is given and tis_cap = C > 0,
 *       w_t = min(exp(old_t - ro_t), C): the learner's pi_old and the rollout engine's
 *     pi disagree (TIS applied to the behaviour policy, constant).
 *     Without old_logprob the ratio is taken against the rollout log-probs directly.
 *
 *   KL in the loss (kl_place = CADA_KL_IN_LOSS; needs ref_logprob):
 *       l_t += kl_coef * est(lp_t, ref_t),  d/d lp_t += kl_coef * est'(lp_t, ref_t)
 *     (learn/kl.h; GRPO puts k3 here, Shao et al. 2024 eq. 4).
 *
 * Aggregation over the step (N = norm->tokens, S = norm->seqs, len_s = completion
 * length of s; global totals, learn/stats.h):
 *   TOKEN_MEAN               L = sum_{s,t} l_t / N          (DAPO; default for GRPO/PPO)
 *   SEQ_MEAN_TOKEN_MEAN      L = (1/S) sum_s (1/len_s) sum_t l_t   (GRPO as published)
 *   SEQ_MEAN_TOKEN_SUM       L = (1/S) sum_s sum_t l_t      (REINFORCE on sequence
 *                            log-probs: d L / d theta = -(1/S) sum_s A_s grad log pi(y_s))
 * The derivative written for each token is the aggregation weight times d l_t / d lp_t. */
#ifndef CADA_LEARN_POLICY_LOSS_H
#define CADA_LEARN_POLICY_LOSS_H

#include "learn/kl.h"
#include "learn/stats.h"

typedef enum { CADA_PG_VANILLA = 0, CADA_PG_PPO_CLIP } cada_pg_kind;
typedef enum { CADA_AGG_TOKEN_MEAN = 0, CADA_AGG_SEQ_MEAN_TOKEN_MEAN, CADA_AGG_SEQ_MEAN_TOKEN_SUM } cada_loss_agg;

typedef struct {
    cada_pg_kind kind;
    cada_loss_agg agg;
    double clip_low;  /* eps_low (0.2) */
    double clip_high; /* eps_high (0.2; DAPO's clip-higher uses 0.28) */
    double tis_cap;   /* C of truncated importance sampling; <= 0 turns it off */
    cada_kl_placement kl_place; /* only CADA_KL_IN_LOSS acts here */
    cada_kl_estimator kl_est;
    double kl_coef;
} cada_pg_config;

void cada_pg_config_default(cada_pg_config *c, cada_pg_kind kind);

/* t[0..n): the sequences of this (micro-)batch; lp_index[i]: index in logprob/dlogprob
 * (n_lp entries, e.g. the packed B*T) of sequence i's completion token 0 (traj.h);
 * adv[i]: its advantage. Writes dlogprob (all n_lp entries: zero outside completions)
 * and ADDS into stats (may be NULL). Errors: missing ref_logprob for KL in the loss,
 * indices out of range, non-positive totals. */
cada_status cada_pg_loss(const cada_pg_config *c, const cada_traj *t, int n, const int *lp_index, const float *adv,
                         const float *logprob, int n_lp, const cada_loss_norm *norm, float *dlogprob,
                         cada_token_stats *stats);

#endif
