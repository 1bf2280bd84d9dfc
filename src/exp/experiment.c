/* exp/experiment.c: see experiment.h. */
#define _GNU_SOURCE
#include "exp/experiment.h"

#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const known_attacks[] = {"none", "template", "pap", "pair"};
static const char *const known_data[] = {"dr", "rule", "cr", "dpo-cr"};

static int one_of(const char *v, const char *const *list, int n) {
    for (int i = 0; i < n; i++)
        if (!strcmp(v, list[i])) return 1;
    return 0;
}

/* Names become folder and file names: letters, digits, '_', '.', '-' only. */
static int good_name(const char *s) {
    if (!*s || *s == '.' || strlen(s) >= 64) return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '.' && *s != '-') return 0;
    return 1;
}

static cada_status copy_str(char *dst, size_t cap, const char *v, const char *where, const char *key) {
    if (strlen(v) >= cap) return CADA_ERR(CADA_ERR_CONFIG, "%s: %s is longer than %zu characters", where, key, cap - 1);
    memcpy(dst, v, strlen(v) + 1);
    return CADA_OK;
}

static cada_status parse_int(const char *v, long long lo, long long hi, long long *out, const char *where, const char *key) {
    char *end = NULL;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || end == v || *end || n < lo || n > hi)
        return CADA_ERR(CADA_ERR_CONFIG, "%s: %s = '%s' is not an integer in [%lld, %lld]", where, key, v, lo, hi);
    *out = n;
    return CADA_OK;
}

static cada_status parse_bool(const char *v, int *out, const char *where, const char *key) {
    if (!strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes")) *out = 1;
    else if (!strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "no")) *out = 0;
    else return CADA_ERR(CADA_ERR_CONFIG, "%s: %s = '%s' is not true or false", where, key, v);
    return CADA_OK;
}

/* Splits a comma list into its trimmed items; calls each(item) in order. */
typedef cada_status (*item_fn)(void *ctx, const char *item, const char *where);
static cada_status each_item(void *ctx, const char *list, item_fn fn, const char *where) {
    char buf[CADA_EXP_STR];
    CADA_TRY(copy_str(buf, sizeof buf, list, where, "a list"));
    for (char *save = NULL, *it = strtok_r(buf, ",", &save); it; it = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*it)) it++;
        for (size_t n = strlen(it); n && isspace((unsigned char)it[n - 1]); n--) it[n - 1] = 0;
        if (*it) CADA_TRY(fn(ctx, it, where));
    }
    return CADA_OK;
}

static cada_status add_seed(void *ctx, const char *v, const char *where) {
    cada_experiment *x = ctx;
    if (x->n_seeds == CADA_EXP_MAX_SEEDS) return CADA_ERR(CADA_ERR_CONFIG, "%s: more than %d seeds", where, CADA_EXP_MAX_SEEDS);
    long long s = 0;
    CADA_TRY(parse_int(v, 0, (long long)1 << 62, &s, where, "experiment.seeds"));
    for (int i = 0; i < x->n_seeds; i++)
        if (x->seeds[i] == s) return CADA_ERR(CADA_ERR_CONFIG, "%s: experiment.seeds lists %lld twice", where, s);
    x->seeds[x->n_seeds++] = s;
    return CADA_OK;
}

static int find_method(const cada_experiment *x, const char *name) {
    for (int i = 0; i < x->n_method_defs; i++)
        if (!strcmp(x->method_defs[i].name, name)) return i;
    return -1;
}
static int find_bench(const cada_experiment *x, const char *name) {
    for (int i = 0; i < x->n_bench_defs; i++)
        if (!strcmp(x->bench_defs[i].name, name)) return i;
    return -1;
}

