/* learn/sft.h: supervised fine-tuning on completion tokens (the paper's SFT baselines:
 * rule-only DA, SFT w CR, SFT w DR; CADA.md).
 *
 *   L = -(1/N) sum over completion tokens of log pi(token),  d L / d lp_t = -1/N
 * with N = norm->tokens, the completion tokens of the whole step (learn/stats.h): the
 * same mean cross-entropy as model.h's cada_ce_dlogprob, but normalised globally so
 * micro-batch and rank gradients sum to the step's. Prompt tokens carry no loss. */
#ifndef CADA_LEARN_SFT_H
#define CADA_LEARN_SFT_H

#include "learn/stats.h"

/* Arguments as cada_pg_loss (learn/policy_loss.h); rewards, groups and the rollout /
 * reference log-probs are ignored. */
cada_status cada_sft_loss(const cada_traj *t, int n, const int *lp_index, const float *logprob, int n_lp,
                          const cada_loss_norm *norm, float *dlogprob, cada_token_stats *stats);

#endif
