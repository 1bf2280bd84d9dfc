/* eval/build_data.h: the training sets of the paper's baselines (CADA.md, "Baselines"),
 * behind `cada build-data`. Each is a JSONL file that `cada train` with
 * learn.algorithm = sft | dpo learns from (sched/offline_stage.h).
 *
 * Methods:
 *   dr      SFT w DR: harmful prompts, response = the fixed refusal (refusal); no
 *           generation. Benign prompts are skipped (counted): a refusal is no answer to
 *           them, and the baseline teaches refusing harmful requests.
 *   rule    rule-only DA (SFT w S_c): `samples` completions per prompt, sampled under
 *           prompt.template = rule (the per-category spec), filtered (below).
 *   cr      SFT w CR: as rule, under prompt.template = cada (the case-augmented prompt).
 *   dpo-cr  DPO w CR: harmful prompts only (benign ones skipped, counted): chosen
 *           (response) = a kept cr completion, rejected = the fixed refusal.
 * The filter keeps a completion when it ended on its own (not at max_new_tokens or the
 * context limit: reason "truncated"), parses well-formed (reward/parse.h: reason
 * "malformed") and, for a harmful prompt, refuses by the reward's detector (reward.h:
 * rule or judge; reason "complied") with a non-empty Analysis (reason
 * "empty_analysis"), or for a benign one does not refuse (reason "refused_benign").
 * The first `keep` passing completions of a prompt (in sample order) are kept; a prompt
 * with none is dropped and counted. The refusal itself must read as a well-formed
 * refusal to the rule detector (else CADA_ERR_CONFIG naming baseline.refusal).
 *
 * Sampling: engine's temperature, top_p, top_k, seed and slots (rollout.*); the context
 * is sized as cada eval's, the longest rendered prompt + max_new_tokens + 1, within the
 * model's positions or engine.max_len (rollout.max_len) when that is larger (max_len
 * and the KV blocks are replaced), so the rule template's long spec needs no
 * rollout.max_len of its own.
 * Prompts: every file of `sets` (comma-separated), `limit` per file spread evenly over
 * it as cada eval takes them (0: all). Sampling streams are keyed by (seed, FNV-1a of
 * "set name/prompt id", sample), so a prompt's samples do not depend on the others.
 *
 * Output, one JSON object per line: id, prompt, category, label ("harmful"/"benign"),
 * response, rejected (dpo-cr), method, sample (the completion's sample index; -1 for
 * dr), tokens (response tokens). `cada train` reads id, prompt, category, label,
 * response and rejected. */
#ifndef CADA_EVAL_BUILD_DATA_H
#define CADA_EVAL_BUILD_DATA_H

#include "cada/dataset.h"
#include "cada/prompt.h"
#include "reward/judge.h"
#include "reward/reward.h"
#include "rollout/engine.h"

/* The fixed refusal when baseline.refusal is empty: one line of reasoning, one sentence
 * of refusal (data/cases.jsonl's refusals are one sentence too). */
#define CADA_BD_DEFAULT_REFUSAL                                                                                          \
    "### Analysis\nThe request could lead to harm, so I decline.\n### Final Response\nI'm sorry, but I can't help with that."

typedef enum { CADA_BD_DR = 0, CADA_BD_RULE, CADA_BD_CR, CADA_BD_DPO_CR } cada_bd_method;
const char *cada_bd_method_name(cada_bd_method m); /* "dr", "rule", "cr", "dpo-cr" */
int cada_bd_method_parse(const char *name, cada_bd_method *out); /* 0 on success */

/* Why a completion was not kept. */
enum { CADA_BD_TRUNCATED = 0, CADA_BD_MALFORMED, CADA_BD_COMPLIED, CADA_BD_EMPTY_ANALYSIS, CADA_BD_REFUSED_BENIGN, CADA_BD_N_REASONS };
extern const char *const cada_bd_reason_names[CADA_BD_N_REASONS];

typedef struct {
    cada_bd_method method;
    const char *model_path;
    unsigned tok_flags;
    const char *sets;             /* prompt files, comma-separated */
    cada_set_options set_options;
    int limit;                    /* prompts per file; 0: all */
    cada_prompt_config prompt;    /* its template is set by the method */
    cada_reward_config reward;    /* detector, patterns, judge threshold */
    cada_judge_config judge;
    const char *judge_model;      /* NULL: the policy judges (detector judge) */
    cada_engine_config engine;    /* sampling, seed, slots, KV pool bytes (max_len, KV blocks and eos set here) */
    int max_new_tokens;
    int samples, keep;            /* completions per prompt, kept at most per prompt */
    const char *refusal;          /* the fixed refusal (plain text, line breaks real) */
    const char *out_path;
    const char *rejected_path;    /* NULL, or a file for the completions the filter left out:
                                     the output's fields plus "reason" (and no rejected) */
    int progress;
} cada_bd_config;

typedef struct {
    long prompts, harmful, benign;
    long skipped;                 /* benign prompts dr and dpo-cr leave out */
    long generated, passed;       /* completions sampled, and those the filter passed */
    long rejected[CADA_BD_N_REASONS];
    long records;                 /* lines written */
    long dropped;                 /* prompts with no passing completion */
    double generate_seconds, seconds;
} cada_bd_stats;

/* The filter (above) of one completion of a harmful (or benign) prompt that finished
 * for `finish` and was scored r: -1 when it passes, else its CADA_BD_* reason. */
int cada_bd_verdict(int harmful, cada_finish_reason finish, const cada_reward *r);

/* Builds the set into out_path (its folder created; written whole, then renamed into
 * place). */
cada_status cada_build_data(const cada_bd_config *c, cada_bd_stats *stats);
/* The stats as a JSON object (method, counts, rejected by reason, seconds) into path. */
cada_status cada_bd_stats_write(const cada_bd_config *c, const cada_bd_stats *s, const char *path);

#endif