/* The definition of a method or benchmark, made when its section first appears. */
static int method_slot(cada_experiment *x, const char *name) {
    int i = find_method(x, name);
    if (i >= 0 || x->n_method_defs == CADA_EXP_MAX_METHODS) return i;
    i = x->n_method_defs++;
    memset(&x->method_defs[i], 0, sizeof x->method_defs[i]);
    snprintf(x->method_defs[i].name, sizeof x->method_defs[i].name, "%s", name);
    return i;
}
static int bench_slot(cada_experiment *x, const char *name) {
    int i = find_bench(x, name);
    if (i >= 0 || x->n_bench_defs == CADA_EXP_MAX_BENCH) return i;
    i = x->n_bench_defs++;
    memset(&x->bench_defs[i], 0, sizeof x->bench_defs[i]);
    snprintf(x->bench_defs[i].name, sizeof x->bench_defs[i].name, "%s", name);
    return i;
}

/* The lists name the methods and benchmarks in table order; sections may come before or
 * after them, so the lists are applied once the file is read (a section the list does
 * not name stays defined: --set methods=... may name it). */
typedef struct {
    cada_experiment *x;
    const char *path;
    int line;
    cada_status st;
    FILE *f;
    char listed_methods[CADA_EXP_STR], listed_bench[CADA_EXP_STR];
    int append_args; /* reading the file (not --set): *_args lines add up */
} exp_ctx;

static cada_status add_attack(void *ctx, const char *v, const char *where) {
    cada_experiment *x = ctx;
    if (!one_of(v, known_attacks, 4))
        return CADA_ERR(CADA_ERR_CONFIG, "%s: experiment.attacks: '%s' is not one of none|template|pap|pair", where, v);
    for (int i = 0; i < x->n_attacks; i++)
        if (!strcmp(x->attacks[i], v)) return CADA_ERR(CADA_ERR_CONFIG, "%s: experiment.attacks lists %s twice", where, v);
    if (x->n_attacks == CADA_EXP_MAX_ATTACKS) return CADA_ERR(CADA_ERR_CONFIG, "%s: more than %d attacks", where, CADA_EXP_MAX_ATTACKS);
    snprintf(x->attacks[x->n_attacks++], sizeof x->attacks[0], "%s", v);
    return CADA_OK;
}

/* An argument list: in a file, a key continued on indented lines (inih hands each line
 * over as the same key again) or given twice adds to what it had; --set replaces it. */
static cada_status set_args(const exp_ctx *c, char *dst, size_t cap, const char *v, const char *where, const char *key) {
    if (!c->append_args || !dst[0]) return copy_str(dst, cap, v, where, key);
    if (strlen(dst) + 1 + strlen(v) >= cap) return CADA_ERR(CADA_ERR_CONFIG, "%s: %s is longer than %zu characters", where, key, cap - 1);
    strcat(dst, " ");
    strcat(dst, v);
    return CADA_OK;
}

static cada_status experiment_key(exp_ctx *c, const char *name, const char *v, const char *where) {
    cada_experiment *x = c->x;
    long long n = 0;
    if (!strcmp(name, "name")) return copy_str(x->name, sizeof x->name, v, where, "experiment.name");
    if (!strcmp(name, "out_dir")) return copy_str(x->out_dir, sizeof x->out_dir, v, where, "experiment.out_dir");
    if (!strcmp(name, "train_config")) return copy_str(x->train_config, sizeof x->train_config, v, where, "experiment.train_config");
    if (!strcmp(name, "launcher")) return copy_str(x->launcher, sizeof x->launcher, v, where, "experiment.launcher");
    if (!strcmp(name, "eval_args")) return set_args(c, x->eval_args, sizeof x->eval_args, v, where, "experiment.eval_args");
    if (!strcmp(name, "build_args")) return set_args(c, x->build_args, sizeof x->build_args, v, where, "experiment.build_args");
    if (!strcmp(name, "train_args")) return set_args(c, x->train_args, sizeof x->train_args, v, where, "experiment.train_args");
    if (!strcmp(name, "ranks")) {
        CADA_TRY(parse_int(v, 1, 4096, &n, where, "experiment.ranks"));
        x->ranks = (int)n;
        return CADA_OK;
    }
    if (!strcmp(name, "seeds")) {
        x->n_seeds = 0;
        return each_item(x, v, add_seed, where);
    }
    if (!strcmp(name, "attacks")) {
        x->n_attacks = 0;
        return each_item(x, v, add_attack, where);
    }
    if (!strcmp(name, "methods")) return copy_str(c->listed_methods, sizeof c->listed_methods, v, where, "experiment.methods");
    if (!strcmp(name, "benchmarks")) return copy_str(c->listed_bench, sizeof c->listed_bench, v, where, "experiment.benchmarks");
    return CADA_ERR(CADA_ERR_CONFIG,
                    "%s: unknown key '%s' in [experiment] (keys: name, out_dir, train_config, seeds, methods, attacks, "
                    "benchmarks, ranks, launcher, eval_args, build_args, train_args)",
                    where, name);
}

