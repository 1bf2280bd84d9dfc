/* sched/metrics.c: see metrics.h. */
#define _POSIX_C_SOURCE 200809L
#include "sched/metrics.h"

#include "base/fs.h"
#include "base/log.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A file of {"step": N, ...} lines, opened for appending. Resumed at step S, it keeps
 * the lines of steps 1..S only: the lines of steps that a run did after its last
 * checkpoint are done again, and each step must stand in the file once. */
static cada_status open_jsonl(FILE **fp, const char *path, long long resume_step) {
    if (resume_step <= 0) {
        *fp = fopen(path, "w");
        if (!*fp) return CADA_ERR(CADA_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
        return CADA_OK;
    }
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *in = fopen(path, "r"), *out = fopen(tmp, "w");
    if (!out) {
        if (in) fclose(in);
        return CADA_ERR(CADA_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    }
    char *line = NULL; /* whole lines, however long (a sample's completion can fill kilobytes) */
    size_t cap = 0;
    ssize_t len;
    while (in && (len = getline(&line, &cap, in)) > 0) {
        long long s = -1; /* a line cut short by a killed run has no newline: dropped */
        if (line[len - 1] == '\n' && sscanf(line, "{\"step\": %lld", &s) == 1 && s >= 1 && s <= resume_step) fputs(line, out);
    }
    free(line);
    if (in) fclose(in);
    if (fclose(out) != 0 || rename(tmp, path) != 0) return CADA_ERR(CADA_ERR_IO, "%s: cannot rewrite", path);
    *fp = fopen(path, "a");
    if (!*fp) return CADA_ERR(CADA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    return CADA_OK;
}

cada_status cada_metrics_open(cada_metrics *m, const cada_run_config *c, long long resume_step) {
    memset(m, 0, sizeof *m);
    CADA_TRY(cada_mkdir_p(c->out_dir));
    char path[1100];
    snprintf(path, sizeof path, "%s/metrics.jsonl", c->out_dir);
    CADA_TRY(open_jsonl(&m->jsonl, path, resume_step));
    snprintf(path, sizeof path, "%s/tb", c->out_dir);
    if (c->tensorboard) CADA_TRY(cada_tb_open(&m->tb, path, c->run_name));
    snprintf(path, sizeof path, "%s/samples.jsonl", c->out_dir);
    if (c->dump_samples) { /* lines of steps redone after a resume: dropped, as in metrics.jsonl */
        cada_status st = open_jsonl(&m->samples, path, resume_step);
        if (st != CADA_OK) {
            cada_error_wrap("run.dump_samples");
            return st;
        }
    }
    return CADA_OK;
}

void cada_metrics_close(cada_metrics *m) {
    if (m->jsonl) fclose(m->jsonl);
    if (m->samples) fclose(m->samples);
    cada_tb_close(m->tb);
    memset(m, 0, sizeof *m);
}

/* JSON has no NaN: a number or null. */
static void json_num(FILE *f, const char *key, double v) {
    if (isfinite(v)) fprintf(f, ", \"%s\": %.6g", key, v);
    else fprintf(f, ", \"%s\": null", key);
}

static int is_time(const char *name) {
    size_t len = strlen(name);
    return len > 2 && !strcmp(name + len - 2, "_s");
}

/* The same numbers as TensorBoard scalars; a failed write stops the charts, not the run. */
static void tb_step(cada_metrics *m, long long step, const double *common, const double *comp, const cada_metric_field *fields,
                    int n_fields) {
    const char *tags[64] = {"reward/mean", "reward/std", "refusal_rate", "kl", "entropy", "loss", "grad_norm", "lr",
                            "baseline", "tokens_per_s/rollout", "tokens_per_s/learner", "truncated", "monitor_flag_rate"};
    double vals[64];
    memcpy(vals, common, sizeof(double) * 13);
    char names[32][48], comp_tags[SEQ_N_COMP][32];
    int n = 13;
    for (int k = 0; k < SEQ_N_COMP; k++) { /* each reward component's mean: "reward/refuse" */
        snprintf(comp_tags[k], sizeof comp_tags[k], "reward/%s", seq_comp_names[k]);
        tags[n] = comp_tags[k];
        vals[n++] = comp[k];
    }
    for (int i = 0; i < n_fields && i < 32 && n < 64; i++) { /* "rollout_s" -> "time/rollout" */
        size_t len = strlen(fields[i].name);
        if (is_time(fields[i].name)) snprintf(names[i], sizeof names[i], "time/%.*s", (int)(len - 2), fields[i].name);
        else snprintf(names[i], sizeof names[i], "%s", fields[i].name);
        tags[n] = names[i];
        vals[n++] = fields[i].value;
    }
    if (cada_tb_scalars(m->tb, step + 1, cada_tb_now(), tags, vals, n) != CADA_OK) {
        CADA_WARN("tensorboard: %s; no more events are written", cada_error_message());
        cada_tb_close(m->tb);
        m->tb = NULL;
    }
}

/* run.dump_samples: what every sequence was, to compare runs token by token. */
static void samples_step(FILE *f, long long step, const seq_rec *all, int n_all) {
    for (int i = 0; i < n_all; i++) {
        const seq_rec *q = &all[i];
        fprintf(f, "{\"step\": %lld, \"position\": %d, \"sample\": %d, \"prompt_id\": %d, \"policy_version\": %lld, "
                   "\"finish\": \"%s\", \"reward\": %.9g, \"truncated\": %s, \"monitor_flagged\": %s, \"p_monitor\": %.4g, "
                   "\"completion\": [",
                step + 1, q->order, q->sample, q->item, q->version, cada_finish_name((cada_finish_reason)q->finish), (double)q->reward,
                q->truncated ? "true" : "false", q->monitor_flagged ? "true" : "false", (double)q->p_monitor);
        for (int j = 0; j < q->completion_len; j++) fprintf(f, "%s%d", j ? ", " : "", q->tokens[q->prompt_len + j]);
        fprintf(f, "]}\n");
    }
    fflush(f);
}

/* The step line of learn.algorithm = sft | dpo: no rollout, no reward; the loss on the
 * dataset's responses, its tokens, and DPO's pair accuracy and mean margin
 * (sum of (pi_c - ref_c) - (pi_r - ref_r) over pairs / pairs, learn/dpo.h). */
static void offline_step(cada_metrics *m, const cada_run_config *c, long long step, int n_all, const cada_step_metrics *sm,
                         const cada_metric_field *fields, int n_fields) {
    const int dpo = !strcmp(c->algorithm, "dpo");
    const double pairs = sm->tok.pairs, margin = pairs > 0 ? sm->tok.dpo_margin_sum / pairs : NAN;
    FILE *f = m->jsonl;
    fprintf(f, "{\"step\": %lld, \"algorithm\": \"%s\"", step + 1, c->algorithm);
    json_num(f, "loss", sm->loss);
    json_num(f, "entropy", sm->entropy_mean);
    json_num(f, "grad_norm", sm->grad_norm);
    json_num(f, "lr", sm->lr);
    fprintf(f, ", \"sequences\": %d", n_all);
    json_num(f, "tokens", sm->tokens);                /* prompt and completion tokens of the step */
    json_num(f, "response_tokens", sm->tok.tokens);   /* the tokens the loss is over */
    if (dpo) {
        json_num(f, "dpo_accuracy", sm->dpo_accuracy);
        json_num(f, "dpo_margin", margin);
    }
    for (int i = 0; i < n_fields; i++) json_num(f, fields[i].name, fields[i].value);
    fprintf(f, ", \"learner_tokens_per_s\": %.1f}\n", sm->tokens_per_s);
    fflush(f);
    if ((step + 1) % c->log_every == 0 || step + 1 == c->steps) {
        char dpo_part[96] = "";
        if (dpo) snprintf(dpo_part, sizeof dpo_part, "  accuracy %.2f  margin %+.4f", sm->dpo_accuracy, margin);
        CADA_INFO("step %lld/%d  %s loss %.4f%s  grad %.3f  lr %.3g  tokens %.0f  %.2fs", step + 1, c->steps, c->algorithm,
                  sm->loss, dpo_part, sm->grad_norm, sm->lr, sm->tokens, sm->seconds);
    }
}

cada_status cada_metrics_step(cada_metrics *m, const cada_run_config *c, long long step, const seq_rec *all, int n_all,
                              const cada_step_metrics *sm, const cada_metric_field *fields, int n_fields, double *refusal_out) {
    if (cada_config_offline(c)) {
        *refusal_out = NAN;
        if (m->jsonl) offline_step(m, c, step, n_all, sm, fields, n_fields);
        if (m->jsonl && m->tb) {
            const double common[13] = {NAN, NAN, NAN, NAN, sm->entropy_mean, sm->loss, sm->grad_norm, sm->lr, NAN, NAN,
                                       sm->tokens_per_s, 0, NAN};
            const double comp[SEQ_N_COMP] = {0};
            tb_step(m, step, common, comp, fields, n_fields);
        }
        if (m->jsonl && m->samples) samples_step(m->samples, step, all, n_all);
        return CADA_OK;
    }
    int harmful = 0, refused_harmful = 0, truncated = 0, flagged = 0;
    double reward_sq = 0, completion_tokens = 0, comp[SEQ_N_COMP] = {0}; /* spread, rollout tokens/s, component means */
    double lag_sum = 0, lag_max = 0;
    for (int i = 0; i < n_all; i++) {
        harmful += all[i].harmful;
        refused_harmful += all[i].harmful && all[i].refused;
        truncated += all[i].truncated != 0;
        flagged += all[i].monitor_flagged != 0;
        reward_sq += (double)all[i].reward * all[i].reward;
        completion_tokens += all[i].completion_len;
        for (int k = 0; k < SEQ_N_COMP; k++) comp[k] += all[i].comp[k] / (double)n_all;
        double lag = (double)(step - all[i].version); /* the learner holds version `step` */
        lag_sum += lag;
        lag_max = i == 0 || lag > lag_max ? lag : lag_max;
    }
    const double refusal = harmful ? (double)refused_harmful / harmful : NAN;
    *refusal_out = refusal;
    if (!m->jsonl) return CADA_OK;
    double reward_std = n_all ? sqrt(fmax(0, reward_sq / n_all - sm->adv.reward_mean * sm->adv.reward_mean)) : 0;
    double rollout_s = 0;
    for (int i = 0; i < n_fields; i++)
        if (!strcmp(fields[i].name, "rollout_s")) rollout_s = fields[i].value;
    double rollout_tps = rollout_s > 0 ? completion_tokens / rollout_s : 0;
    FILE *f = m->jsonl;
    fprintf(f, "{\"step\": %lld", step + 1);
    json_num(f, "reward_mean", sm->adv.reward_mean);
    json_num(f, "reward_std", reward_std);
    json_num(f, "refusal_rate_harmful", refusal);
    json_num(f, "kl", sm->kl_mean);
    json_num(f, "entropy", sm->entropy_mean);
    json_num(f, "loss", sm->loss);
    json_num(f, "grad_norm", sm->grad_norm);
    json_num(f, "lr", sm->lr);
    json_num(f, "baseline", sm->adv.baseline_next);
    json_num(f, "kl_penalty", sm->kl_reward_mean); /* KL in the reward: mean over sequences of sum_t est */
    /* how far the samples are from the learner's policy (learn/policy_loss.h): |engine -
     * learner| log-prob per token, the IS weight learner / engine before truncation and
     * the share of tokens whose weight met learn.tis_cap, the samples' policy version lag */
    json_num(f, "engine_lp_gap_mean", sm->lp_diff_mean);
    json_num(f, "engine_lp_gap_max", sm->lp_diff_max);
    json_num(f, "is_weight_mean", sm->is_weight_mean);
    json_num(f, "is_weight_min", sm->is_weight_min);
    json_num(f, "is_weight_max", sm->is_weight_max);
    json_num(f, "tis_truncated_frac", sm->tis_frac);
    json_num(f, "version_lag_mean", n_all ? lag_sum / n_all : 0.0);
    json_num(f, "version_lag_max", lag_max);
    fprintf(f, ", \"sequences\": %d, \"truncated\": %d", n_all, truncated); /* cut off before a final response */
    json_num(f, "monitor_flag_rate", n_all ? (double)flagged / n_all : NAN); /* share the Analysis monitor flagged */
    for (int k = 0; k < SEQ_N_COMP; k++) {
        char key[32];
        snprintf(key, sizeof key, "reward_%s", seq_comp_names[k]);
        json_num(f, key, comp[k]);
    }
    for (int i = 0; i < n_fields; i++) json_num(f, fields[i].name, fields[i].value);
    fprintf(f, ", \"rollout_tokens_per_s\": %.1f, \"learner_tokens_per_s\": %.1f}\n", rollout_tps, sm->tokens_per_s);
    fflush(f);
    if (m->tb) {
        const double common[13] = {sm->adv.reward_mean, reward_std, refusal,         sm->kl_mean,  sm->entropy_mean,
                                   sm->loss,           sm->grad_norm, sm->lr,       sm->adv.baseline_next, rollout_tps,
                                   sm->tokens_per_s,   truncated,  n_all ? (double)flagged / n_all : NAN};
        tb_step(m, step, common, comp, fields, n_fields);
    }
    if (m->samples) samples_step(m->samples, step, all, n_all);
    if ((step + 1) % c->log_every == 0 || step + 1 == c->steps) {
        char phases[400] = "";
        size_t at = 0;
        for (int i = 0; i < n_fields && at < sizeof phases; i++) {
            size_t len = strlen(fields[i].name);
            if (is_time(fields[i].name))
                at += (size_t)snprintf(phases + at, sizeof phases - at, " %.*s %.2fs", (int)(len - 2), fields[i].name, fields[i].value);
            else if (!strcmp(fields[i].name, "judge_tokens")) /* the judge's tokens beside its time */
                at += (size_t)snprintf(phases + at, sizeof phases - at, " judge_tokens %.0f", fields[i].value);
        }
        CADA_INFO("step %lld/%d  reward %+.3f  refusal(harmful) %.2f  kl %.4f  entropy %.3f  grad %.3f  |%s", step + 1, c->steps,
                  sm->adv.reward_mean, refusal, sm->kl_mean, sm->entropy_mean, sm->grad_norm, phases);
    }
    return CADA_OK;
}
