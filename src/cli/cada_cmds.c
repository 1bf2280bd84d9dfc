/* cli/cada_cmds.c: `cada eval` (generate on prompt sets, report attack success rate,
 * over-refusal and rubric scores) and `cada score` (score existing prompt/response
 * pairs with any reward, without generating). The work is in src/eval/eval.h and
 * src/reward/reward.h; this file reads the command line into the run configuration of
 * sched/config.h (-c FILE, --set section.key=value, and flags that set keys) and builds
 * the modules' configurations from it, so every key means what it means in cada train. */
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"

#include "base/log.h"
#include "eval/eval.h"
#include "eval/report.h"
#include "sched/config.h"
#include "sched/config_modules.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char eval_usage[] =
    "usage: cada eval [-c CONFIG.ini] --set [FORMAT:]FILE [--set ...] [--set section.key=value]... [options]\n"
    "  -c, --config FILE       a configuration (sections model, data, prompt, reward, eval; every key:\n"
    "                          --keys); read before the other options, which apply in order\n"
    "  --set [FORMAT:]FILE     a prompt set (replaces eval.sets); FORMAT: auto (default: data.format),\n"
    "                          jsonl, csv, xstest, harmbench, advbench, lines, strongreject, hexphi\n"
    "  --set section.key=value any key of the configuration (e.g. prompt.pool=8, reward.harmful_comply=-2)\n"
    "  flags that set keys:\n"
    "    --model PATH          model.path (default $CADA_MODEL, else .cache/models/SmolLM2-135M-Instruct.Q4_1.gguf)\n"
    "    --gguf-tokenizer llama.cpp|transformers  model.gguf_tokenizer\n"
    "    --template plain|cada|rule  eval.template (plain: the bare request, the default)\n"
    "    --k N                 prompt.k (cases in the cada template)\n"
    "    --select category|bm25|category+bm25  prompt.selection\n"
    "    --detector rule|judge  reward.detector          --judge-model PATH  reward.judge_model and eval.rubric\n"
    "    --rubric              eval.rubric = true         --limit N      eval.limit (per set, spread evenly)\n"
    "    --max-tokens N        eval.max_new_tokens (512)  --slots N      eval.slots (8)\n"
    "    --temperature T       eval.temperature (0)       --top-p P      eval.top_p (1)\n"
    "    --seed S              run.seed (case choice and sampling)\n"
    "    --out DIR             eval.out_dir (runs/eval)   --on-error stop|skip  data.on_error\n"
    "    --attack none|template|pap|pair  eval.attack: jailbreak attack on the harmful prompts (none)\n"
    "    --attacker-model PATH eval.attacker_model (pap, pair; default: the evaluated model)\n"
    "    --attacker-max-tokens N  eval.attacker_max_tokens (256)\n"
    "    --attacker-temperature T eval.attacker_temperature (1)\n"
    "    --jailbreaks FILE     eval.jailbreaks (template; data/attacks/jailbreaks.jsonl)\n"
    "    --jailbreak-limit N   eval.jailbreak_limit (templates per prompt, 0 = all)\n"
    "    --pair-streams N      eval.pair_streams (3)      --pair-iterations N  eval.pair_iterations (3)\n"
    "    --field KEY=NAME      data.KEY_field: the JSONL key / CSV column of KEY (id, prompt, category,\n"
    "                          label, response, safe)\n"
    "  --check                 validate the configuration, print it resolved; run nothing\n"
    "  --keys                  list every configuration key\n"
    "  --quiet                 no progress lines\n";