static cada_status method_key(cada_experiment *x, const char *mname, const char *name, const char *v, const char *where) {
    int i = method_slot(x, mname);
    if (i < 0) return CADA_ERR(CADA_ERR_CONFIG, "%s: more than %d methods", where, CADA_EXP_MAX_METHODS);
    cada_exp_method *m = &x->method_defs[i];
    m->defined = 1;
    if (!strcmp(name, "base")) return parse_bool(v, &m->base, where, "base");
    if (!strcmp(name, "data")) {
        if (strcmp(v, "none") && !one_of(v, known_data, 4))
            return CADA_ERR(CADA_ERR_CONFIG, "%s: data = '%s' is not one of none|dr|rule|cr|dpo-cr", where, v);
        return copy_str(m->data, sizeof m->data, strcmp(v, "none") ? v : "", where, "data");
    }
    if (!strcmp(name, "algorithm")) return copy_str(m->algorithm, sizeof m->algorithm, v, where, "algorithm");
    exp_ctx file = {.append_args = 1};
    if (!strcmp(name, "train_args")) return set_args(&file, m->train_args, sizeof m->train_args, v, where, "train_args");
    if (!strcmp(name, "build_args")) return set_args(&file, m->build_args, sizeof m->build_args, v, where, "build_args");
    return CADA_ERR(CADA_ERR_CONFIG, "%s: unknown key '%s' in [method.%s] (keys: base, data, algorithm, train_args, build_args)",
                    where, name, mname);
}

static cada_status bench_key(cada_experiment *x, const char *bname, const char *name, const char *v, const char *where) {
    int i = bench_slot(x, bname);
    if (i < 0) return CADA_ERR(CADA_ERR_CONFIG, "%s: more than %d benchmarks", where, CADA_EXP_MAX_BENCH);
    cada_exp_benchmark *b = &x->bench_defs[i];
    b->seen = 1;
    if (!strcmp(name, "set")) return copy_str(b->set, sizeof b->set, v, where, "set");
    if (!strcmp(name, "kind")) {
        if (!strcmp(v, "harmful")) b->kind = CADA_BENCH_HARMFUL;
        else if (!strcmp(v, "benign")) b->kind = CADA_BENCH_BENIGN;
        else return CADA_ERR(CADA_ERR_CONFIG, "%s: kind = '%s' is not harmful or benign", where, v);
        return CADA_OK;
    }
    return CADA_ERR(CADA_ERR_CONFIG,
                    "%s: unknown key '%s' in [benchmark.%s] (keys: set, kind; how many prompts: experiment.eval_args = --limit N)",
                    where, name, bname);
}

