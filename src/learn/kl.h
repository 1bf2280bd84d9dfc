/* learn/kl.h: estimators of KL(pi || pi_ref) from one sampled token, where a KL penalty
 * enters the update, and what expected gradient each combination gives.
 *
 * Source: J. Schulman, "Approximating KL Divergence" (2020 blog note). With x sampled
 * from pi (the policy) and r = pi_ref(x) / pi(x), so log r = ref_logprob - logprob:
 *   k1 = -log r                 unbiased, high variance, can be negative
 *   k2 = (log r)^2 / 2          biased, low variance, >= 0
 *   k3 = (r - 1) - log r        unbiased, low variance, >= 0 (the note's recommendation)
 * (k1 is -log r, i.e. log pi - log pi_ref: the estimator of KL(pi || pi_ref) in the
 * note; "log r" without the sign would estimate its negative.)
 *
 * Derivatives with respect to the policy's log-prob (what a loss term feeds to the
 * model's backward):  dk1 = 1,  dk2 = -log r = logprob - ref_logprob,  dk3 = 1 - r.
 *
 * k3 evaluates exp(log r); log r is clamped to [-CADA_KL_LOG_R_MAX, CADA_KL_LOG_R_MAX]
 * there (value and derivative) so one badly out-of-distribution token cannot overflow a
 * step; with |log r| <= 20, r stays below 5e8.
 *
 * The penalty (CADA.md step 5: beta_KL = 0.01 to the initial model) is the sequence-level
 * KL(pi || pi_ref) = E_y[log pi(y) - log pi_ref(y)], y = y_1..y_T. Its exact gradient is
 *   grad KL = E_y[ K1(y) grad log pi(y) ],  K1(y) = sum_t k1_t = log pi(y) - log pi_ref(y)
 * (the term E[grad log pi(y)] vanishes), i.e. K1 subtracted from the reward with no
 * gradient through it: each token is charged the KL of the whole sequence, the later
 * tokens' included, since its choice changes what follows. The per-token terms of the
 * LOSS differentiate one token's estimate with its prefix held fixed, and so never see
 * that effect. With A the sequence's advantage, loss direction (minimised), y ~ pi:
 *
 *   placement  est  expected gradient of the KL part (times beta)
 *   reward     k1   grad KL(pi || pi_ref) of the whole sequence: exact (the default)
 *   reward     k2   a biased mix: E[sum_t (log r_t)^2 / 2 * grad log pi(y)], neither KL
 *   reward     k3   a biased mix: grad KL(pi || pi_ref) minus, for every token, the
 *                   gradient of KL(pi_ref || pi) given its prefix (k3 - k1 = r - 1)
 *   loss       k1   zero (E[grad log pi] = 0): REFUSED (cada_kl_check)
 *   loss       k2   sum_t E_prefix grad KL(pi || pi_ref)(. | prefix): the per-token KL
 *                   with the prefix distribution held fixed (ignores later tokens)
 *   loss       k3   sum_t E_prefix grad KL(pi_ref || pi)(. | prefix): the reverse KL per
 *                   token (GRPO's, Shao et al. 2024 eq. 4), ignoring later tokens
 * "Reward" is applied where the learner has its own log-probs: in the loss stage, as a
 * per-sequence shift of the advantage, A - beta * sum_t est(lp_t, ref_t), with lp the
 * log-probs of the micro-batch's forward treated as constants (learn/policy_loss.h).
 * Packing keeps a sequence whole in one micro-batch, so the sum needs no extra forward.
 * tests/unit/test_kl_grad.c checks every row above by exact enumeration. */
#ifndef CADA_LEARN_KL_H
#define CADA_LEARN_KL_H

#include "base/error.h"

typedef enum { CADA_KL_K1 = 1, CADA_KL_K2 = 2, CADA_KL_K3 = 3 } cada_kl_estimator;

#define CADA_KL_LOG_R_MAX 20.0

/* Where a KL penalty enters: not at all, subtracted from each sequence's reward (summed
 * over its tokens, from the LEARNER's log-probs of the step's forward, no gradient
 * through it: a per-sequence shift of the advantage), or added to the loss per token
 * (from the learner's log-probs, with gradient). */
typedef enum { CADA_KL_OFF = 0, CADA_KL_IN_REWARD, CADA_KL_IN_LOSS } cada_kl_placement;

double cada_kl_value(cada_kl_estimator e, double logprob, double ref_logprob);
double cada_kl_grad(cada_kl_estimator e, double logprob, double ref_logprob); /* d value / d logprob */

const char *cada_kl_name(cada_kl_estimator e); /* "k1", "k2", "k3" */
int cada_kl_parse(const char *name, cada_kl_estimator *out); /* 0 on success */

/* One line naming what the combination's expected gradient is (the table above), for a
 * run's start-up lines. Static text. */
const char *cada_kl_gradient(cada_kl_placement place, cada_kl_estimator e);
/* CADA_ERR_CONFIG for a combination whose expected gradient is zero (k1 in the loss),
 * with a message saying why and what to use; CADA_OK otherwise (the biased ones are
 * allowed: cada_kl_gradient labels them). */
cada_status cada_kl_check(cada_kl_placement place, cada_kl_estimator e);

#endif
