/* learn/entropy.h: the policy's entropy per token, from the forward's logits.
 *
 *   H_n = -sum_v p_v log p_v = lse_n - sum_v p_v logit_v,   p_v = exp(logit_v - lse_n)
 *
 * The model keeps only log p(target) and the log-sum-exp per token, and its logits
 * exist chunk by chunk during forward (model.h, cada_logits_observer): the CPU learner
 * calls this on each chunk as forward makes it. A metric only: an entropy bonus would
 * need a gradient with respect to every logit, which the model's dlogprob interface
 * does not carry. */
#ifndef CADA_LEARN_ENTROPY_H
#define CADA_LEARN_ENTROPY_H

/* logits: (N, V); lse: (N); mask: (N), a row counts where mask[n] >= 0 (pass the packed
 * targets: learn/traj.h sets them only on completion tokens), NULL = every row.
 * entropy: (N) out or NULL (0 on rows the mask leaves out). Returns the sum over the
 * rows counted. Threaded over rows; each row is summed in a fixed order, so the result
 * does not depend on the thread count. */
double cada_token_entropy(const float *logits, const float *lse, const int *mask, int N, int V, float *entropy);

#endif
