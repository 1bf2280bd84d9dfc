/* sched/config.h: the one configuration of `cada train`, `cada eval` and `cada score`
 * (and `cada plan`, which plans a training run).
 *
 * One table (config.c) lists every key: its section, name, type, default, allowed
 * values and a one-line description. From it come
 *   - parsing of INI files (inih): an unknown section or key, a value of the wrong type
 *     or out of range is an error naming the file, line and key;
 *   - command-line overrides `--set section.key=value`, checked the same way (the
 *     commands' convenience flags, e.g. `cada eval --k 3`, set keys of this table);
 *   - the resolved configuration, printed at start and saved with each checkpoint and
 *     each evaluation (cada_config_write), which reads back to the same values;
 *   - `--keys` documentation (cada_config_describe).
 * No key is read anywhere but through this struct, so the table is the whole truth; the
 * modules' own configurations (cada_prompt_config, cada_reward_config,
 * cada_learner_config, cada_set_options) are built from it by the cada_config_*
 * functions below, so a key means the same in every command.
 *
 * Which sections act where (a key outside its command's sections has no effect there
 * by its nature: learn.* does not exist for `cada score`):
 *   train  run, model, cluster, data, prompt, rollout, reward, learn
 *   eval   run.seed, model, data (format, on_error, *_field), prompt, reward, eval
 *   score  data (format, on_error, *_field), reward, eval.rubric, eval.limit
 * A key a command cannot honour although a user would expect it to is refused by
 * cada_config_check_command before anything starts (e.g. learn.algorithm = sft in
 * `cada train`). */
#ifndef CADA_SCHED_CONFIG_H
#define CADA_SCHED_CONFIG_H

#include "base/error.h"

#include <stdint.h>
#include <stdio.h>

#define CADA_CFG_STR 512