static const char score_usage[] =
    "usage: cada score --in FILE [-c CONFIG.ini] [--set section.key=value]... [--out FILE.jsonl] [options]\n"
    "  Scores each (prompt, response) record of FILE (default fields prompt, response, label, category, id;\n"
    "  `cada eval`'s generations.jsonl is valid input) and writes one JSON line per record with the reward\n"
    "  and its components (stdout unless --out); the summary goes to stderr.\n"
    "  -c, --config FILE       a configuration (sections data, reward and eval.rubric, eval.limit act here;\n"
    "                          every key: --keys); read before the other options, which apply in order\n"
    "  --set section.key=value any key of the configuration\n"
    "  flags that set keys:\n"
    "    --format FORMAT       data.format (auto, jsonl, csv, xstest, harmbench, advbench, lines,\n"
    "                          strongreject, hexphi)\n"
    "    --field KEY=NAME      data.KEY_field (KEY: id, prompt, category, label, response, safe)\n"
    "    --detector rule|judge reward.detector            --judge-model PATH  reward.judge_model\n"
    "    --rubric              eval.rubric = true         --limit N      eval.limit\n"
    "    --on-error stop|skip  data.on_error\n"
    "    --gguf-tokenizer llama.cpp|transformers  model.gguf_tokenizer (the judge's tokenizer)\n"
    "  --check                 validate the configuration, print it resolved; score nothing\n"
    "  --keys                  list every configuration key\n";

/* ---- the command line ------------------------------------------------------------------- */

typedef enum {
    OPT_KEY,    /* --flag VALUE sets `key` */
    OPT_TRUE,   /* --flag sets `key` to true */
    OPT_CONFIG, /* -c FILE */
    OPT_SET,    /* --set section.key=value, or (eval) a prompt file */
    OPT_FIELD,  /* --field KEY=NAME sets data.KEY_field */
    OPT_JUDGE,  /* eval's --judge-model: reward.judge_model, and the rubric on */
    OPT_IN,     /* score's input */
    OPT_OUT,    /* score's output */
    OPT_QUIET,
    OPT_CHECK,
    OPT_KEYS,
    OPT_HELP
} opt_kind;

typedef struct {
    const char *flag;
    opt_kind kind;
    const char *key;
} opt_spec;

static const opt_spec eval_opts[] = {
    {"-c", OPT_CONFIG, NULL},
    {"--config", OPT_CONFIG, NULL},
    {"--set", OPT_SET, NULL},
    {"--model", OPT_KEY, "model.path"},
    {"--gguf-tokenizer", OPT_KEY, "model.gguf_tokenizer"},
    {"--template", OPT_KEY, "eval.template"},
    {"--k", OPT_KEY, "prompt.k"},
    {"--select", OPT_KEY, "prompt.selection"},
    {"--detector", OPT_KEY, "reward.detector"},
    {"--judge-model", OPT_JUDGE, "reward.judge_model"},
    {"--rubric", OPT_TRUE, "eval.rubric"},
    {"--limit", OPT_KEY, "eval.limit"},
    {"--max-tokens", OPT_KEY, "eval.max_new_tokens"},
    {"--slots", OPT_KEY, "eval.slots"},
    {"--temperature", OPT_KEY, "eval.temperature"},
    {"--top-p", OPT_KEY, "eval.top_p"},
    {"--seed", OPT_KEY, "run.seed"},
    {"--out", OPT_KEY, "eval.out_dir"},
    {"--on-error", OPT_KEY, "data.on_error"},
    {"--attack", OPT_KEY, "eval.attack"},
    {"--attacker-model", OPT_KEY, "eval.attacker_model"},
    {"--attacker-max-tokens", OPT_KEY, "eval.attacker_max_tokens"},
    {"--attacker-temperature", OPT_KEY, "eval.attacker_temperature"},
    {"--jailbreaks", OPT_KEY, "eval.jailbreaks"},
    {"--jailbreak-limit", OPT_KEY, "eval.jailbreak_limit"},
    {"--pair-streams", OPT_KEY, "eval.pair_streams"},
    {"--pair-iterations", OPT_KEY, "eval.pair_iterations"},
    {"--field", OPT_FIELD, NULL},
    {"--quiet", OPT_QUIET, NULL},
    {"--check", OPT_CHECK, NULL},
    {"--keys", OPT_KEYS, NULL},
    {"-h", OPT_HELP, NULL},
    {"--help", OPT_HELP, NULL},
};

