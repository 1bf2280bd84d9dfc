/* sched/config_modules.h: the run configuration (config.h) as each module's own
 * configuration: the one place where `cada train`, `cada eval` and `cada score` turn the
 * table's keys into prompt, reward, learner, dataset and tokenizer settings, so a key
 * means the same in every command. */
#ifndef CADA_SCHED_CONFIG_MODULES_H
#define CADA_SCHED_CONFIG_MODULES_H

#include "base/error.h"
#include "cada/dataset.h"
#include "cada/prompt.h"
#include "learn/learner.h"
#include "model/config.h"
#include "reward/reward.h"
#include "sched/config.h"

/* The modules' configurations. Each starts from the module's defaults and sets every
 * field the table holds; a value the table's checks let through but the module cannot
 * take is an error naming the key: CADA_ERR_CONFIG (an empty prompt file name), or
 * CADA_ERR_UNSUPPORTED (learn.algorithm sft or dpo).
 *
 * prompt: template, k, selection, pool, balance, data_dir and the file names; the seed
 *   of case choice is run.seed (one seed for every random stream of a run).
 * reward: every reward.* key but judge_slots (the judge's). reward.detector = target_tokens (a training test task the
 *   trainer computes itself from reward.target_ids) gives detector rule here, whose
 *   verdicts the trainer does not use.
 * learner: learn.algorithm (RL only: sft and dpo are refused), learn.baseline_beta, the
 *   KL term (learn.kl_coef > 0 turns it on, in learn.kl_in, with learn.kl_estimator;
 *   k1 in the loss is refused, learn/kl.h's cada_kl_check), learn.tis_cap (the loss's
 *   truncated importance sampling cap, learn/policy_loss.h),
 *   learn.clip_low/high, learn.loss_agg (auto keeps each algorithm's own), AdamW
 *   (learn.lr, beta1, beta2, eps, weight_decay, grad_clip) and its schedule
 *   (learn.warmup_steps of linear warm-up, then learn.lr_schedule: constant, or cosine
 *   over run.steps), learn.zero, learn.fixed_order, the packing (row_tokens =
 *   rollout.max_len, micro_tokens = max(learn.micro_batch_tokens, rollout.max_len),
 *   pad id 0).
 * dataset: data.format, data.on_error and the data.*_field names; the field strings
 *   point into *c, which must outlive *out. */
cada_status cada_config_prompt(const cada_run_config *c, cada_prompt_config *out);
/* cada eval's prompt: cada_config_prompt with eval.template in place of prompt.template
 * (evaluation renders the bare request by default; training samples under the case-
 * augmented prompt). */
cada_status cada_config_eval_prompt(const cada_run_config *c, cada_prompt_config *out);
cada_status cada_config_reward(const cada_run_config *c, cada_reward_config *out);
/* judge: reward.judge_slots (items per model call); the prompts are the files in data/judge. */
cada_status cada_config_judge(const cada_run_config *c, cada_judge_config *out);
cada_status cada_config_learner(const cada_run_config *c, cada_learner_config *out);
cada_status cada_config_dataset(const cada_run_config *c, cada_set_options *out);
/* The tensor-parallel sizes against the models' shapes (sched/tp_layout.h): learn.tp
 * and rollout.tp against the policy's, reward.tp against the reference's. policy and
 * reference are the shapes when the caller has them (cada plan's preset); NULL: read
 * from model.path and model.reference (empty: model.path) when the model is on this
 * machine (config.json or GGUF metadata), else from model.preset (the policy's, and the
 * reference's when model.reference is empty), else skipped. Errors name the key, the
 * model (path or preset) and the field tp does not divide. */
cada_status cada_config_check_tp_shape(const cada_run_config *c, const cada_model_config *policy,
                                       const cada_model_config *reference);
/* model.gguf_tokenizer as cada_tok_load flags (CADA_TOK_LOAD_*, tok/tokenizer.h). */
unsigned cada_config_tok_flags(const cada_run_config *c);

#endif