static cada_status on_key(exp_ctx *c, const char *section, const char *name, const char *value) {
    char where[CADA_EXP_STR + 32];
    snprintf(where, sizeof where, "%s:%d", c->path, c->line);
    if (!strcmp(section, "experiment")) return name ? experiment_key(c, name, value, where) : CADA_OK;
    const char *dot = strchr(section, '.');
    int is_method = !strncmp(section, "method.", 7), is_bench = !strncmp(section, "benchmark.", 10);
    if (!dot || (!is_method && !is_bench))
        return CADA_ERR(CADA_ERR_CONFIG, "%s: unknown section [%s] (sections: experiment, method.NAME, benchmark.NAME)", where,
                        section);
    if (!good_name(dot + 1))
        return CADA_ERR(CADA_ERR_CONFIG, "%s: [%s]: a name of letters, digits, '_', '.' and '-' (it names folders)", where, section);
    if (!name) { /* the section header alone: it exists */
        if (is_method) {
            int i = method_slot(c->x, dot + 1);
            if (i < 0) return CADA_ERR(CADA_ERR_CONFIG, "%s: more than %d methods", where, CADA_EXP_MAX_METHODS);
            c->x->method_defs[i].defined = 1;
        } else if (bench_slot(c->x, dot + 1) < 0)
            return CADA_ERR(CADA_ERR_CONFIG, "%s: more than %d benchmarks", where, CADA_EXP_MAX_BENCH);
        else c->x->bench_defs[find_bench(c->x, dot + 1)].seen = 1;
        return CADA_OK;
    }
    return is_method ? method_key(c->x, dot + 1, name, value, where) : bench_key(c->x, dot + 1, name, value, where);
}

static int on_ini(void *user, const char *section, const char *name, const char *value) {
    exp_ctx *c = user;
    if (c->st != CADA_OK) return 0;
    c->st = on_key(c, section, name, value);
    return c->st == CADA_OK;
}

/* inih reads lines of at most INI_MAX_LINE - 1 characters and would cut a longer one
 * into pieces that read as other keys: such a line is an error here. */
static char *read_line(char *str, int num, void *stream) {
    exp_ctx *c = stream;
    char *got = fgets(str, num, c->f);
    if (!got) return NULL;
    c->line++;
    size_t n = strlen(str);
    if (n == (size_t)num - 1 && str[n - 1] != '\n' && !feof(c->f) && c->st == CADA_OK) {
        c->st = CADA_ERR(CADA_ERR_CONFIG, "%s:%d: a line longer than %d characters (continue a value on indented lines)", c->path,
                         c->line, num - 2);
        return NULL;
    }
    return got;
}

/* Reorders methods and benchmarks as their lists say; every listed one must have its
 * section (a method may omit it: then it is CADA with the train configuration). */
typedef struct {
    cada_experiment *x;
    cada_exp_method m[CADA_EXP_MAX_METHODS];
    int n;
    cada_exp_benchmark b[CADA_EXP_MAX_BENCH];
    int nb;
} order_ctx;

static cada_status order_method(void *ctx, const char *name, const char *where) {
    order_ctx *o = ctx;
    const cada_experiment *x = o->x;
    int i = find_method(x, name);
    if (!good_name(name)) return CADA_ERR(CADA_ERR_CONFIG, "%s: experiment.methods: '%s' is not a name", where, name);
    for (int j = 0; j < o->n; j++)
        if (!strcmp(o->m[j].name, name)) return CADA_ERR(CADA_ERR_CONFIG, "%s: experiment.methods lists %s twice", where, name);
    if (o->n == CADA_EXP_MAX_METHODS) return CADA_ERR(CADA_ERR_CONFIG, "%s: more than %d methods", where, CADA_EXP_MAX_METHODS);
    cada_exp_method *m = &o->m[o->n++];
    if (i >= 0) *m = x->method_defs[i];
    else {
        memset(m, 0, sizeof *m);
        snprintf(m->name, sizeof m->name, "%s", name);
    }
    return CADA_OK;
}
static cada_status order_bench(void *ctx, const char *name, const char *where) {
    order_ctx *o = ctx;
    const cada_experiment *x = o->x;
    int i = find_bench(x, name);
    if (i < 0 || !x->bench_defs[i].seen)
        return CADA_ERR(CADA_ERR_CONFIG, "%s: experiment.benchmarks names %s, which has no [benchmark.%s] section", where, name, name);
    for (int j = 0; j < o->nb; j++)
        if (!strcmp(o->b[j].name, name)) return CADA_ERR(CADA_ERR_CONFIG, "%s: experiment.benchmarks lists %s twice", where, name);
    if (!x->bench_defs[i].set[0]) return CADA_ERR(CADA_ERR_CONFIG, "%s: [benchmark.%s] has no set (a prompt file)", where, name);
    o->b[o->nb++] = x->bench_defs[i];
    return CADA_OK;
}