static const opt_spec score_opts[] = {
    {"-c", OPT_CONFIG, NULL},
    {"--config", OPT_CONFIG, NULL},
    {"--set", OPT_SET, NULL},
    {"--in", OPT_IN, NULL},
    {"--out", OPT_OUT, NULL},
    {"--format", OPT_KEY, "data.format"},
    {"--field", OPT_FIELD, NULL},
    {"--detector", OPT_KEY, "reward.detector"},
    {"--judge-model", OPT_KEY, "reward.judge_model"},
    {"--rubric", OPT_TRUE, "eval.rubric"},
    {"--limit", OPT_KEY, "eval.limit"},
    {"--on-error", OPT_KEY, "data.on_error"},
    {"--gguf-tokenizer", OPT_KEY, "model.gguf_tokenizer"},
    {"--check", OPT_CHECK, NULL},
    {"--keys", OPT_KEYS, NULL},
    {"-h", OPT_HELP, NULL},
    {"--help", OPT_HELP, NULL},
};

typedef struct {
    const char *cmd; /* "eval" | "score" */
    const char *usage;
    const opt_spec *opts;
    int n_opts;
    cada_run_config cfg;
    const char *files[CADA_EVAL_MAX_SETS]; /* eval: --set FILE */
    int n_files;
    const char *in, *out; /* score */
    int quiet, check;
} cli_args;

static int takes_value(opt_kind k) {
    return k == OPT_KEY || k == OPT_CONFIG || k == OPT_SET || k == OPT_FIELD || k == OPT_JUDGE || k == OPT_IN || k == OPT_OUT;
}

static const opt_spec *find_opt(const cli_args *a, const char *flag) {
    for (int i = 0; i < a->n_opts; i++)
        if (!strcmp(a->opts[i].flag, flag)) return &a->opts[i];
    return NULL;
}

static int usage_error(const cli_args *a, const char *fmt, const char *arg) {
    fprintf(stderr, "cada %s: ", a->cmd);
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    fputs(a->usage, stderr);
    return 2;
}

/* A configuration error: the message names the key (and file and line); exit code 2,
 * as for every other bad input on the command line, before anything is loaded. */
static int config_error(const cli_args *a) {
    fprintf(stderr, "cada %s: %s\n", a->cmd, cada_error_message());
    return 2;
}

/* --field KEY=NAME: data.KEY_field = NAME. */
static cada_status set_field(cada_run_config *c, const char *kv) {
    static const char *const names[] = {"id", "prompt", "category", "label", "response", "safe"};
    const char *eq = strchr(kv, '=');
    for (size_t i = 0; eq && i < sizeof names / sizeof *names; i++)
        if ((size_t)(eq - kv) == strlen(names[i]) && !strncmp(kv, names[i], strlen(names[i]))) {
            char key[64];
            snprintf(key, sizeof key, "data.%s_field", names[i]);
            return cada_config_set_key(c, key, eq + 1, "--field");
        }
    return CADA_ERR(CADA_ERR_CONFIG, "--field '%s': expected KEY=NAME with KEY one of id, prompt, category, label, response, safe",
                    kv);
}

/* Reads argv into a->cfg: the -c files first, then every other option in order.
 * Returns -1 to go on, else the exit code. */
