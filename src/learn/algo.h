/* learn/algo.h: the learning algorithms as presets over the pieces, and one entry point
 * per phase of a step.
 *
 *   algorithm  advantage (advantage.h)      loss (policy_loss.h, sft.h, dpo.h)
 *   REINFORCE  RUNNING_MEAN (the paper's)   VANILLA, SEQ_MEAN_TOKEN_SUM
 *   GRPO       GROUP, std-normalised        PPO_CLIP eps 0.2/0.2, TOKEN_MEAN
 *   RLOO       LEAVE_ONE_OUT                VANILLA, SEQ_MEAN_TOKEN_SUM
 *   PPO        BATCH_MEAN (no critic)       PPO_CLIP eps 0.2/0.2, TOKEN_MEAN
 *   SFT        -                            mean cross-entropy on completions
 *   DPO        -                            DPO, beta 0.1
 * Every field can be changed after cada_algo_config_default. KL: estimator k1 and
 * coefficient 0.01 (the paper's beta_KL) are preset, placement is OFF until a run turns
 * it on (cada train: in the reward, the gradient of the sequence-level KL(pi || pi_ref);
 * learn/kl.h), because it needs reference log-probs. Truncated importance sampling
 * (pg.tis_cap) is off here; cada train turns it on (learn.tis_cap).
 *
 * A step: cada_algo_prepare once on the GLOBAL batch (every rank alike; advantages and
 * the running baseline's update), then cada_algo_loss per micro-batch on the log-probs
 * of its forward, with the global totals (cada_loss_norm_of on the global batch). */
#ifndef CADA_LEARN_ALGO_H
#define CADA_LEARN_ALGO_H

#include "learn/advantage.h"
#include "learn/policy_loss.h"

typedef enum {
    CADA_ALGO_REINFORCE = 0,
    CADA_ALGO_GRPO,
    CADA_ALGO_RLOO,
    CADA_ALGO_PPO,
    CADA_ALGO_SFT,
    CADA_ALGO_DPO
} cada_algo;

typedef struct {
    cada_algo algo;
    cada_adv_config adv;
    cada_pg_config pg;
    double dpo_beta;
} cada_algo_config;

void cada_algo_config_default(cada_algo_config *c, cada_algo algo);
const char *cada_algo_name(cada_algo a); /* "reinforce", "grpo", ... */
int cada_algo_parse(const char *name, cada_algo *out); /* 0 on success */
/* Sets the KL placement, estimator and coefficient (the loss applies both placements:
 * learn/policy_loss.h). */
void cada_algo_set_kl(cada_algo_config *c, cada_kl_placement place, cada_kl_estimator est, double coef);

/* adv: (n) out (zeros for SFT and DPO). baseline: the run's running-mean state
 * (REINFORCE; may be NULL for the others). stats may be NULL. */
cada_status cada_algo_prepare(const cada_algo_config *c, const cada_traj *t, int n, cada_baseline *baseline, float *adv,
                              cada_adv_stats *stats);

/* The loss of one (micro-)batch and its dlogprob (n_lp entries, written in full);
 * stats accumulate (may be NULL). See policy_loss.h for the arguments. */
cada_status cada_algo_loss(const cada_algo_config *c, const cada_traj *t, int n, const int *lp_index, const float *adv,
                           const float *logprob, int n_lp, const cada_loss_norm *norm, float *dlogprob,
                           cada_token_stats *stats);

#endif
