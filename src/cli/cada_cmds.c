/* cli/cada_cmds.c: `cada eval` (generate on prompt sets, report attack success rate,
 * over-refusal and rubric scores) and `cada score` (score existing prompt/response
 * pairs with any reward, without generating). The work is in src/eval/eval.h and
 * src/reward/reward.h; this file reads the command line. */
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"

#include "base/log.h"
#include "eval/eval.h"
#include "eval/report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char eval_usage[] =
    "usage: cada eval --set [FORMAT:]FILE [--set ...] [--model PATH] [--template cada|rule|plain] [--k 2]\n"
    "                 [--select category|bm25|category+bm25] [--limit N] [--max-tokens 512] [--slots 8]\n"
    "                 [--detector rule|judge] [--judge-model PATH] [--rubric] [--out runs/eval] [--seed 0]\n"
    "                 [--temperature 0] [--top-p 1] [--on-error stop|skip] [--field KEY=NAME]...\n"
    "                 [--set prompt.KEY=VALUE | reward.KEY=VALUE]... [--quiet]\n"
    "  FORMAT: auto (default: by extension and CSV header), jsonl, csv, xstest, harmbench, advbench, lines\n"
    "  --limit N: N prompts per set, spread evenly over the file; --judge-model turns on the rubric\n"
    "  --field KEY=NAME renames a JSONL key / CSV column (keys: id, prompt, category, label, response, safe)\n";

static const char score_usage[] =
    "usage: cada score --in FILE [--format FORMAT] [--field KEY=NAME]... [--detector rule|judge]\n"
    "                  [--judge-model PATH] [--rubric] [--set reward.KEY=VALUE]... [--out FILE.jsonl]\n"
    "                  [--on-error stop|skip]\n"
    "  Scores each (prompt, response) record of FILE (default fields prompt, response, label, category, id;\n"
    "  `cada eval`'s generations.jsonl is valid input) and writes one JSON line per record with the reward\n"
    "  and its components (stdout unless --out); the summary goes to stderr.\n";

static int usage(const char *text, const char *why) {
    if (why) fprintf(stderr, "%s\n", why);
    fputs(text, stderr);
    return 2;
}

static int parse_int_arg(const char *s, int lo, int hi, int *out) {
    char *end;
    long x = strtol(s, &end, 10);
    if (!*s || *end || x < lo || x > hi) return 0;
    *out = (int)x;
    return 1;
}

static int parse_float_arg(const char *s, float lo, float hi, float *out) {
    char *end;
    double x = strtod(s, &end);
    if (!*s || *end || !(x >= lo && x <= hi)) return 0;
    *out = (float)x;
    return 1;
}

/* "prompt.k=3" / "reward.harmful_comply=-1": a configuration override. */
static int is_override(const char *a) {
    const char *eq = strchr(a, '=');
    return eq && (!strncmp(a, "prompt.", 7) || !strncmp(a, "reward.", 7)) && !memchr(a, '/', (size_t)(eq - a));
}

/* "[FORMAT:]PATH" */
static cada_status parse_set(const char *a, cada_eval_set_spec *spec) {
    spec->format = CADA_SET_AUTO;
    spec->path = a;
    const char *colon = strchr(a, ':');
    if (colon && colon != a && colon - a < 16) {
        char name[16];
        snprintf(name, sizeof name, "%.*s", (int)(colon - a), a);
        cada_set_format f;
        if (cada_set_format_parse(name, &f) == CADA_OK) {
            spec->format = f;
            spec->path = colon + 1;
        } else {
            cada_error_clear();
        }
    }
    return CADA_OK;
}

static void print_summary(const cada_eval_report *r, const char *out_dir) {
    printf("cada eval: %s, template %s, detector %s%s\n", r->model, r->template_name, r->detector,
           r->rubric ? ", rubric" : "");
    for (int s = 0; s <= r->n_sets; s++) {
        if (s == r->n_sets && r->n_sets < 2) break;
        const cada_eval_counts *c = s < r->n_sets ? &r->sets[s].total : &r->overall;
        const char *name = s < r->n_sets ? r->sets[s].name : "all";
        printf("  %-24s", name);
        if (c->harmful_n) printf("  harmful %4ld  ASR %5.1f%%", c->harmful_n, 100 * cada_eval_asr(c));
        if (c->rubric_n) {
            double m = cada_eval_rubric_mean(c);
            if (isfinite(m)) printf("  rubric %.3f (%ld/%ld parsed)", m, c->rubric_ok, c->rubric_n);
            else printf("  rubric - (0/%ld parsed)", c->rubric_n);
        }
        if (c->benign_n) printf("  benign %4ld  non-refusal %5.1f%%", c->benign_n, 100 * cada_eval_non_refusal(c));
        printf("  well-formed %ld/%ld\n", c->parse.well_formed, c->parse.n);
    }
    printf("reports: %s/report.json, report.md, report.svg, generations.jsonl\n", out_dir);
}

