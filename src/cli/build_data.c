/* cli/build_data.c: `cada build-data`, the training set of one of the paper's baselines
 * (eval/build_data.h) for `cada train` with learn.algorithm = sft | dpo. The command
 * line is read into the run configuration of sched/config.h (-c FILE, --set
 * section.key=value), so model.*, data.*, prompt.*, rollout.* (sampling), reward.*
 * (the detector) and baseline.refusal mean what they mean in cada train. */
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"

#include "base/log.h"
#include "eval/build_data.h"
#include "sched/config.h"
#include "sched/config_modules.h"
#include "sched/requests.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: cada build-data -c CONFIG.ini --method dr|rule|cr|dpo-cr --out FILE.jsonl [options]\n"
    "  The training set of a baseline (the paper's SFT w DR, rule-only DA, SFT w CR, DPO w CR) for\n"
    "  `cada train --set learn.algorithm=sft|dpo --set data.train_set=FILE.jsonl`:\n"
    "    dr      harmful prompts, response = baseline.refusal (no generation; benign prompts skipped)\n"
    "    rule    completions sampled under prompt.template = rule (data/spec.md), filtered\n"
    "    cr      completions sampled under prompt.template = cada (the case-augmented prompt), filtered\n"
    "    dpo-cr  harmful prompts: response (chosen) = a kept cr completion, rejected = baseline.refusal\n"
    "  Filter: kept when the completion ended on its own, is well-formed, and refuses a harmful prompt\n"
    "  (reward.detector) with a non-empty Analysis, or does not refuse a benign one; prompts with no\n"
    "  kept completion are dropped. Counts go to stderr and FILE.jsonl.stats.json.\n"
    "  -c, --config FILE       a configuration (model, data, prompt, rollout, reward, baseline keys)\n"
    "  --set FILE              a prompt file (replaces data.train_set; repeatable)\n"
    "  --set section.key=value any key of the configuration (--keys lists them)\n"
    "  --limit N               prompts per file, spread evenly over it (0: all)\n"
    "  --samples N             completions sampled per prompt (default rollout.samples_per_prompt)\n"
    "  --keep K                completions kept per prompt at most (default 1)\n"
    "  --rejected FILE         also write the completions the filter left out, each with its reason\n"
    "  --model PATH            model.path       --detector rule|judge  reward.detector\n"
    "  --judge-model PATH      reward.judge_model (detector judge; default: the model judges itself)\n"
    "  --quiet                 no progress lines\n"
    "  --keys                  list every configuration key\n";

typedef struct {
    cada_run_config cfg;
    const char *method, *out, *rejected;
    char files[4096];
    int limit, samples, keep, quiet;
} bd_args;

static int usage_error(const char *what, const char *arg) {
    fprintf(stderr, "cada build-data: %s%s\n%s", what, arg, usage);
    return 2;
}

static int config_error(void) {
    fprintf(stderr, "cada build-data: %s\n", cada_error_message());
    return 2;
}

/* "N" >= lo, else -1. */
static int count_arg(const char *v, int lo) {
    char *end;
    long n = strtol(v, &end, 10);
    return *v && !*end && n >= lo && n <= 1000000 ? (int)n : -1;
}

/* A --set that is not an assignment: a prompt file, appended to a->files. */
static int add_file(bd_args *a, const char *v) {
    size_t at = strlen(a->files);
    if (strchr(v, ',')) return usage_error("a prompt file name with a comma cannot be listed: ", v);
    if (at + strlen(v) + 2 > sizeof a->files) return usage_error("too many prompt files at ", v);
    snprintf(a->files + at, sizeof a->files - at, "%s%s", at ? "," : "", v);
    return -1;
}

/* One option (not -c) of a value v; returns -1 to go on, else the exit code. */
static int apply(bd_args *a, const char *flag, const char *v) {
    cada_status st = CADA_OK;
    if (!strcmp(flag, "--method")) a->method = v;
    else if (!strcmp(flag, "--out")) a->out = v;
    else if (!strcmp(flag, "--rejected")) a->rejected = v;
    else if (!strcmp(flag, "--set")) {
        if (!cada_config_is_assignment(v)) return add_file(a, v);
        st = cada_config_set(&a->cfg, v);
    } else if (!strcmp(flag, "--limit")) {
        if ((a->limit = count_arg(v, 0)) < 0) return usage_error("--limit takes a count >= 0, not ", v);
    } else if (!strcmp(flag, "--samples")) {
        if ((a->samples = count_arg(v, 1)) < 0) return usage_error("--samples takes a count >= 1, not ", v);
    } else if (!strcmp(flag, "--keep")) {
        if ((a->keep = count_arg(v, 1)) < 0) return usage_error("--keep takes a count >= 1, not ", v);
    } else if (!strcmp(flag, "--model")) st = cada_config_set_key(&a->cfg, "model.path", v, flag);
    else if (!strcmp(flag, "--detector")) st = cada_config_set_key(&a->cfg, "reward.detector", v, flag);
    else if (!strcmp(flag, "--judge-model")) st = cada_config_set_key(&a->cfg, "reward.judge_model", v, flag);
    else return usage_error("unknown option ", flag);
    return st == CADA_OK ? -1 : config_error();
}