static cada_status apply_lists(cada_experiment *x, const char *methods, const char *bench, const char *where) {
    order_ctx *o = calloc(1, sizeof *o);
    if (!o) return CADA_ERR(CADA_ERR_NOMEM, "experiment lists");
    o->x = x;
    cada_status st = CADA_OK;
    if (methods) st = each_item(o, methods, order_method, where);
    if (st == CADA_OK && bench) st = each_item(o, bench, order_bench, where);
    if (st == CADA_OK && methods) {
        memcpy(x->methods, o->m, sizeof o->m);
        x->n_methods = o->n;
    }
    if (st == CADA_OK && bench) {
        memcpy(x->bench, o->b, sizeof o->b);
        x->n_bench = o->nb;
    }
    free(o);
    return st;
}

static void defaults(cada_experiment *x) {
    memset(x, 0, sizeof *x);
    snprintf(x->name, sizeof x->name, "experiment");
    snprintf(x->out_dir, sizeof x->out_dir, "runs/experiment");
    snprintf(x->train_config, sizeof x->train_config, "configs/smollm2-135m-cpu.ini");
    x->seeds[0] = 1;
    x->n_seeds = 1;
    snprintf(x->attacks[0], sizeof x->attacks[0], "none");
    x->n_attacks = 1;
    x->ranks = 2;
    snprintf(x->launcher, sizeof x->launcher, "mpirun --oversubscribe -np {ranks}");
}

cada_status cada_experiment_load(const char *path, cada_experiment *x) {
    defaults(x);
    CADA_TRY(copy_str(x->path, sizeof x->path, path, path, "the path"));
    FILE *f = fopen(path, "r");
    if (!f) return CADA_ERR(CADA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    exp_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        fclose(f);
        return CADA_ERR(CADA_ERR_NOMEM, "%s", path);
    }
    c->x = x;
    c->path = path;
    c->f = f;
    c->append_args = 1;
    int rc = ini_parse_stream(read_line, c, on_ini, c);
    fclose(f);
    cada_status st = c->st;
    if (st == CADA_OK && rc > 0) st = CADA_ERR(CADA_ERR_CONFIG, "%s:%d: not a 'key = value' line or a [section]", path, rc);
    if (st == CADA_OK && rc < 0) st = CADA_ERR(CADA_ERR_IO, "%s: cannot read", path);
    char where[CADA_EXP_STR + 32];
    snprintf(where, sizeof where, "%s: [experiment]", path);
    if (st == CADA_OK && !c->listed_methods[0]) st = CADA_ERR(CADA_ERR_CONFIG, "%s: methods is missing", where);
    if (st == CADA_OK && !c->listed_bench[0]) st = CADA_ERR(CADA_ERR_CONFIG, "%s: benchmarks is missing", where);
    if (st == CADA_OK) st = apply_lists(x, c->listed_methods, c->listed_bench, where);
    free(c);
    return st;
}

cada_status cada_experiment_set(cada_experiment *x, const char *assignment) {
    char buf[CADA_EXP_STR + 64];
    CADA_TRY(copy_str(buf, sizeof buf, assignment, "--set", assignment));
    char *eq = strchr(buf, '=');
    if (!eq) return CADA_ERR(CADA_ERR_CONFIG, "--set '%s': not key=value", assignment);
    *eq = 0;
    char *key = buf, *v = eq + 1;
    if (!strncmp(key, "experiment.", 11)) key += 11;
    if (strchr(key, '.'))
        return CADA_ERR(CADA_ERR_CONFIG, "--set '%s': only [experiment] keys can be set on the command line", assignment);
    char where[CADA_EXP_STR + 64];
    snprintf(where, sizeof where, "--set %s", assignment);
    if (!strcmp(key, "methods")) return apply_lists(x, v, NULL, where);
    if (!strcmp(key, "benchmarks")) return apply_lists(x, NULL, v, where);
    exp_ctx c = {.x = x, .path = "--set"};
    return experiment_key(&c, key, v, where);
}

