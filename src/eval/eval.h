/* eval/eval.h: the safety evaluation behind `cada eval`.
 *
 * For every prompt set: load it (cada/dataset.h), keep `limit` prompts spread evenly
 * over the file (indices floor(i * n / limit), so a short run still covers the
 * categories of a file sorted by category), render each with the prompt builder
 * (cada/prompt.h), generate all of them in one continuously batched run
 * (rollout/engine.h; sampling streams keyed by (seed, FNV-1a of "set name/prompt id")), score
 * each completion (reward/reward.h: parsing, the refusal detector, the reward), run the
 * rubric judge on harmful prompts when asked, and count (eval/metrics.h).
 * Under an attack (attack.kind != NONE, eval/attack.h) the harmful prompts (label not
 * benign) are not generated directly: the attack's kept reply to its adversarial prompt
 * is what is scored and counted, so their ASR is the ASR under the attack; benign
 * prompts run as without one. The judge opens before any generation (an attack's
 * verdicts may need it; PAIR scores with it when judge_model is set).
 * Progress goes to stderr (a line every few seconds while generating).
 *
 * Output directory (created):
 *   report.json, report.md, report.svg   eval/report.h
 *   generations.jsonl                    one line per prompt: set, id, category, label,
 *                                        prompt, cases (ids), response (the full
 *                                        completion), analysis, final_response, finish,
 *                                        tokens, refused, p_refused, rule_refused,
 *                                        format, reward components, rubric; under an
 *                                        attack, harmful prompts add attack,
 *                                        adversarial_prompt, jailbroken, queries
 *                                        {attacker, target}, empty_proposals and
 *                                        winner (jailbroken) or kept: {stream, iteration,
 *                                        score} (pair), {template, index} with
 *                                        templates_tried / templates_jailbroken
 *                                        (template). The file is valid input for
 *                                        `cada score`.
 *   config.ini                           the resolved configuration (cfg->config_ini:
 *                                        `cada eval -c OUT/config.ini` repeats the run)
 *
 * The command line and the INI keys behind cada_eval_config are sched/config.h's (model,
 * data, prompt, reward and eval sections); this module takes the built configurations. */
#ifndef CADA_EVAL_EVAL_H
#define CADA_EVAL_EVAL_H

#include "cada/dataset.h"
#include "cada/prompt.h"
#include "eval/attack.h"
#include "eval/metrics.h"
#include "reward/reward.h"

#define CADA_EVAL_MAX_SETS 32

typedef struct {
    const char *path;
    cada_set_format format;
} cada_eval_set_spec;

typedef struct {
    const char *model_path;
    cada_eval_set_spec sets[CADA_EVAL_MAX_SETS];
    int n_sets;
    cada_set_options set_options; /* format is taken from each spec */
    cada_prompt_config prompt;
    cada_reward_config reward;    /* detector, patterns, and the reward written per line */
    cada_judge_config judge;
    const char *judge_model;      /* NULL: no separate judge model */
    int rubric;                   /* rubric on harmful prompts (needs a judge: judge_model, else the policy) */
    int limit;                    /* prompts per set; 0 = all */
    int max_tokens;               /* generated tokens per prompt */
    int n_slots;                  /* sequences decoded together */
    float temperature, top_p;     /* 0 = greedy (the paper's evaluation) */
    uint64_t seed;                /* generation streams (the prompt builder has its own seed) */
    unsigned tok_flags;           /* cada_tok_load flags of the policy's and the judge's tokenizer */
    const char *out_dir;
    const char *config_ini;       /* written as out_dir/config.ini; NULL: none */
    int progress;                 /* progress lines on stderr */
    cada_attack_config attack;    /* eval.attack and its settings (kind NONE: no attack) */
} cada_eval_config;

void cada_eval_config_default(cada_eval_config *c);
cada_status cada_eval_run(const cada_eval_config *cfg, cada_eval_report *report);

/* A judge with a model of its own (reward.judge_model), its tokenizer loaded with
 * tok_flags (reward/judge.h's cada_judge_open takes the default tokenization). */
typedef struct {
    cada_model model;
    cada_tokenizer *tok;
    cada_judge *judge;
} cada_eval_judge;
cada_status cada_eval_judge_open(cada_eval_judge *j, const char *model_path, unsigned tok_flags, const cada_judge_config *cfg);
void cada_eval_judge_close(cada_eval_judge *j);

#endif