static int parse_args(cli_args *a, int argc, char **argv) {
    cada_config_defaults(&a->cfg);
    /* $CADA_MODEL / $CADA_CACHE, as every command that loads the default model */
    if (cada_config_set_key(&a->cfg, "model.path", cada_cli_default_model(), "$CADA_MODEL") != CADA_OK) return config_error(a);
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < argc; i++) {
            const opt_spec *o = find_opt(a, argv[i]);
            if (!o) return usage_error(a, "unknown option '%s'", argv[i]);
            const char *v = NULL;
            if (takes_value(o->kind)) {
                if (i + 1 >= argc) return usage_error(a, "%s is missing its value", argv[i]);
                v = argv[++i];
            }
            if ((pass == 0) != (o->kind == OPT_CONFIG)) continue;
            cada_status st = CADA_OK;
            switch (o->kind) {
            case OPT_HELP: fputs(a->usage, stdout); return 0;
            case OPT_KEYS: cada_config_describe(stdout); return 0;
            case OPT_CONFIG: st = cada_config_load(&a->cfg, v); break;
            case OPT_KEY: st = cada_config_set_key(&a->cfg, o->key, v, o->flag); break;
            case OPT_TRUE: st = cada_config_set_key(&a->cfg, o->key, "true", o->flag); break;
            case OPT_JUDGE:
                st = cada_config_set_key(&a->cfg, o->key, v, o->flag);
                if (st == CADA_OK) st = cada_config_set_key(&a->cfg, "eval.rubric", "true", o->flag);
                break;
            case OPT_FIELD: st = set_field(&a->cfg, v); break;
            case OPT_SET:
                if (cada_config_is_assignment(v)) st = cada_config_set(&a->cfg, v);
                else if (strcmp(a->cmd, "eval"))
                    return usage_error(a, "--set '%s': expected section.key=value (the input file is --in FILE)", v);
                else if (a->n_files == CADA_EVAL_MAX_SETS) return usage_error(a, "more than 32 prompt sets (--set %s)", v);
                else a->files[a->n_files++] = v;
                break;
            case OPT_IN: a->in = v; break;
            case OPT_OUT: a->out = v; break;
            case OPT_QUIET: a->quiet = 1; break;
            case OPT_CHECK: a->check = 1; break;
            }
            if (st != CADA_OK) return config_error(a);
        }
    if (a->n_files) { /* the command line's prompt sets replace eval.sets */
        char list[sizeof a->cfg.eval_sets];
        size_t at = 0;
        for (int i = 0; i < a->n_files; i++) {
            if (strchr(a->files[i], ','))
                return usage_error(a, "--set '%s': a prompt file name with a comma cannot be listed (eval.sets is comma-separated)",
                                   a->files[i]);
            int w = snprintf(list + at, sizeof list - at, "%s%s", i ? "," : "", a->files[i]);
            if (w < 0 || (size_t)w >= sizeof list - at)
                return usage_error(a, "the --set prompt files are longer than eval.sets holds (%s)", "2047 characters");
            at += (size_t)w;
        }
        if (cada_config_set_key(&a->cfg, "eval.sets", list, "--set") != CADA_OK) return config_error(a);
    }
    if (cada_config_check_command(&a->cfg, a->cmd) != CADA_OK) return config_error(a);
    return -1;
}

/* --check: the configuration as the command would run it. */
static int print_check(const cli_args *a) {
    printf("cada %s: configuration valid\n", a->cmd);
    cada_config_write(&a->cfg, stdout);
    return 0;
}

/* "[FORMAT:]PATH"; without a known FORMAT prefix the format is `def` (data.format). */
static void parse_set(char *a, cada_set_format def, cada_eval_set_spec *spec) {
    spec->format = def;
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
}

/* The resolved configuration as INI text (malloc'd), for out_dir/config.ini. */
static char *config_text(const cada_run_config *c) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    cada_config_write(c, f);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
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
    const cada_eval_attack_summary *x = &r->attack;
    if (x->attacked)
        printf("  attack %s: %ld/%ld harmful prompts jailbroken (ASR %.1f%%), %ld attacker and %ld target queries\n",
               x->name, x->jailbroken, x->attacked, 100.0 * (double)x->jailbroken / (double)x->attacked,
               x->attacker_queries, x->target_queries);
    printf("reports: %s/report.json, report.md, report.svg, generations.jsonl\n", out_dir);
}