cada_status cada_experiment_check(const cada_experiment *x) {
    if (!x->n_seeds) return CADA_ERR(CADA_ERR_CONFIG, "%s: experiment.seeds is empty", x->path);
    if (!x->n_methods) return CADA_ERR(CADA_ERR_CONFIG, "%s: experiment.methods is empty", x->path);
    if (!x->n_bench) return CADA_ERR(CADA_ERR_CONFIG, "%s: experiment.benchmarks is empty", x->path);
    if (!x->n_attacks) return CADA_ERR(CADA_ERR_CONFIG, "%s: experiment.attacks is empty", x->path);
    if (!good_name(x->name)) return CADA_ERR(CADA_ERR_CONFIG, "%s: experiment.name = '%s' is not a name", x->path, x->name);
    if (!x->out_dir[0] || strlen(x->out_dir) > CADA_EXP_STR - 200)
        return CADA_ERR(CADA_ERR_CONFIG, "%s: experiment.out_dir is empty or longer than %d characters", x->path, CADA_EXP_STR - 200);
    int harmful = 0;
    for (int b = 0; b < x->n_bench; b++) harmful += x->bench[b].kind == CADA_BENCH_HARMFUL;
    for (int a = 0; a < x->n_attacks; a++)
        if (strcmp(x->attacks[a], "none") && !harmful)
            return CADA_ERR(CADA_ERR_CONFIG, "%s: experiment.attacks has %s but no benchmark is harmful (attacks apply to harmful prompts)",
                            x->path, x->attacks[a]);
    for (int m = 0; m < x->n_methods; m++) {
        const cada_exp_method *me = &x->methods[m];
        if (me->base && (me->data[0] || me->algorithm[0] || me->train_args[0]))
            return CADA_ERR(CADA_ERR_CONFIG, "%s: [method.%s] is base (no training) but sets data, algorithm or train_args", x->path,
                            me->name);
        if (!strcmp(me->data, "dpo-cr") && strcmp(me->algorithm, "dpo"))
            return CADA_ERR(CADA_ERR_CONFIG, "%s: [method.%s]: data = dpo-cr is a preference set: algorithm = dpo", x->path, me->name);
        if (!strcmp(me->algorithm, "dpo") && strcmp(me->data, "dpo-cr"))
            return CADA_ERR(CADA_ERR_CONFIG, "%s: [method.%s]: algorithm = dpo trains on preference pairs: data = dpo-cr", x->path,
                            me->name);
        if (!strcmp(me->algorithm, "sft") && !me->data[0])
            return CADA_ERR(CADA_ERR_CONFIG, "%s: [method.%s]: algorithm = sft needs data (dr, rule or cr)", x->path, me->name);
    }
    if (!strstr(x->launcher, "{ranks}") && x->ranks != 1)
        return CADA_ERR(CADA_ERR_CONFIG, "%s: experiment.launcher '%s' has no {ranks} for experiment.ranks = %d", x->path, x->launcher,
                        x->ranks);
    return CADA_OK;
}

/* ---- the plan ---------------------------------------------------------------------------- */

/* Paths are at most CADA_EXP_STR long; a longer one is cut (and cannot collide with an
 * existing folder by accident: out_dir is checked to leave room, cada_experiment_check). */
void cada_exp_run_dir(const cada_experiment *x, int method, int seed, char *out, size_t cap) {
    if (snprintf(out, cap, "%s/runs/%s-s%lld", x->out_dir, x->methods[method].name, x->seeds[seed]) >= (int)cap) out[0] = 0;
}
void cada_exp_eval_dir(const cada_experiment *x, int method, int seed, int attack, char *out, size_t cap) {
    if (snprintf(out, cap, "%s/eval/%s-s%lld/%s", x->out_dir, x->methods[method].name, x->seeds[seed], x->attacks[attack]) >= (int)cap)
        out[0] = 0;
}
static void data_file(const cada_experiment *x, int method, int seed, char *out, size_t cap) {
    if (snprintf(out, cap, "%s/data/%s-s%lld.jsonl", x->out_dir, x->methods[method].name, x->seeds[seed]) >= (int)cap) out[0] = 0;
}

