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
 *   judge          (reward.detector or bonus = judge, comply = strongreject, benign =
 *                  helpful, judge_scores) reward/reward.h with the LLM judge that this
 *                  rank opened at start-up (reward.judge_model, on the CPU whatever
 *                  cluster.device is): the n sequences of a call go to the judge together,
 *                  reward.judge_slots per model call. What the judge spent and the sums of
 *                  its scores add up in a cada_judge_tally: the placement reports them per
 *                  step (metrics.jsonl's judge_* fields), reward ranks send theirs to the
 *                  scheduler in RewardBatch.judge.
 * Reference log-probs come from one scorer (learn/scorer.h) on the CPU or a GPU. */
#ifndef CADA_SCHED_SCORE_STAGE_H
#define CADA_SCHED_SCORE_STAGE_H

#include "base/error.h"
#include "cada/dataset.h"
#include "learn/scorer.h"
#include "reward/refusal.h"
#include "reward/reward.h"
#include "sched/metrics.h"
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
    cada_judge *judge;                  /* the LLM judge where the reward needs one, else NULL */
    struct cada_judge_tally *tally;     /* NULL: not counted */
    const cada_monitor *monitor;        /* the Analysis monitor; NULL: none (reward.monitor_patterns = "") */
} cada_score_ctx;

/* The judge's cost and score sums over some scoring calls of one rank, or over the
 * ranks (seconds then the busiest rank's: what the step waited for). */
typedef struct cada_judge_tally {
    double seconds, cpu_seconds;     /* cada_judge_stats' */
    double prompt_tokens, gen_tokens;
    double sum[CADA_JS_N], count[CADA_JS_N]; /* of each judge score (cada_reward.judge_score) */
} cada_judge_tally;

/* Adds o into t: counts and sums added, seconds as the larger (other ranks' work ran
 * beside this one's). */
void cada_judge_tally_merge(cada_judge_tally *t, const cada_judge_tally *o);
/* Adds o into t, seconds too (more work of the same rank). */
void cada_judge_tally_add(cada_judge_tally *t, const cada_judge_tally *o);
/* metrics.jsonl fields of a step's tally: judge_s, judge_cpu_s, judge_prompt_tokens,
 * judge_gen_tokens, judge_tokens (their sum), and judge_<score> (the mean; NaN when
 * none was computed) for each score in `scores` (cada_reward_judge_scores bits).
 * Writes at most 5 + CADA_JS_N fields; returns how many. */
int cada_judge_tally_fields(const cada_judge_tally *t, unsigned scores, cada_metric_field *out);
/* A tally as RewardBatch.judge (the message points into sums/ptrs, CADA_JS_N each). */
void cada_judge_tally_to_msg(const cada_judge_tally *t, Cada__JudgeStats *m, Cada__JudgeScoreSum *sums,
                             Cada__JudgeScoreSum **ptrs);
/* The inverse; a negative or non-finite number, or an unknown score name, is
 * CADA_ERR_FORMAT naming rank `from`. */
cada_status cada_judge_tally_from_msg(const Cada__JudgeStats *m, cada_judge_tally *t, int from);

/* reward, comp[], refused, harmful, truncated and the monitor's verdict of s[0..n) (by
 * each s[i].item's prompt; s[i].finish says whether the generation was cut off). */
cada_status cada_score_rewards(const cada_score_ctx *c, seq_rec *s, int n);
/* s[i].ref_lp (malloc'd, completion_len floats) under the reference model. */
cada_status cada_score_reference(const cada_score_ctx *c, seq_rec *s, int n);
/* Both, timed: *reward_s and *reference_s grow by each part's wall time. */
cada_status cada_score_all(const cada_score_ctx *c, seq_rec *s, int n, double *reward_s, double *reference_s);

#endif