int cada_cmd_eval(int argc, char **argv) {
    cli_args *a = calloc(1, sizeof *a);
    if (!a) return cada_cli_fail("eval");
    *a = (cli_args){.cmd = "eval", .usage = eval_usage, .opts = eval_opts, .n_opts = (int)(sizeof eval_opts / sizeof *eval_opts)};
    int rc = parse_args(a, argc, argv);
    const cada_run_config *rcfg = &a->cfg;
    if (rc < 0 && !rcfg->eval_sets[0]) rc = usage_error(a, "%s", "give at least one prompt set: --set FILE (or eval.sets)");
    if (rc < 0 && a->check) rc = print_check(a);
    if (rc >= 0) {
        free(a);
        return rc;
    }
    cada_eval_config c;
    cada_eval_config_default(&c);
    char sets[sizeof rcfg->eval_sets];
    snprintf(sets, sizeof sets, "%s", rcfg->eval_sets);
    cada_status st = cada_config_eval_prompt(rcfg, &c.prompt);
    if (st == CADA_OK) st = cada_config_reward(rcfg, &c.reward);
    if (st == CADA_OK) st = cada_config_dataset(rcfg, &c.set_options);
    for (char *save = NULL, *f = strtok_r(sets, ",", &save); f && st == CADA_OK; f = strtok_r(NULL, ",", &save)) {
        while (*f == ' ' || *f == '\t') f++;
        for (size_t n = strlen(f); n && (f[n - 1] == ' ' || f[n - 1] == '\t'); n--) f[n - 1] = 0;
        if (!*f) continue;
        if (c.n_sets == CADA_EVAL_MAX_SETS)
            st = CADA_ERR(CADA_ERR_CONFIG, "eval.sets: more than %d prompt sets", CADA_EVAL_MAX_SETS);
        else parse_set(f, c.set_options.format, &c.sets[c.n_sets++]);
    }
    if (st == CADA_OK && !c.n_sets) st = CADA_ERR(CADA_ERR_CONFIG, "eval.sets = '%s' names no prompt file", rcfg->eval_sets);
    if (st != CADA_OK) {
        rc = config_error(a);
        free(a);
        return rc;
    }
    c.model_path = rcfg->model_path;
    c.judge_model = rcfg->judge_model[0] ? rcfg->judge_model : NULL;
    c.rubric = rcfg->eval_rubric;
    c.limit = rcfg->eval_limit;
    c.max_tokens = rcfg->eval_max_new_tokens;
    c.n_slots = rcfg->eval_slots;
    c.temperature = rcfg->eval_temperature;
    c.top_p = rcfg->eval_top_p;
    c.seed = rcfg->seed;
    c.tok_flags = cada_config_tok_flags(rcfg);
    c.out_dir = rcfg->eval_out_dir;
    c.progress = !a->quiet;
    if (cada_attack_parse(rcfg->eval_attack, &c.attack.kind) != CADA_OK) {
        rc = config_error(a);
        free(a);
        return rc;
    }
    c.attack.attacker_model = rcfg->eval_attacker_model;
    c.attack.attacker_max_tokens = rcfg->eval_attacker_max_tokens;
    c.attack.attacker_temperature = rcfg->eval_attacker_temperature;
    c.attack.jailbreaks = rcfg->eval_jailbreaks;
    c.attack.jailbreak_limit = rcfg->eval_jailbreak_limit;
    c.attack.pap_prompt = rcfg->eval_pap_prompt;
    c.attack.pair_prompt = rcfg->eval_pair_prompt;
    c.attack.pair_streams = rcfg->eval_pair_streams;
    c.attack.pair_iterations = rcfg->eval_pair_iterations;
    char *ini = config_text(rcfg);
    c.config_ini = ini;
    cada_eval_report r;
    memset(&r, 0, sizeof r);
    st = ini ? cada_eval_run(&c, &r) : CADA_ERR(CADA_ERR_NOMEM, "the resolved configuration");
    rc = st == CADA_OK ? 0 : cada_cli_fail("eval");
    if (st == CADA_OK) print_summary(&r, c.out_dir);
    cada_eval_report_free(&r);
    free(ini);
    free(a);
    return rc;
}

/* ---- cada score ------------------------------------------------------------------------ */