typedef struct {
    /* [run] */
    char run_name[CADA_CFG_STR];
    char out_dir[CADA_CFG_STR];
    uint64_t seed;
    int steps;
    int checkpoint_every;
    int log_every;
    double progress_seconds;           /* progress inside a phase (sched/progress.h); 0: off */
    int tensorboard;                   /* write TensorBoard event files into out_dir/tb */
    int dump_samples;                  /* out_dir/samples.jsonl: every trajectory's token ids */
    /* [model] */
    char model_path[CADA_CFG_STR];     /* the policy's starting checkpoint (GGUF or HF folder) */
    char reference_path[CADA_CFG_STR]; /* frozen reference; empty = the starting checkpoint */
    char model_preset[32];             /* published shape where model.path is absent (model/memplan.h) */
    char gguf_tokenizer[16];           /* llama.cpp | transformers (cada_config_tok_flags) */
    /* [cluster] */
    int rollout_ranks, reward_ranks, learner_ranks;
    char placement[32];                /* disaggregated | colocated */
    int threads_per_rank;              /* 0 = cores / ranks on the node */
    double timeout_seconds;            /* a silent peer fails the job after this */
    char weight_sync[8];               /* fp32 | bf16: the learners' weights to the rollout ranks on the wire */
    int sync_overlap;                  /* rollout.mode = async, disaggregated: rollout ranks receive the next
                                        * weights into a second copy while they generate */
    char device[8];                    /* cpu | cuda: where learners, rollouts and the reference run */
    int gpus_per_node;                 /* ranks per node, placed in blocks (sched/tp_layout.h) */
    /* [data] */
    char train_set[CADA_CFG_STR];      /* JSONL {"id","prompt","category","label"} */
    int prompts_per_step;
    int shuffle;
    char data_format[16];              /* auto | jsonl | csv | xstest | harmbench | advbench | lines */
    char on_error[8];                  /* stop | skip */
    char id_field[64], prompt_field[64], category_field[64], label_field[64], response_field[64],
        safe_field[64];                /* "" = the format's default name */
    /* [prompt] */
    char prompt_template[32];          /* cada | rule | plain */
    int prompt_k;                      /* cases per prompt */
    char case_selection[32];           /* category | bm25 | category+bm25 (key prompt.selection) */
    int prompt_pool;                   /* draw k among the top `pool` (0: the top k) */
    int prompt_balance;                /* both a refusal and a helpful case among k >= 2 */
    char prompt_data_dir[512];         /* relative prompt files are under it */
    char prompt_codes[256], prompt_spec[256], prompt_cases[256];
    char template_cada[256], template_rule[256], template_plain[256];
    /* [rollout] */
    int samples_per_prompt;
    float temperature, top_p;
    int top_k;
    int max_new_tokens;
    int max_len;
    int slots;                         /* CPU: a bound on the sequences running (0: as the KV pool allows) */
    int kv_memory_mb;                  /* CPU: the rollout's KV pool (0: slots sequences at worst) */
    int prefix_cache;                  /* CPU: the rollout engine's prefix cache across prompts */
    char mode[32];                     /* sync | async */
    int rollout_tp;                    /* tensor-parallel size of each rollout engine */
    char rollout_weights[8];           /* fp32 | bf16: the CPU rollout's matrices (model/infer_weights.h) */
    /* [reward] */
    char detector[32];                 /* rule | judge | target_tokens (a test task) */
    int reward_tp;                     /* tensor-parallel size of each group holding the reference */
    char target_ids[CADA_CFG_STR];     /* target_tokens: "lo-hi,id,..." token-id ranges */
    char judge_model[CADA_CFG_STR];
    float judge_threshold;             /* detector = judge: refused when P(yes) >= this */
    char bonus[16];                    /* format | judge | none */
    float bonus_weight;
    int min_analysis_chars;
    float harmful_comply, harmful_refuse;
    float benign_refusal_reward;       /* reward for refusing a benign request */
    float benign_help_reward;
    float format_penalty;
    char patterns[512];                /* refusal phrase patterns of the rule detector */
    char judge_scores[128];            /* judge scores computed: "refusal,strongreject,helpful,monitor" or none */
    char comply[16];                   /* constant | strongreject */
    char benign[16];                   /* refusal | helpful */
    int judge_slots;                   /* judge items per model call */
    float truncated_reward;            /* a completion cut off before its final response */
    float monitor_penalty;             /* added when the Analysis monitor flags (0: count only) */
    char monitor_patterns[512];        /* the Analysis monitor's patterns; "" = no monitor */
    /* [learn] */
    char algorithm[32];                /* reinforce | grpo | rloo | ppo | sft | dpo */
    float lr;
    char lr_schedule[32];              /* constant | linear | cosine */
    int warmup_steps;
    float weight_decay, beta1, beta2, adam_eps;
    float grad_clip;
    float baseline_beta;               /* running-mean baseline step (REINFORCE) */
    float kl_coef;
    char kl_estimator[8];              /* k1 | k2 | k3 */
    char kl_in[8];                     /* reward | loss */
    char condition[16];                /* bare | augmented: the prompt the learner conditions on */
    float tis_cap;                     /* truncated importance sampling cap (0: off) */
    float clip_low, clip_high;
    char loss_agg[16];                 /* auto | token-mean | sequence-mean | sequence-sum */
    int micro_batch_tokens;
    int zero;                          /* 0 data parallel, 1 ZeRO-1, 2 ZeRO-2, 3 ZeRO-3 */
    int learn_tp;                      /* tensor-parallel size of each learner group */
    int recompute;                     /* whole-layer activation recomputation (both learners) */
    int logits_chunk_tokens;           /* CPU learner: rows of logits at once (0: all) */
    char matmul[8];                    /* CPU learner and reference: fp32 | bf16 linear layers */
    int fixed_order;                   /* canonical reduction order (learn/learner.h) */
    float dpo_beta;                    /* learn.algorithm = dpo: the loss's beta */
    /* [baseline] (cada build-data) */
    char baseline_refusal[512];        /* the fixed refusal as written: a backslash-n is a line break; "": eval/build_data.h's */
    /* [eval] (cada eval; rubric and limit also cada score) */
    char eval_sets[2048];              /* "[FORMAT:]FILE,..." prompt sets */
    char eval_template[16];            /* the template cada eval renders (plain: the bare request) */
    int eval_limit;                    /* prompts per set, spread over the file; 0 = all */
    int eval_max_new_tokens;
    int eval_slots;
    float eval_temperature, eval_top_p;
    int eval_rubric;
    char eval_out_dir[CADA_CFG_STR];
    char eval_attack[16];              /* none | template | pap | pair (eval/attack.h) */
    char eval_attacker_model[CADA_CFG_STR]; /* "" = the evaluated model */
    int eval_attacker_max_tokens;
    float eval_attacker_temperature;
    char eval_jailbreaks[CADA_CFG_STR];
    int eval_jailbreak_limit;          /* 0 = all templates */
    char eval_pap_prompt[CADA_CFG_STR];
    char eval_pair_prompt[CADA_CFG_STR];
    int eval_pair_streams, eval_pair_iterations;
} cada_run_config;

