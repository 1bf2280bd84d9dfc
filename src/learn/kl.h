/* learn/kl.h: estimators of KL(pi || pi_ref) from one sampled token.
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
 * step; with |log r| <= 20, r stays below 5e8. */
#ifndef CADA_LEARN_KL_H
#define CADA_LEARN_KL_H

typedef enum { CADA_KL_K1 = 1, CADA_KL_K2 = 2, CADA_KL_K3 = 3 } cada_kl_estimator;

#define CADA_KL_LOG_R_MAX 20.0

/* Where a KL penalty enters: not at all, subtracted from each sequence's reward (summed
 * over its tokens, computed from the ROLLOUT log-probs, no gradient through it), or
 * added to the loss per token (computed from the learner's log-probs, with gradient). */
typedef enum { CADA_KL_OFF = 0, CADA_KL_IN_REWARD, CADA_KL_IN_LOSS } cada_kl_placement;

double cada_kl_value(cada_kl_estimator e, double logprob, double ref_logprob);
double cada_kl_grad(cada_kl_estimator e, double logprob, double ref_logprob); /* d value / d logprob */

const char *cada_kl_name(cada_kl_estimator e); /* "k1", "k2", "k3" */
int cada_kl_parse(const char *name, cada_kl_estimator *out); /* 0 on success */

#endif