/* Scores a->in with the reward (and judge) of a->cfg; returns the exit code. */
static int run_score(const cli_args *a) {
    const cada_run_config *cfg = &a->cfg;
    const char *in = a->in, *out = a->out;
    cada_set_options so;
    cada_reward_config rc;
    if (cada_config_dataset(cfg, &so) != CADA_OK || cada_config_reward(cfg, &rc) != CADA_OK) return config_error(a);
    so.require_response = 1;
    const int rubric = cfg->eval_rubric;
    cada_judge_config jc;
    cada_judge_config_default(&jc);
    int need_judge = cada_reward_needs_judge(&rc) || rubric;
    cada_eval_judge judge_model;
    memset(&judge_model, 0, sizeof judge_model);
    cada_prompt_set set;
    memset(&set, 0, sizeof set);
    cada_refusal_rules *rules = NULL;
    cada_judge *judge = NULL;
    const cada_item **picked = NULL;
    cada_reward_input *rin = NULL;
    cada_reward *rw = NULL;
    cada_rubric *rub = NULL;
    cada_str *texts = NULL;
    cada_judge_item *items = NULL;
    char **finals = NULL;
    cada_str lines = {0};
    cada_status st = cada_set_load(&set, in, &so);
    if (st == CADA_OK) st = cada_refusal_rules_load(&rules, rc.patterns);
    if (st == CADA_OK && need_judge) {
        st = cada_eval_judge_open(&judge_model, cfg->judge_model, cada_config_tok_flags(cfg), &jc);
        judge = judge_model.judge;
    }
    /* eval.limit: records spread evenly over the file, as cada eval picks prompts */
    const int n = st != CADA_OK ? 0 : cfg->eval_limit && cfg->eval_limit < set.n ? cfg->eval_limit : set.n;
    if (st == CADA_OK) {
        picked = calloc((size_t)(n ? n : 1), sizeof *picked);
        rin = calloc((size_t)n, sizeof *rin);
        rw = calloc((size_t)n, sizeof *rw);
        rub = calloc((size_t)n, sizeof *rub);
        texts = calloc((size_t)n, sizeof *texts);
        items = calloc((size_t)n, sizeof *items);
        finals = calloc((size_t)n, sizeof *finals);
        if (!picked || !rin || !rw || !rub || !texts || !items || !finals) st = CADA_ERR(CADA_ERR_NOMEM, "score: %d records", n);
    }
    for (int i = 0; i < n && st == CADA_OK; i++) {
        const cada_item *it = picked[i] = &set.items[(long)i * set.n / n];
        rin[i] = (cada_reward_input){it->prompt, it->response, strlen(it->response), it->label, it->cat, 0};
    }
    double t0 = cada_now();
    if (st == CADA_OK) {
        cada_reward_ctx ctx = {&rc, rules, judge, NULL};
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
        const cada_item *it = picked[i];
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
        fprintf(stderr, "cada score: %d records from %s (of %d; %d skipped), detector %s, %.1f s\n", n, in, set.n,
                set.n_skipped, cada_detector_name(rc.detector), cada_now() - t0);
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
    int rcode = st != CADA_OK ? cada_cli_fail("score") : 0;
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
    free(picked);
    cada_str_free(&lines);
    cada_eval_judge_close(&judge_model);
    cada_refusal_rules_free(rules);
    cada_set_free(&set);
    return rcode;
}

int cada_cmd_score(int argc, char **argv) {
    cli_args *a = calloc(1, sizeof *a);
    if (!a) return cada_cli_fail("score");
    *a = (cli_args){.cmd = "score", .usage = score_usage, .opts = score_opts, .n_opts = (int)(sizeof score_opts / sizeof *score_opts)};
    int rc = parse_args(a, argc, argv);
    if (rc < 0 && !a->in) rc = usage_error(a, "%s", "give --in FILE");
    if (rc < 0 && a->check) rc = print_check(a);
    if (rc < 0) rc = run_score(a);
    free(a);
    return rc;
}
