/* sched/config.h: the run configuration of `cada train` (and the other commands that
 * read the INI files of configs/).
 *
 * One table (config.c) lists every key: its section, name, type, default, allowed
 * values and a one-line description. From it come
 *   - parsing of INI files (inih): an unknown section or key, a value of the wrong type
 *     or out of range is an error naming the file, line and key;
 *   - command-line overrides `--set section.key=value`, checked the same way;
 *   - the resolved configuration, printed at start and saved with each checkpoint
 *     (cada_config_write), which reads back to the same values;
 *   - `cada config --help`-style documentation (cada_config_describe).
 * No key is read anywhere but through this struct, so the table is the whole truth. */
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
    /* [cluster] */
    int rollout_ranks, reward_ranks, learner_ranks;
    char placement[32];                /* disaggregated | colocated */
    int threads_per_rank;              /* 0 = cores / ranks on the node */
    double timeout_seconds;            /* a silent peer fails the job after this */
    char device[8];                    /* cpu | cuda: where learners, rollouts and the reference run */
    /* [data] */
    char train_set[CADA_CFG_STR];      /* JSONL {"id","prompt","category","label"} */
    int prompts_per_step;
    int shuffle;
    /* [prompt] */
    char prompt_template[32];          /* cada | rule | plain */
    int prompt_k;                      /* cases per prompt */
    char case_selection[32];           /* category | bm25 | category+bm25 */
    /* [rollout] */
    int samples_per_prompt;
    float temperature, top_p;
    int top_k;
    int max_new_tokens;
    int max_len;
    int slots;
    char mode[32];                     /* sync | async */
    int max_staleness;
    /* [reward] */
    char detector[32];                 /* rule | judge | target_tokens (a test task) */
    char target_ids[CADA_CFG_STR];     /* target_tokens: "lo-hi,id,..." token-id ranges */
    char judge_model[CADA_CFG_STR];
    float benign_refusal_reward;       /* reward for refusing a benign request */
    float benign_help_reward;
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
    float clip_low, clip_high;
    char loss_agg[16];                 /* token | sequence */
    int micro_batch_tokens;
    int zero;                          /* 0 data parallel, 1 ZeRO-1, 2 ZeRO-2 */
    int fixed_order;                   /* canonical reduction order (learn/learner.h) */
} cada_run_config;

void cada_config_defaults(cada_run_config *c);
/* Reads an INI file over the current values. */
cada_status cada_config_load(cada_run_config *c, const char *path);
/* Applies one "section.key=value" override. */
cada_status cada_config_set(cada_run_config *c, const char *assignment);
/* Cross-key checks (ranks positive, clip bounds ordered, ...); names the keys. */
cada_status cada_config_validate_run(const cada_run_config *c);
/* cluster.device = cuda on this machine: a build with CUDA and at least one visible GPU
 * (else CADA_ERR_CONFIG naming the key and the reason). validate_run checks what the
 * configuration alone decides (the build, learn.zero); this one asks the machine, so
 * `cada train --check` on a node without GPUs still validates a GPU configuration. */
cada_status cada_config_check_device(const cada_run_config *c);
/* `cada train --resume`: the configuration of the continued run (now) against the one
 * saved in the checkpoint (saved, read from saved_path) at step `step`. Every key that
 * changes the computation must be equal; free to differ: run.name, run.out_dir,
 * run.checkpoint_every, run.log_every, cluster.timeout_seconds,
 * cluster.threads_per_rank, run.tensorboard, run.dump_samples. run.steps must exceed `step` and may be raised, except under
 * learn.lr_schedule = cosine (whose length it sets). Errors name the key and both
 * values. */
cada_status cada_config_check_resume(const cada_run_config *saved, const cada_run_config *now, long long step,
                                     const char *saved_path);
/* Writes the resolved configuration as INI (every key, with its description). */
void cada_config_write(const cada_run_config *c, FILE *f);
/* One line per key: section.key, type, default, description. */
void cada_config_describe(FILE *f);

#endif
