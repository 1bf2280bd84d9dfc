/* learn/advantage.h: per-sequence advantages from rewards (no model involved).
 *
 * Computed over the GLOBAL batch (every sequence of the optimizer step, on every
 * learner rank alike, from the rewards), so the result does not depend on how
 * sequences are split over ranks or micro-batches.
 * A sequence's advantage is broadcast to each of its completion tokens by the loss
 * (learn/policy_loss.h): none of these methods has a critic.
 *
 *   RUNNING_MEAN  A_i = r_i - b, with b a running mean of rewards across steps: the
 *                 paper's REINFORCE baseline (CADA.md; Williams 1992 for REINFORCE).
 *                 Update rule b <- b + beta (mean_i r_i - b), applied ONCE per step
 *                 with the batch mean and AFTER the advantages are computed: A_i uses
 *                 the baseline of earlier steps only. Why after: a baseline that does
 *                 not depend on the current samples keeps the policy gradient unbiased
 *                 (the paper writes A_t = r_t - b_t with b_t already holding r_t,
 *                 which shrinks every advantage by (1 - beta) and correlates it with
 *                 its own reward). Why once per batch: per-sample updates would make b
 *                 depend on the order of samples, i.e. on the rank layout.
 *                 beta <= 0 selects beta_t = 1 / t (b = exact mean of the batch means
 *                 so far). b starts at baseline_init (0 by default).
 *   GROUP         GRPO (Shao et al. 2024, DeepSeekMath, eq. in sec. 4.1.2, outcome
 *                 supervision): A_i = (r_i - mean_g) / (std_g + eps) within the group
 *                 g of sequences answering the same prompt (group_std = 1; std is the
 *                 unbiased sample std, as torch.std), or A_i = r_i - mean_g
 *                 (group_std = 0; Dr. GRPO, Liu et al. 2025). A group of one has A = 0.
 *   LEAVE_ONE_OUT RLOO (Ahmadian et al. 2024, "Back to Basics"):
 *                 A_i = r_i - (sum_{j in g, j != i} r_j) / (k - 1), k = |g|; A = 0 for k = 1.
 *   BATCH_MEAN    A_i = r_i - mean of the batch (PPO-clip without a critic).
 *   RAW           A_i = r_i.
 *
 * The rewards here are the task's only. A KL penalty placed in the reward is applied by
 * the loss (learn/policy_loss.h) as a per-sequence shift of these advantages,
 * -kl_coef * sum_t est(lp_t, ref_t), because only the learner's forward has the policy's
 * own log-probs (the rollout engine's are another version's in async runs, and differ
 * numerically); it needs no extra forward since a sequence stays in one micro-batch.
 * So the running-mean baseline tracks the task reward alone: any baseline that does not
 * depend on the current samples keeps the gradient unbiased, the KL part is small
 * (beta 0.01) and has its own exact expectation, and a baseline of the task reward is
 * the number to read in metrics.jsonl. For GROUP and the others the shift also comes
 * after normalisation: the KL's weight does not change with the spread of the rewards. */
#ifndef CADA_LEARN_ADVANTAGE_H
#define CADA_LEARN_ADVANTAGE_H

#include "learn/traj.h"

typedef enum {
    CADA_ADV_RUNNING_MEAN = 0,
    CADA_ADV_GROUP,
    CADA_ADV_LEAVE_ONE_OUT,
    CADA_ADV_BATCH_MEAN,
    CADA_ADV_RAW
} cada_adv_kind;

/* The running-mean baseline: part of the run state, saved and restored as this plain
 * struct (no pointers). */
typedef struct {
    double value;      /* b */
    long long updates; /* steps folded in (t of beta_t = 1/t) */
} cada_baseline;

typedef struct {
    cada_adv_kind kind;
    double baseline_beta; /* RUNNING_MEAN step size; <= 0: 1/t */
    double baseline_init; /* b before the first update */
    int group_std;        /* GROUP: divide by the group's std */
    double std_eps;       /* GROUP: (std + eps); 1e-6 as in TRL/verl */
} cada_adv_config;

void cada_adv_config_default(cada_adv_config *c, cada_adv_kind kind);
void cada_baseline_init(cada_baseline *b, const cada_adv_config *c);

typedef struct {
    int n_seqs;
    double reward_mean;        /* task rewards */
    double adv_mean, adv_abs_mean;
    double baseline_used;      /* RUNNING_MEAN: b the advantages used */
    double baseline_next;      /* RUNNING_MEAN: b after this step's update */
} cada_adv_stats;

/* adv: (n) out. baseline: read and updated for RUNNING_MEAN (may be NULL otherwise).
 * stats may be NULL. Errors: a missing baseline, bad kind. */
cada_status cada_advantages(const cada_adv_config *c, const cada_traj *t, int n, cada_baseline *baseline, float *adv,
                            cada_adv_stats *stats);

#endif
