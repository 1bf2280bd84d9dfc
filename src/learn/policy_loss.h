/* learn/policy_loss.h: policy-gradient losses without a critic, per token, with the
 * derivative the model's backward takes (dlogprob[n] = d loss / d logprob[n]).
 *
 * Per completion token t of sequence s, with lp = the learner's log-prob (from the
 * forward of the micro-batch), ro = rollout_logprob (the engine's, under the policy
 * version that generated), old = old_logprob if given (PPO/GRPO only) else lp,
 * detached (a constant: one optimizer step per batch, so pi_old IS the learner's
 * weights at the start of the step and the ratio below is 1 with gradient lp's), and
 *   A = adv[s] - kl_coef * sum_k est(lp_k, ref_k)   when kl_place = CADA_KL_IN_REWARD
 *   A = adv[s]                                      otherwise
 * (the sum over all of s's completion tokens, from the learner's log-probs, a constant;
 * learn/kl.h: with k1 this is the exact gradient of the sequence-level KL(pi || pi_ref);
 * the whole sequence's KL, not a reward-to-go from token t on: the terms before t add
 * nothing in expectation, and one number per sequence is what the paper subtracts from
 * its reward. Needs ref_logprob.)
 *
 * Truncated importance sampling (tis_cap = C > 0; Yao et al. 2025, "Your efficient RL
 * framework secretly brings you off-policy RL training"): every token's term is weighed
 *       w_t = min(exp(old_t - ro_t), C),  a constant (no gradient through it),
 * the bounded ratio between the learner's pi (or PPO's given pi_old) and the engine's.
 * It covers what makes the sample not the learner's own: the numeric gap between the
 * engine and the learner, the policy lag of asynchronous rollouts (samples of version
 * s - 1 trained at step s: ro is the generating version's, lp the current weights'),
 * and a prompt that differs between generation and training (a sample drawn under the
 * case-augmented prompt and trained under the bare request: w is then the bounded
 * importance weight between the two conditionings). Recomputing log-probs under the
 * exact generating version instead would need a second copy of the weights, which the
 * learner does not hold. C = 0 gives w_t = 1.
 *
 *   VANILLA (REINFORCE, RLOO; Williams 1992, Ahmadian et al. 2024):
 *       l_t = -w_t A lp_t,             d l_t / d lp_t = -w_t A
 *
 *   PPO_CLIP (Schulman et al. 2017, eq. 7; GRPO, Shao et al. 2024, eq. 3 uses the same
 *   clipped surrogate; separate lower and upper bounds as in DAPO, Yu et al. 2025):
 *       rho_t = exp(lp_t - old_t)
 *       l_t   = -w_t min(rho_t A, clip(rho_t, 1 - eps_low, 1 + eps_high) A)
 *       d l_t / d lp_t = -w_t A rho_t where rho_t A <= clipped term, else 0
 *     Without old_logprob, old = lp: rho = 1 (never clipped) and the term is VANILLA's.
 *
 *   KL in the loss (kl_place = CADA_KL_IN_LOSS; needs ref_logprob; k1 is refused, its
 *   expected gradient being zero: cada_kl_check):
 *       l_t += kl_coef * est(lp_t, ref_t),  d/d lp_t += kl_coef * est'(lp_t, ref_t)
 *     (learn/kl.h; GRPO puts k3 here, Shao et al. 2024 eq. 4).
 *
 * Statistics (cada_token_stats): the IS weight exp(old - ro) before truncation (sum,
 * min, max), tokens truncated, |lp - ro| (the engine/learner gap), k3(lp, ref) per token
 * as the KL value, and the reward-placed KL sums.
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
 * and ADDS into stats (may be NULL). Errors: missing ref_logprob for a KL term, k1 in
 * the loss (cada_kl_check), indices out of range, non-positive totals. */
cada_status cada_pg_loss(const cada_pg_config *c, const cada_traj *t, int n, const int *lp_index, const float *adv,
                         const float *logprob, int n_lp, const cada_loss_norm *norm, float *dlogprob,
                         cada_token_stats *stats);

#endif