/* -c files first, then the other options in order; -1 to go on, else the exit code. */
static int parse(bd_args *a, int argc, char **argv) {
    cada_config_defaults(&a->cfg);
    if (cada_config_set_key(&a->cfg, "model.path", cada_cli_default_model(), "$CADA_MODEL") != CADA_OK) return config_error();
    a->keep = 1;
    a->samples = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < argc; i++) {
            const char *f = argv[i];
            if (!strcmp(f, "-h") || !strcmp(f, "--help")) return fputs(usage, stdout), 0;
            if (!strcmp(f, "--keys")) return cada_config_describe(stdout), 0;
            if (!strcmp(f, "--quiet")) {
                a->quiet = 1;
                continue;
            }
            if (i + 1 >= argc) return usage_error("missing the value of ", f);
            const char *v = argv[++i];
            int config = !strcmp(f, "-c") || !strcmp(f, "--config");
            if (pass == 0 && config && cada_config_load(&a->cfg, v) != CADA_OK) return config_error();
            int rc = pass == 1 && !config ? apply(a, f, v) : -1;
            if (rc >= 0) return rc;
        }
    if (!a->method) return usage_error("give --method dr|rule|cr|dpo-cr", "");
    if (!a->out) return usage_error("give --out FILE.jsonl", "");
    if (a->files[0] && cada_config_set_key(&a->cfg, "data.train_set", a->files, "--set") != CADA_OK) return config_error();
    if (!a->samples) a->samples = a->cfg.samples_per_prompt;
    return -1;
}

/* The library's configuration from the run configuration. */
static cada_status make_config(bd_args *a, cada_bd_config *c) {
    const cada_run_config *r = &a->cfg;
    memset(c, 0, sizeof *c);
    if (cada_bd_method_parse(a->method, &c->method) != 0)
        return CADA_ERR(CADA_ERR_CONFIG, "--method '%s' is not one of dr|rule|cr|dpo-cr", a->method);
    if (!strcmp(r->detector, "target_tokens"))
        return CADA_ERR(CADA_ERR_CONFIG, "reward.detector = target_tokens is a training test task; build-data detects refusals with rule or judge");
    CADA_TRY(cada_config_dataset(r, &c->set_options));
    CADA_TRY(cada_config_prompt(r, &c->prompt));
    CADA_TRY(cada_config_reward(r, &c->reward));
    CADA_TRY(cada_config_judge(r, &c->judge));
    cada_run_config sized = *r; /* the KV pool of rollout.slots groups of --samples samples */
    sized.samples_per_prompt = a->samples;
    c->engine = cada_request_engine(&sized, 0, NULL, 0);
    c->model_path = r->model_path;
    c->tok_flags = cada_config_tok_flags(r);
    c->sets = r->train_set;
    c->limit = a->limit;
    c->judge_model = r->judge_model[0] ? r->judge_model : NULL;
    c->max_new_tokens = r->max_new_tokens;
    c->samples = a->samples;
    c->keep = a->keep;
    c->refusal = r->baseline_refusal[0] ? r->baseline_refusal : CADA_BD_DEFAULT_REFUSAL;
    c->out_path = a->out;
    c->rejected_path = a->rejected;
    c->progress = !a->quiet;
    return CADA_OK;
}

static void print_stats(const cada_bd_config *c, const cada_bd_stats *s, const char *stats_path) {
    fprintf(stderr, "cada build-data %s: %ld prompts (%ld harmful, %ld benign", cada_bd_method_name(c->method), s->prompts, s->harmful,
            s->benign);
    if (s->skipped) fprintf(stderr, ", %ld benign skipped", s->skipped);
    fprintf(stderr, ")");
    if (c->method != CADA_BD_DR) {
        fprintf(stderr, "; %ld completions generated in %.1fs, %ld passed; rejected:", s->generated, s->generate_seconds, s->passed);
        for (int k = 0; k < CADA_BD_N_REASONS; k++) fprintf(stderr, " %s %ld", cada_bd_reason_names[k], s->rejected[k]);
        fprintf(stderr, "; %ld prompts dropped (no passing completion)", s->dropped);
    }
    fprintf(stderr, "\n  %ld records -> %s (counts: %s)\n", s->records, c->out_path, stats_path);
}

int cada_cmd_build_data(int argc, char **argv) {
    bd_args *a = calloc(1, sizeof *a);
    if (!a) return cada_cli_fail("build-data");
    int rc = parse(a, argc, argv);
    cada_bd_config c;
    if (rc < 0 && make_config(a, &c) != CADA_OK) rc = config_error();
    if (rc >= 0) {
        free(a);
        return rc;
    }
    cada_bd_stats s;
    char stats_path[1100];
    snprintf(stats_path, sizeof stats_path, "%s.stats.json", a->out);
    cada_status st = cada_build_data(&c, &s);
    if (st == CADA_OK) st = cada_bd_stats_write(&c, &s, stats_path);
    rc = st == CADA_OK ? 0 : cada_cli_fail("build-data");
    if (st == CADA_OK) print_stats(&c, &s, stats_path);
    free(a);
    return rc;
}
