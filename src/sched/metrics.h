/* sched/metrics.h: what a training run records of each step (rank 0):
 *   out_dir/metrics.jsonl   one JSON line per step: reward mean and spread, refusal
 *                           rate on harmful prompts, completions cut off before a
 *                           final response ("truncated", a count), the share the
 *                           Analysis monitor flagged ("monitor_flag_rate"), KL (k3
 *                           per token) and the KL penalty in the reward, entropy, loss,
 *                           grad norm, lr, baseline, the off-policy gap
 *                           (engine_lp_gap_mean/max, is_weight_mean/min/max,
 *                           tis_truncated_frac: learn/policy_loss.h; version_lag_mean/
 *                           max: the learner's version minus each sample's), reward
 *                           component means, the
 *                           placement's fields (phase times "X_s", staleness, ...),
 *                           rollout and learner tokens/s (JSON has no NaN: null);
 *   out_dir/tb/             the same numbers as TensorBoard scalars (tb_events.h;
 *                           run.tensorboard), "X_s" fields as time/X;
 *   out_dir/samples.jsonl   run.dump_samples: every sequence's completion token ids,
 *                           reward, policy version, truncated and the monitor's verdict
 *                           (to compare runs sample by sample);
 *   the step line           on stderr every run.log_every steps and at the last.
 * On resume metrics.jsonl and samples.jsonl keep the complete lines of steps up to the
 * checkpoint's (a run that died after it may have written more, the last line perhaps
 * cut short) and the continued run appends: each step stands in them once. */
#ifndef CADA_SCHED_METRICS_H
#define CADA_SCHED_METRICS_H

#include "base/error.h"
#include "learn/learner.h"
#include "sched/config.h"
#include "sched/seqs.h"
#include "sched/tb_events.h"

#include <stdio.h>

/* A named number of a step beyond the common ones (phase times, staleness, ...). */
typedef struct {
    const char *name; /* JSON key; also the TensorBoard tag, with '_s' times as time/NAME */
    double value;
} cada_metric_field;

typedef struct {
    FILE *jsonl, *samples;
    cada_tb_writer *tb;
} cada_metrics;

/* Opens rank 0's files under c->out_dir; resume_step > 0 keeps metrics.jsonl's and
 * samples.jsonl's lines of steps 1..resume_step and appends. */
cada_status cada_metrics_open(cada_metrics *m, const cada_run_config *c, long long resume_step);
/* Records step (0-based) of all[0..n_all) with its learner metrics and fields;
 * *refusal gets the refusal rate on harmful prompts (NaN without any). Everything but
 * the refusal rate is skipped when m has no files (ranks other than 0).
 * learn.algorithm = sft | dpo (no rollout, no reward): the line holds step, algorithm,
 * loss, entropy, grad_norm, lr, sequences, tokens (prompt + response), response_tokens
 * (what the loss averages over), for dpo dpo_accuracy (pairs whose implicit reward
 * prefers the chosen response) and dpo_margin (the mean of (pi_c - ref_c) - (pi_r -
 * ref_r), learn/dpo.h), then the fields and learner_tokens_per_s; refusal is NaN. */
cada_status cada_metrics_step(cada_metrics *m, const cada_run_config *c, long long step, const seq_rec *all, int n_all,
                              const cada_step_metrics *sm, const cada_metric_field *fields, int n_fields, double *refusal);
void cada_metrics_close(cada_metrics *m);

#endif
