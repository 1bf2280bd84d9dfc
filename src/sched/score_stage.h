/* sched/score_stage.h: the score stage: rewards of a step's sequences, and the frozen
 * reference model's log-probs of their completions (the KL term's other half).
 *
 * Rewards (reward.detector):
 *   rule           reward/reward.h on the decoded completion and the prompt's label and
 *                  hazard category: the total, its five components and the refusal verdict;
 *   target_tokens  a learnable test task: the share of completion tokens whose id lies
 *                  in one of reward.target_ids' ranges. With a range covering part of the
 *                  vocabulary any model starts with a non-zero mean reward that a policy
 *                  gradient raises within a few steps, which a refusal reward cannot offer
 *                  a model that never refuses.
 * Reference log-probs come from one scorer (learn/scorer.h) on the CPU or a GPU. */
#ifndef CADA_SCHED_SCORE_STAGE_H
#define CADA_SCHED_SCORE_STAGE_H

#include "base/error.h"
#include "cada/dataset.h"
#include "learn/scorer.h"
#include "reward/refusal.h"
#include "reward/reward.h"
#include "sched/seqs.h"
#include "tok/tokenizer.h"

/* reward.target_ids "lo-hi,id,...": inclusive token-id ranges. */
typedef struct {
    int (*range)[2];
    int n;
} cada_target_ranges;

/* Parses spec against a vocabulary of `vocab` ids (errors name reward.target_ids and the
 * bad part). */
cada_status cada_target_parse(cada_target_ranges *t, const char *spec, int vocab);
void cada_target_free(cada_target_ranges *t);

typedef struct {
    const cada_prompt_set *data;        /* labels, categories and texts of the prompts */
    cada_tokenizer *tok;
    const cada_reward_config *reward;
    cada_refusal_rules *rules;
    const cada_target_ranges *target;   /* n > 0: the target_tokens task */
    cada_scorer *reference;             /* NULL: this rank computes no reference log-probs */
    int rank;                           /* for messages */
    const cada_monitor *monitor;        /* the Analysis monitor; NULL: none (reward.monitor_patterns = "") */
} cada_score_ctx;

/* reward, comp[], refused, harmful, truncated and the monitor's verdict of s[0..n) (by
 * each s[i].item's prompt; s[i].finish says whether the generation was cut off). */
cada_status cada_score_rewards(const cada_score_ctx *c, seq_rec *s, int n);
/* s[i].ref_lp (malloc'd, completion_len floats) under the reference model. */
cada_status cada_score_reference(const cada_score_ctx *c, seq_rec *s, int n);
/* Both, timed: *reward_s and *reference_s grow by each part's wall time. */
cada_status cada_score_all(const cada_score_ctx *c, seq_rec *s, int n, double *reward_s, double *reference_s);

#endif
