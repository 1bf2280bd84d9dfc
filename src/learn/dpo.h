/* learn/dpo.h: Direct Preference Optimization (Rafailov et al. 2023, eq. 7), the
 * paper's DPO w CR baseline (chosen = the case-augmented chain, rejected = a bare
 * refusal; CADA.md).
 *
 * A pair is two sequences with the same `group` (the pair id), one with chosen = 1, one
 * with chosen = 0, both in the same micro-batch (the learner keeps pairs together).
 * Sequence log-probs are sums over completion tokens:
 *   pi_c = sum_t lp_t (chosen), pi_r (rejected), ref_c, ref_r likewise from ref_logprob
 *   z = beta ((pi_c - ref_c) - (pi_r - ref_r))
 *   L = (1/P) sum_pairs -log sigmoid(z) = (1/P) sum softplus(-z),  P = norm->pairs
 *   d L / d lp_t = -beta sigmoid(-z) / P on chosen tokens, +beta sigmoid(-z) / P on
 *   rejected ones.
 * Stats: pairs, dpo_correct (z > 0), dpo_margin_sum (z / beta). */
#ifndef CADA_LEARN_DPO_H
#define CADA_LEARN_DPO_H

#include "learn/stats.h"

/* Errors: a pair that is not exactly one chosen and one rejected sequence (names the
 * pair id), missing ref_logprob. */
cada_status cada_dpo_loss(double beta, const cada_traj *t, int n, const int *lp_index, const float *logprob, int n_lp,
                          const cada_loss_norm *norm, float *dlogprob, cada_token_stats *stats);

#endif