int cada_cmd_eval(int argc, char **argv) {
    cada_eval_config c;
    cada_eval_config_default(&c);
    c.model_path = cada_cli_default_model();
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        cada_status st = CADA_OK;
        int ok = 1;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(eval_usage, stdout);
            return 0;
        }
        if (!strcmp(a, "--quiet")) {
            c.progress = 0;
            continue;
        }
        if (!strcmp(a, "--rubric")) {
            c.rubric = 1;
            continue;
        }
        if (!v) return usage(eval_usage, "cada eval: an option is missing its value");
        i++;
        if (!strcmp(a, "--model")) c.model_path = v;
        else if (!strcmp(a, "--set") && is_override(v))
            st = !strncmp(v, "prompt.", 7) ? cada_prompt_config_set(&c.prompt, v) : cada_reward_config_set(&c.reward, v);
        else if (!strcmp(a, "--set")) {
            if (c.n_sets == CADA_EVAL_MAX_SETS) return usage(eval_usage, "cada eval: too many --set files");
            st = parse_set(v, &c.sets[c.n_sets++]);
        } else if (!strcmp(a, "--template")) {
            char kv[64];
            snprintf(kv, sizeof kv, "prompt.template=%s", v);
            st = cada_prompt_config_set(&c.prompt, kv);
        } else if (!strcmp(a, "--k")) {
            char kv[64];
            snprintf(kv, sizeof kv, "prompt.k=%s", v);
            st = cada_prompt_config_set(&c.prompt, kv);
        } else if (!strcmp(a, "--select")) {
            char kv[64];
            snprintf(kv, sizeof kv, "prompt.select=%s", v);
            st = cada_prompt_config_set(&c.prompt, kv);
        } else if (!strcmp(a, "--detector")) {
            char kv[64];
            snprintf(kv, sizeof kv, "reward.detector=%s", v);
            st = cada_reward_config_set(&c.reward, kv);
        } else if (!strcmp(a, "--limit")) ok = parse_int_arg(v, 0, 1 << 30, &c.limit);
        else if (!strcmp(a, "--max-tokens")) ok = parse_int_arg(v, 1, 1 << 20, &c.max_tokens);
        else if (!strcmp(a, "--slots")) ok = parse_int_arg(v, 1, 4096, &c.n_slots);
        else if (!strcmp(a, "--temperature")) ok = parse_float_arg(v, 0.0f, 100.0f, &c.temperature);
        else if (!strcmp(a, "--top-p")) ok = parse_float_arg(v, 1e-6f, 1.0f, &c.top_p);
        else if (!strcmp(a, "--judge-model")) {
            c.judge_model = v;
            c.rubric = 1;
        } else if (!strcmp(a, "--out")) c.out_dir = v;
        else if (!strcmp(a, "--seed")) {
            char kv[64];
            snprintf(kv, sizeof kv, "prompt.seed=%s", v);
            st = cada_prompt_config_set(&c.prompt, kv);
            c.seed = c.prompt.seed;
        } else if (!strcmp(a, "--on-error")) {
            if (!strcmp(v, "stop")) c.set_options.on_error = CADA_ON_ERROR_STOP;
            else if (!strcmp(v, "skip")) c.set_options.on_error = CADA_ON_ERROR_SKIP;
            else ok = 0;
        } else if (!strcmp(a, "--field")) st = cada_set_options_field(&c.set_options, v);
        else {
            fprintf(stderr, "cada eval: unknown option '%s'\n", a);
            return usage(eval_usage, NULL);
        }
        if (st != CADA_OK) {
            fprintf(stderr, "cada eval: %s %s: %s\n", a, v, cada_error_message());
            return 2;
        }
        if (!ok) return usage(eval_usage, "cada eval: bad value for an option");
    }
    if (!c.n_sets) return usage(eval_usage, "cada eval: give at least one --set FILE");
    cada_eval_report r;
    cada_status st = cada_eval_run(&c, &r);
    if (st != CADA_OK) {
        cada_eval_report_free(&r);
        return cada_cli_fail("eval");
    }
    print_summary(&r, c.out_dir);
    cada_eval_report_free(&r);
    return 0;
}

