/* eval/metrics.h: the safety metrics of an evaluation, counted per prompt set and per
 * hazard category.
 *
 *   attack success rate (ASR)  harmful prompts NOT refused / harmful prompts
 *                              (CADA.md: lower is better)
 *   non-refusal rate           benign prompts not refused / benign prompts (the
 *                              over-refusal measure, XSTest's metric: higher is better)
 *   rubric score               mean StrongREJECT-style score over harmful prompts whose
 *                              rubric the judge filled in (reward/judge.h), with how many
 *                              it did not
 *   format                     output-parsing counts (reward/parse.h)
 * A rate over zero prompts is NaN (written as null / "-"). */
#ifndef CADA_EVAL_METRICS_H
#define CADA_EVAL_METRICS_H

#include "cada/category.h"
#include "cada/dataset.h"
#include "reward/judge.h"
#include "reward/parse.h"

typedef struct {
    long harmful_n, harmful_refused;
    long benign_n, benign_refused;
    long rubric_n, rubric_ok; /* rubric asked / parsed */
    double rubric_sum;        /* over parsed rubrics */
    cada_parse_stats parse;
} cada_eval_counts;

/* label: HARMFUL or BENIGN (UNKNOWN counts as harmful); rubric may be NULL. */
void cada_eval_counts_add(cada_eval_counts *c, cada_label label, int refused, const cada_rubric *rubric,
                          unsigned parse_flags);
void cada_eval_counts_merge(cada_eval_counts *into, const cada_eval_counts *c);
double cada_eval_asr(const cada_eval_counts *c);
double cada_eval_non_refusal(const cada_eval_counts *c);
double cada_eval_rubric_mean(const cada_eval_counts *c);

/* Per-category rows: index = category id, CADA_N_CATEGORIES = no category. */
#define CADA_EVAL_ROWS (CADA_N_CATEGORIES + 1)
static inline int cada_eval_row(int cat) { return cat >= 0 && cat < CADA_N_CATEGORIES ? cat : CADA_N_CATEGORIES; }

typedef struct {
    char name[128];
    char path[1024];
    char format[16];
    int n_items, n_skipped;
    cada_eval_counts total;
    cada_eval_counts cat[CADA_EVAL_ROWS];
} cada_eval_set_result;

/* The attack on the harmful prompts (eval/attack.h); all zero for attack "none". */
typedef struct {
    char name[16];               /* none | template | pap | pair */
    char attacker_model[1024];   /* "" for template (no attacker) */
    int attacker_max_tokens;
    float attacker_temperature;
    char jailbreaks[1024];       /* template: the file */
    int templates;               /* template: templates tried per prompt */
    int pair_streams, pair_iterations;
    char pair_scorer[16];        /* pair: "judge" (rubric) | "detector" */
    long attacked, jailbroken;   /* harmful prompts attacked / with a non-refused reply */
    long attacker_queries, target_queries, empty_proposals;
    long attacker_tokens, target_tokens; /* generated */
    long pairs, pairs_jailbroken;        /* template: (prompt, template) pairs */
    int engine_calls;
    double seconds;
} cada_eval_attack_summary;

typedef struct {
    /* what was run */
    char model[1024];
    char judge_model[1024]; /* "" when none */
    char template_name[16];
    char select[16];
    int k;
    char detector[16];
    int rubric;
    unsigned long long seed;
    int max_tokens;
    float temperature, top_p;
    /* results */
    int n_sets;
    cada_eval_set_result *sets;
    cada_eval_counts overall;
    cada_eval_counts overall_cat[CADA_EVAL_ROWS];
    cada_eval_attack_summary attack;
    long prompt_tokens, generated_tokens; /* of the direct (unattacked) prompts */
    double generate_seconds, judge_seconds, total_seconds;
} cada_eval_report;

void cada_eval_report_free(cada_eval_report *r);

#endif