static cada_status arg(cada_job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static cada_status arg(cada_job *j, const char *fmt, ...) {
    if (j->argc + 1 >= CADA_JOB_MAX_ARGS) return CADA_ERR(CADA_ERR_CONFIG, "job %s: more than %d arguments", j->name, CADA_JOB_MAX_ARGS - 1);
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0) return CADA_ERR(CADA_ERR_NOMEM, "job %s", j->name);
    j->argv[j->argc++] = s;
    j->argv[j->argc] = NULL;
    return CADA_OK;
}

/* Two arguments: a flag and its formatted value ("--set", "run.seed=1"). */
static cada_status opt(cada_job *j, const char *flag, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static cada_status opt(cada_job *j, const char *flag, const char *fmt, ...) {
    CADA_TRY(arg(j, "%s", flag));
    if (j->argc + 1 >= CADA_JOB_MAX_ARGS) return CADA_ERR(CADA_ERR_CONFIG, "job %s: more than %d arguments", j->name, CADA_JOB_MAX_ARGS - 1);
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&j->argv[j->argc], fmt, ap);
    va_end(ap);
    if (n < 0) return CADA_ERR(CADA_ERR_NOMEM, "job %s", j->name);
    j->argv[++j->argc] = NULL;
    return CADA_OK;
}

/* Appends a space-separated argument string (the *_args keys; no quoting: values with
 * spaces cannot be passed, which the keys' help says). */
static cada_status args_split(cada_job *j, const char *s) {
    char buf[CADA_EXP_STR];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *t = strtok_r(buf, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) CADA_TRY(arg(j, "%s", t));
    return CADA_OK;
}

static cada_status launcher(cada_job *j, const cada_experiment *x) {
    char buf[CADA_EXP_STR];
    snprintf(buf, sizeof buf, "%s", x->launcher);
    for (char *save = NULL, *t = strtok_r(buf, " \t", &save); t; t = strtok_r(NULL, " \t", &save))
        CADA_TRY(!strcmp(t, "{ranks}") ? arg(j, "%d", x->ranks) : arg(j, "%s", t));
    return CADA_OK;
}

static cada_job *new_job(cada_exp_plan *p, cada_job_kind kind, int m, int s, int a) {
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 32;
        cada_job *nj = realloc(p->jobs, (size_t)cap * sizeof *nj);
        if (!nj) return NULL;
        p->jobs = nj;
        p->cap = cap;
    }
    cada_job *j = &p->jobs[p->n++];
    memset(j, 0, sizeof *j);
    j->kind = kind;
    j->method = m;
    j->seed = s;
    j->attack = a;
    return j;
}

static cada_status plan_data(const cada_experiment *x, const char *bin, cada_exp_plan *p, int m, int s) {
    const cada_exp_method *me = &x->methods[m];
    cada_job *j = new_job(p, CADA_JOB_DATA, m, s, -1);
    if (!j) return CADA_ERR(CADA_ERR_NOMEM, "the plan");
    snprintf(j->name, sizeof j->name, "data-%s-s%lld", me->name, x->seeds[s]);
    data_file(x, m, s, j->out, sizeof j->out);
    CADA_TRY(arg(j, "%s", bin));
    CADA_TRY(arg(j, "build-data"));
    CADA_TRY(opt(j, "-c", "%s", x->train_config));
    CADA_TRY(opt(j, "--method", "%s", me->data));
    CADA_TRY(opt(j, "--out", "%s", j->out));
    CADA_TRY(opt(j, "--set", "run.seed=%lld", x->seeds[s]));
    CADA_TRY(args_split(j, x->build_args));
    return args_split(j, me->build_args);
}