void cada_config_defaults(cada_run_config *c);
/* Reads an INI file over the current values. */
cada_status cada_config_load(cada_run_config *c, const char *path);
/* Applies one "section.key=value" override. An unknown key is named (with the keys of
 * its section when the section exists). */
cada_status cada_config_set(cada_run_config *c, const char *assignment);
/* Sets key ("section.key") to value; errors start with `where` (e.g. "--k", the
 * command-line flag that stands for the key). */
cada_status cada_config_set_key(cada_run_config *c, const char *key, const char *value, const char *where);
/* Whether text has the form of an override, "section.key=value" (letters, digits and
 * '_' on both sides of the dot, nothing else before '='); the key need not exist.
 * `cada eval --set` tells overrides from prompt files with it. */
int cada_config_is_assignment(const char *text);
/* learn.algorithm = sft or dpo: cada train learns from the responses of a fixed
 * dataset (cada build-data) instead of rollouts. */
int cada_config_offline(const cada_run_config *c);

/* What `command` ("train", "eval" or "score") cannot honour, refused before anything
 * starts, naming the key and why: for train every cross-key check of a run (placement
 * and rank counts, rollout.max_new_tokens below rollout.max_len, GRPO/RLOO groups,
 * reward.target_ids for detector target_tokens), learn.algorithm sft|dpo outside the
 * colocated placement, and a
 * judge (reward.detector or bonus = judge, comply = strongreject, benign = helpful,
 * judge_scores) without reward.judge_model or with detector target_tokens; for eval
 * and score reward.detector = target_tokens (a training test task) and cluster.device
 * = cuda (they compute on the CPU); for score a judge (as for train, or eval.rubric)
 * without reward.judge_model (score has no policy model to judge with).
 * Unknown commands are CADA_ERR_INTERNAL. */
cada_status cada_config_check_command(const cada_run_config *c, const char *command);
/* cada_config_check_command(c, "train"): what `cada train` and `cada plan` call. */
cada_status cada_config_validate_run(const cada_run_config *c);
/* `cada train --resume`: the configuration of the continued run (now) against the one
 * saved in the checkpoint (saved, read from saved_path) at step `step`. Every key that
 * changes the computation must be equal; free to differ: run.name, run.out_dir,
 * run.checkpoint_every, run.log_every, cluster.timeout_seconds,
 * cluster.threads_per_rank, run.tensorboard, run.dump_samples, run.progress_seconds and
 * the eval.* keys.
 * run.steps must exceed `step` and may be raised, except under learn.lr_schedule =
 * cosine (whose length it sets). Errors name the key and both values. */
cada_status cada_config_check_resume(const cada_run_config *saved, const cada_run_config *now, long long step,
                                     const char *saved_path);
/* Writes the resolved configuration as INI (every key, with its description). */
void cada_config_write(const cada_run_config *c, FILE *f);
/* One line per key: section.key, type, default, description. */
void cada_config_describe(FILE *f);

#endif