/* ---- cada score ------------------------------------------------------------------------ */

int cada_cmd_score(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *judge_model = NULL;
    int rubric = 0;
    cada_set_options so;
    cada_set_options_default(&so);
    so.require_response = 1;
    cada_reward_config rc;
    cada_reward_config_default(&rc);
    cada_judge_config jc;
    cada_judge_config_default(&jc);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        cada_status st = CADA_OK;
        int ok = 1;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(score_usage, stdout);
            return 0;
        }
        if (!strcmp(a, "--rubric")) {
            rubric = 1;
            continue;
        }
        if (!v) return usage(score_usage, "cada score: an option is missing its value");
        i++;
        if (!strcmp(a, "--in")) in = v;
        else if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--format")) st = cada_set_format_parse(v, &so.format);
        else if (!strcmp(a, "--field")) st = cada_set_options_field(&so, v);
        else if (!strcmp(a, "--judge-model")) judge_model = v;
        else if (!strcmp(a, "--detector")) {
            char kv[64];
            snprintf(kv, sizeof kv, "reward.detector=%s", v);
            st = cada_reward_config_set(&rc, kv);
        } else if (!strcmp(a, "--set") && !strncmp(v, "reward.", 7)) st = cada_reward_config_set(&rc, v);
        else if (!strcmp(a, "--on-error")) {
            if (!strcmp(v, "stop")) so.on_error = CADA_ON_ERROR_STOP;
            else if (!strcmp(v, "skip")) so.on_error = CADA_ON_ERROR_SKIP;
            else ok = 0;
        } else {
            fprintf(stderr, "cada score: unknown option '%s'\n", a);
            return usage(score_usage, NULL);
        }
        if (st != CADA_OK) {
            fprintf(stderr, "cada score: %s %s: %s\n", a, v, cada_error_message());
            return 2;
        }
        if (!ok) return usage(score_usage, "cada score: bad value for an option");
    }
    if (!in) return usage(score_usage, "cada score: give --in FILE");
    int need_judge = rc.detector == CADA_DETECT_JUDGE || rc.bonus == CADA_BONUS_JUDGE || rubric;
    if (need_judge && !judge_model)
        return usage(score_usage, "cada score: --detector judge, reward.bonus=judge and --rubric need --judge-model");
    cada_prompt_set set;
    memset(&set, 0, sizeof set);
    cada_refusal_rules *rules = NULL;
    cada_judge *judge = NULL;
    cada_reward_input *rin = NULL;
    cada_reward *rw = NULL;
    cada_rubric *rub = NULL;
    cada_str *texts = NULL;
    cada_judge_item *items = NULL;
    char **finals = NULL;
    cada_str lines = {0};
    int rcode = 0;
    cada_status st = cada_set_load(&set, in, &so);
    if (st == CADA_OK) st = cada_refusal_rules_load(&rules, rc.patterns);
    if (st == CADA_OK && need_judge) st = cada_judge_open(&judge, judge_model, &jc);
    const int n = set.n;
    if (st == CADA_OK) {
        rin = calloc((size_t)n, sizeof *rin);
        rw = calloc((size_t)n, sizeof *rw);
        rub = calloc((size_t)n, sizeof *rub);
        texts = calloc((size_t)n, sizeof *texts);
        items = calloc((size_t)n, sizeof *items);
        finals = calloc((size_t)n, sizeof *finals);
        if (!rin || !rw || !rub || !texts || !items || !finals) st = CADA_ERR(CADA_ERR_NOMEM, "score: %d records", n);
    }
    for (int i = 0; i < n && st == CADA_OK; i++)
        rin[i] = (cada_reward_input){set.items[i].prompt, set.items[i].response, strlen(set.items[i].response),
                                     set.items[i].label, set.items[i].cat};
    double t0 = cada_now();
    if (st == CADA_OK) {
        cada_reward_ctx ctx = {&rc, rules, judge};
        st = cada_reward_compute(&ctx, rin, n, rw);
    }
    if (st == CADA_OK && rubric) {
        for (int i = 0; i < n && st == CADA_OK; i++) {
            cada_parsed p;
            cada_parse_completion(rin[i].completion, rin[i].len, &p);
            if (!(finals[i] = cada_strndup(p.final, p.final_len))) st = CADA_ERR_NOMEM;
            items[i] = (cada_judge_item){rin[i].request, finals[i], NULL, rin[i].category};
        }
        if (st == CADA_OK) st = cada_judge_rubric(judge, items, n, rub, texts);
    }
    cada_eval_counts counts;
    memset(&counts, 0, sizeof counts);
    double sum = 0;
    for (int i = 0; i < n && st == CADA_OK; i++) {
        const cada_item *it = &set.items[i];
        const cada_reward *r = &rw[i];
        char flags[96];
        cada_str_puts(&lines, "{\"id\": ");
        cada_str_json(&lines, it->id, strlen(it->id));
        cada_str_printf(&lines, ", \"line\": %ld, \"label\": \"%s\", \"category\": ", it->line, cada_label_name(r->label));
        cada_str_json(&lines, it->category, strlen(it->category));
        cada_str_printf(&lines,
                        ", \"refused\": %s, \"p_refused\": %.4f, \"rule_refused\": %d, \"format\": \"%s\", "
                        "\"analysis_chars\": %d, \"reward\": {\"total\": %g, \"r_comply\": %g, \"r_refuse\": %g, "
                        "\"r_judge\": %.4f, \"r_help\": %g, \"r_format\": %g}",
                        r->refused ? "true" : "false", (double)r->p_refused, r->rule_refused,
                        cada_parse_flags_text(r->parse_flags, flags, sizeof flags), r->analysis_chars, (double)r->total,
                        (double)r->r_comply, (double)r->r_refuse, (double)r->r_judge, (double)r->r_help,
                        (double)r->r_format);
        if (rubric) {
            cada_str_printf(&lines, ", \"rubric\": {\"ok\": %s, \"refused\": %d, \"convincing\": %d, \"specific\": %d, \"score\": %.4f}",
                            rub[i].ok ? "true" : "false", rub[i].refused, rub[i].convincing, rub[i].specific,
                            (double)rub[i].score);
        }
        st = cada_str_puts(&lines, "}\n");
        sum += r->total;
        cada_eval_counts_add(&counts, r->label, r->refused, rubric && r->label == CADA_LABEL_HARMFUL ? &rub[i] : NULL,
                             r->parse_flags);
    }
    if (st == CADA_OK) {
        if (out) st = cada_write_file(out, cada_str_c(&lines), lines.len);
        else fwrite(cada_str_c(&lines), 1, lines.len, stdout);
    }
    if (st == CADA_OK) {
        fprintf(stderr, "cada score: %d records from %s (%d skipped), detector %s, %.1f s\n", n, in, set.n_skipped,
                cada_detector_name(rc.detector), cada_now() - t0);
        fprintf(stderr, "  mean reward %.4f\n", n ? sum / n : 0.0);
        if (counts.harmful_n)
            fprintf(stderr, "  harmful %ld: refused %ld, ASR %.1f%%\n", counts.harmful_n, counts.harmful_refused,
                    100 * cada_eval_asr(&counts));
        if (counts.benign_n)
            fprintf(stderr, "  benign %ld: refused %ld, non-refusal %.1f%%\n", counts.benign_n, counts.benign_refused,
                    100 * cada_eval_non_refusal(&counts));
        if (counts.rubric_n)
            fprintf(stderr, "  rubric: %ld/%ld parsed, mean score %.3f\n", counts.rubric_ok, counts.rubric_n,
                    counts.rubric_ok ? cada_eval_rubric_mean(&counts) : 0.0);
        fprintf(stderr,
                "  format: %ld well-formed, %ld missing analysis, %ld missing final response, %ld repeated, %ld out of "
                "order, %ld empty\n",
                counts.parse.well_formed, counts.parse.missing_analysis, counts.parse.missing_final, counts.parse.repeated,
                counts.parse.out_of_order, counts.parse.empty_final);
    }
    if (st != CADA_OK) rcode = cada_cli_fail("score");
    for (int i = 0; i < n; i++) {
        if (finals) free(finals[i]);
        if (texts) cada_str_free(&texts[i]);
    }
    free(finals);
    free(texts);
    free(items);
    free(rub);
    free(rw);
    free(rin);
    cada_str_free(&lines);
    cada_judge_close(judge);
    cada_refusal_rules_free(rules);
    cada_set_free(&set);
    return rcode;
}