static cada_status plan_train(const cada_experiment *x, const char *bin, cada_exp_plan *p, int m, int s) {
    const cada_exp_method *me = &x->methods[m];
    cada_job *j = new_job(p, CADA_JOB_TRAIN, m, s, -1);
    if (!j) return CADA_ERR(CADA_ERR_NOMEM, "the plan");
    snprintf(j->name, sizeof j->name, "train-%s-s%lld", me->name, x->seeds[s]);
    cada_exp_run_dir(x, m, s, j->out, sizeof j->out);
    CADA_TRY(launcher(j, x));
    CADA_TRY(arg(j, "%s", bin));
    CADA_TRY(arg(j, "train"));
    CADA_TRY(opt(j, "-c", "%s", x->train_config));
    CADA_TRY(opt(j, "--set", "run.seed=%lld", x->seeds[s]));
    CADA_TRY(opt(j, "--set", "run.out_dir=%s", j->out));
    CADA_TRY(opt(j, "--set", "run.name=%s-s%lld", me->name, x->seeds[s]));
    if (me->algorithm[0]) {
        CADA_TRY(opt(j, "--set", "learn.algorithm=%s", me->algorithm));
    }
    CADA_TRY(args_split(j, x->train_args));
    CADA_TRY(args_split(j, me->train_args));
    if (me->data[0]) { /* last: the built set wins over a data.train_set in the *_args */
        char f[CADA_EXP_STR];
        data_file(x, m, s, f, sizeof f);
        CADA_TRY(opt(j, "--set", "data.train_set=%s", f));
    }
    return CADA_OK;
}

static cada_status plan_eval(const cada_experiment *x, const char *bin, cada_exp_plan *p, int m, int s, int a) {
    const cada_exp_method *me = &x->methods[m];
    cada_job *j = new_job(p, CADA_JOB_EVAL, m, s, a);
    if (!j) return CADA_ERR(CADA_ERR_NOMEM, "the plan");
    snprintf(j->name, sizeof j->name, "eval-%s-s%lld-%s", me->name, x->seeds[s], x->attacks[a]);
    cada_exp_eval_dir(x, m, s, a, j->out, sizeof j->out);
    j->model_from_train = !me->base;
    CADA_TRY(arg(j, "%s", bin));
    CADA_TRY(arg(j, "eval"));
    CADA_TRY(opt(j, "-c", "%s", x->train_config));
    CADA_TRY(opt(j, "--seed", "%lld", x->seeds[s]));
    CADA_TRY(opt(j, "--out", "%s", j->out));
    CADA_TRY(arg(j, "--quiet"));
    if (strcmp(x->attacks[a], "none")) {
        CADA_TRY(opt(j, "--set", "eval.attack=%s", x->attacks[a]));
    }
    for (int b = 0; b < x->n_bench; b++) {
        const cada_exp_benchmark *be = &x->bench[b];
        if (strcmp(x->attacks[a], "none") && be->kind != CADA_BENCH_HARMFUL) continue;
        CADA_TRY(opt(j, "--set", "%s", be->set));
    }
    CADA_TRY(args_split(j, x->eval_args));
    /* the model comes last so that it is found and replaced in one place (runner.h) */
    if (j->model_from_train) {
        CADA_TRY(opt(j, "--model", "%s", "(last checkpoint)"));
    }
    return CADA_OK;
}

cada_status cada_experiment_plan(const cada_experiment *x, const char *bin, cada_exp_plan *p) {
    memset(p, 0, sizeof *p);
    cada_status st = CADA_OK;
    for (int s = 0; s < x->n_seeds && st == CADA_OK; s++)
        for (int m = 0; m < x->n_methods && st == CADA_OK; m++) {
            const cada_exp_method *me = &x->methods[m];
            if (me->data[0]) st = plan_data(x, bin, p, m, s);
            if (st == CADA_OK && !me->base) st = plan_train(x, bin, p, m, s);
            for (int a = 0; a < x->n_attacks && st == CADA_OK; a++) st = plan_eval(x, bin, p, m, s, a);
        }
    if (st != CADA_OK) cada_exp_plan_free(p);
    return st;
}

void cada_exp_plan_free(cada_exp_plan *p) {
    for (int i = 0; i < p->n; i++)
        for (int a = 0; a < p->jobs[i].argc; a++) free(p->jobs[i].argv[a]);
    free(p->jobs);
    memset(p, 0, sizeof *p);
}
