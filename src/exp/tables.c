/* exp/tables.c: see tables.h. */
#define _POSIX_C_SOURCE 200809L
#include "exp/tables.h"

#include "cada/text.h"
#include "eval/svg.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* value[cell][seed], cell = ((method * n_bench) + bench) * n_attacks + attack. */
typedef struct {
    const cada_experiment *x;
    double *rate;   /* ASR (harmful) or non-refusal (benign), % */
    double *rubric; /* rubric mean score (harmful), NaN when not run */
    double *format; /* [method][seed], %, attack none */
} grid;

static size_t cell(const cada_experiment *x, int m, int b, int a) { return ((size_t)m * x->n_bench + b) * x->n_attacks + a; }

static double pct(const cJSON *o) { return cJSON_IsNumber(o) ? 100.0 * o->valuedouble : NAN; }

static const cJSON *path(const cJSON *o, const char *a, const char *b, const char *c) {
    o = cJSON_GetObjectItemCaseSensitive(o, a);
    if (b) o = cJSON_GetObjectItemCaseSensitive(o, b);
    if (c) o = cJSON_GetObjectItemCaseSensitive(o, c);
    return o;
}

/* One eval's report into the grid: sets in the order the eval was given them. */
static cada_status read_report(grid *g, int m, int s, int a, const char *file) {
    const cada_experiment *x = g->x;
    char *text = NULL;
    size_t len = 0;
    CADA_TRY(cada_read_file(file, &text, &len));
    cJSON *r = cJSON_ParseWithLength(text, len);
    free(text);
    if (!r) return CADA_ERR(CADA_ERR_FORMAT, "%s: not JSON", file);
    const cJSON *sets = cJSON_GetObjectItemCaseSensitive(r, "sets");
    int none = !strcmp(x->attacks[a], "none"), k = 0;
    cada_status st = CADA_OK;
    for (int b = 0; b < x->n_bench && st == CADA_OK; b++) {
        const cada_exp_benchmark *be = &x->bench[b];
        if (!none && be->kind != CADA_BENCH_HARMFUL) continue;
        const cJSON *set = cJSON_GetArrayItem(sets, k++);
        if (!cJSON_IsObject(set)) {
            st = CADA_ERR(CADA_ERR_FORMAT, "%s: has no set %d (benchmark %s)", file, k, be->name);
            break;
        }
        const cJSON *counts = cJSON_GetObjectItemCaseSensitive(set, "counts");
        size_t c = cell(x, m, b, a) * x->n_seeds + s;
        if (be->kind == CADA_BENCH_HARMFUL) {
            g->rate[c] = pct(path(counts, "harmful", "asr", NULL));
            const cJSON *rs = path(counts, "rubric", "mean_score", NULL);
            g->rubric[c] = cJSON_IsNumber(rs) ? rs->valuedouble : NAN;
        } else g->rate[c] = pct(path(counts, "benign", "non_refusal_rate", NULL));
    }
    if (st == CADA_OK && none) {
        const cJSON *f = path(r, "overall", "format", NULL);
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(f, "n"), *w = cJSON_GetObjectItemCaseSensitive(f, "well_formed");
        if (cJSON_IsNumber(n) && cJSON_IsNumber(w) && n->valuedouble > 0)
            g->format[(size_t)m * x->n_seeds + s] = 100.0 * w->valuedouble / n->valuedouble;
    }
    cJSON_Delete(r);
    return st;
}

typedef struct {
    double mean, std;
    int n;
} seed_stat;

static seed_stat stats_of(const double *v, int n_seeds) {
    seed_stat s = {NAN, NAN, 0};
    double sum = 0;
    for (int i = 0; i < n_seeds; i++)
        if (isfinite(v[i])) {
            sum += v[i];
            s.n++;
        }
    if (!s.n) return s;
    s.mean = sum / s.n;
    if (s.n > 1) {
        double ss = 0;
        for (int i = 0; i < n_seeds; i++)
            if (isfinite(v[i])) ss += (v[i] - s.mean) * (v[i] - s.mean);
        s.std = sqrt(ss / (s.n - 1));
    }
    return s;
}

/* "12.5 +- 3.1", "12.5" (one seed), "-" (none), with " (2/3)" when seeds are missing. */
static cada_status md_cell(cada_str *o, const double *v, int n_seeds, const char *fmt) {
    seed_stat s = stats_of(v, n_seeds);
    if (!s.n) return cada_str_puts(o, " - |");
    CADA_TRY(cada_str_puts(o, " "));
    CADA_TRY(cada_str_printf(o, fmt, s.mean));
    if (isfinite(s.std)) {
        CADA_TRY(cada_str_puts(o, " ± "));
        CADA_TRY(cada_str_printf(o, fmt, s.std));
    }
    if (s.n < n_seeds) CADA_TRY(cada_str_printf(o, " (%d/%d)", s.n, n_seeds));
    return cada_str_puts(o, " |");
}

static cada_status json_values(cada_str *o, const double *v, int n_seeds) {
    seed_stat s = stats_of(v, n_seeds);
    CADA_TRY(cada_str_puts(o, "\"values\": ["));
    for (int i = 0; i < n_seeds; i++) {
        CADA_TRY(cada_str_puts(o, i ? ", " : ""));
        CADA_TRY(isfinite(v[i]) ? cada_str_printf(o, "%.6g", v[i]) : cada_str_puts(o, "null"));
    }
    CADA_TRY(cada_str_puts(o, "], \"mean\": "));
    CADA_TRY(isfinite(s.mean) ? cada_str_printf(o, "%.6g", s.mean) : cada_str_puts(o, "null"));
    CADA_TRY(cada_str_puts(o, ", \"std\": "));
    CADA_TRY(isfinite(s.std) ? cada_str_printf(o, "%.6g", s.std) : cada_str_puts(o, "null"));
    return cada_str_printf(o, ", \"n\": %d", s.n);
}

static cada_status write_results_json(const grid *g, cada_str *o) {
    const cada_experiment *x = g->x;
    CADA_TRY(cada_str_puts(o, "{\"experiment\": "));
    CADA_TRY(cada_str_json(o, x->name, strlen(x->name)));
    CADA_TRY(cada_str_puts(o, ", \"seeds\": ["));
    for (int s = 0; s < x->n_seeds; s++) CADA_TRY(cada_str_printf(o, "%s%lld", s ? ", " : "", x->seeds[s]));
    CADA_TRY(cada_str_puts(o, "],\n \"cells\": [\n"));
    int first = 1;
    for (int m = 0; m < x->n_methods; m++)
        for (int b = 0; b < x->n_bench; b++)
            for (int a = 0; a < x->n_attacks; a++) {
                const cada_exp_benchmark *be = &x->bench[b];
                if (be->kind == CADA_BENCH_BENIGN && strcmp(x->attacks[a], "none")) continue;
                size_t c = cell(x, m, b, a) * x->n_seeds;
                CADA_TRY(cada_str_puts(o, first ? "  {\"method\": " : ",\n  {\"method\": "));
                first = 0;
                CADA_TRY(cada_str_json(o, x->methods[m].name, strlen(x->methods[m].name)));
                CADA_TRY(cada_str_puts(o, ", \"benchmark\": "));
                CADA_TRY(cada_str_json(o, be->name, strlen(be->name)));
                CADA_TRY(cada_str_printf(o, ", \"attack\": \"%s\", \"metric\": \"%s\", ", x->attacks[a],
                                         be->kind == CADA_BENCH_HARMFUL ? "asr_percent" : "non_refusal_percent"));
                CADA_TRY(json_values(o, g->rate + c, x->n_seeds));
                if (be->kind == CADA_BENCH_HARMFUL && stats_of(g->rubric + c, x->n_seeds).n) {
                    CADA_TRY(cada_str_puts(o, ", \"rubric\": {"));
                    CADA_TRY(json_values(o, g->rubric + c, x->n_seeds));
                    CADA_TRY(cada_str_puts(o, "}"));
                }
                CADA_TRY(cada_str_puts(o, "}"));
            }
    CADA_TRY(cada_str_puts(o, "\n ],\n \"format_percent\": [\n"));
    for (int m = 0; m < x->n_methods; m++) {
        CADA_TRY(cada_str_puts(o, m ? ",\n  {\"method\": " : "  {\"method\": "));
        CADA_TRY(cada_str_json(o, x->methods[m].name, strlen(x->methods[m].name)));
        CADA_TRY(cada_str_puts(o, ", "));
        CADA_TRY(json_values(o, g->format + (size_t)m * x->n_seeds, x->n_seeds));
        CADA_TRY(cada_str_puts(o, "}"));
    }
    return cada_str_puts(o, "\n ]}\n");
}

static cada_status write_tables_md(const grid *g, cada_str *o) {
    const cada_experiment *x = g->x;
    CADA_TRY(cada_str_printf(o, "# %s\n\nSeeds:", x->name));
    for (int s = 0; s < x->n_seeds; s++) CADA_TRY(cada_str_printf(o, " %lld", x->seeds[s]));
    CADA_TRY(cada_str_puts(o, ". Cells: mean ± standard deviation over seeds (n - 1); (k/n): seeds with a result.\n\n"
                              "## Attack success rate, % (lower is better)\n\n| method |"));
    int harmful = 0;
    for (int b = 0; b < x->n_bench; b++) {
        if (x->bench[b].kind != CADA_BENCH_HARMFUL) continue;
        harmful++;
        for (int a = 0; a < x->n_attacks; a++) CADA_TRY(cada_str_printf(o, " %s %s |", x->bench[b].name, x->attacks[a]));
    }
    CADA_TRY(cada_str_puts(o, "\n|---|"));
    for (int i = 0; i < harmful * x->n_attacks; i++) CADA_TRY(cada_str_puts(o, "---|"));
    CADA_TRY(cada_str_puts(o, "\n"));
    for (int m = 0; m < x->n_methods; m++) {
        CADA_TRY(cada_str_printf(o, "| %s |", x->methods[m].name));
        for (int b = 0; b < x->n_bench; b++)
            for (int a = 0; a < x->n_attacks && x->bench[b].kind == CADA_BENCH_HARMFUL; a++)
                CADA_TRY(md_cell(o, g->rate + cell(x, m, b, a) * x->n_seeds, x->n_seeds, "%.1f"));
        CADA_TRY(cada_str_puts(o, "\n"));
    }
    CADA_TRY(cada_str_puts(o, "\n## Over-refusal and format (non-refusal on benign prompts, %: higher is better; "
                              "format: well-formed Analysis + Final Response, % of all prompts, no attack)\n\n| method |"));
    for (int b = 0; b < x->n_bench; b++)
        if (x->bench[b].kind == CADA_BENCH_BENIGN) CADA_TRY(cada_str_printf(o, " %s non-refusal |", x->bench[b].name));
    CADA_TRY(cada_str_puts(o, " format |\n|---|"));
    for (int b = 0; b < x->n_bench; b++)
        if (x->bench[b].kind == CADA_BENCH_BENIGN) CADA_TRY(cada_str_puts(o, "---|"));
    CADA_TRY(cada_str_puts(o, "---|\n"));
    int none = -1;
    for (int a = 0; a < x->n_attacks; a++)
        if (!strcmp(x->attacks[a], "none")) none = a;
    for (int m = 0; m < x->n_methods; m++) {
        CADA_TRY(cada_str_printf(o, "| %s |", x->methods[m].name));
        for (int b = 0; b < x->n_bench; b++) {
            if (x->bench[b].kind != CADA_BENCH_BENIGN) continue;
            if (none < 0) CADA_TRY(cada_str_puts(o, " - |"));
            else CADA_TRY(md_cell(o, g->rate + cell(x, m, b, none) * x->n_seeds, x->n_seeds, "%.1f"));
        }
        CADA_TRY(md_cell(o, g->format + (size_t)m * x->n_seeds, x->n_seeds, "%.1f"));
        CADA_TRY(cada_str_puts(o, "\n"));
    }
    return CADA_OK;
}

static const char *const palette[] = {"#7f7f7f", "#c0392b", "#2c7fb8", "#27ae60", "#8e44ad", "#e67e22", "#16a085", "#d35400"};

static cada_status write_svg(const grid *g, cada_str *o) {
    const cada_experiment *x = g->x;
    int ng = 0;
    for (int b = 0; b < x->n_bench; b++) ng += x->bench[b].kind == CADA_BENCH_HARMFUL ? x->n_attacks : 0;
    if (!ng) return CADA_OK;
    size_t nv = (size_t)ng * x->n_methods;
    double *val = calloc(nv * 2, sizeof *val);
    char (*names)[160] = calloc((size_t)ng, sizeof *names);
    const char **gn = calloc((size_t)ng, sizeof *gn), **sn = calloc((size_t)x->n_methods, sizeof *sn),
               **col = calloc((size_t)x->n_methods, sizeof *col);
    cada_status st = val && names && gn && sn && col ? CADA_OK : CADA_ERR(CADA_ERR_NOMEM, "asr.svg");
    for (int b = 0, k = 0; b < x->n_bench && st == CADA_OK; b++)
        for (int a = 0; a < x->n_attacks && x->bench[b].kind == CADA_BENCH_HARMFUL; a++, k++) {
            snprintf(names[k], sizeof names[k], "%s / %s", x->bench[b].name, x->attacks[a]);
            gn[k] = names[k];
            for (int m = 0; m < x->n_methods; m++) {
                seed_stat s = stats_of(g->rate + cell(x, m, b, a) * x->n_seeds, x->n_seeds);
                val[(size_t)k * x->n_methods + m] = s.mean;
                val[nv + (size_t)k * x->n_methods + m] = s.std;
            }
        }
    for (int m = 0; st == CADA_OK && m < x->n_methods; m++) {
        sn[m] = x->methods[m].name;
        col[m] = palette[m % (int)(sizeof palette / sizeof *palette)];
    }
    if (st == CADA_OK) {
        char title[200];
        snprintf(title, sizeof title, "%s: attack success rate (mean, whisker: 1 std over seeds)", x->name);
        cada_svg_bar_chart c = {title, "ASR %", ng, x->n_methods, gn, sn, col, val, val + nv, 100.0};
        st = cada_svg_bar_chart_write(o, &c);
    }
    free(val);
    free(names);
    free(gn);
    free(sn);
    free(col);
    return st;
}

static cada_status write_file(const char *dir, const char *name, const cada_str *s) {
    char p[CADA_EXP_STR + 64];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (!f) return CADA_ERR(CADA_ERR_IO, "%s: cannot create: %s", p, strerror(errno));
    size_t n = s->len ? fwrite(s->data, 1, s->len, f) : 0;
    int bad = n != s->len;
    if (fclose(f) != 0) bad = 1;
    return bad ? CADA_ERR(CADA_ERR_IO, "%s: write failed", p) : CADA_OK;
}

cada_status cada_exp_tables(const cada_experiment *x, cada_exp_tables_summary *sum) {
    memset(sum, 0, sizeof *sum);
    size_t n = (size_t)x->n_methods * x->n_bench * x->n_attacks * x->n_seeds;
    grid g = {x, malloc(n * sizeof(double)), malloc(n * sizeof(double)), malloc((size_t)x->n_methods * x->n_seeds * sizeof(double))};
    cada_status st = g.rate && g.rubric && g.format ? CADA_OK : CADA_ERR(CADA_ERR_NOMEM, "the results grid");
    for (size_t i = 0; st == CADA_OK && i < n; i++) g.rate[i] = g.rubric[i] = NAN;
    for (int i = 0; st == CADA_OK && i < x->n_methods * x->n_seeds; i++) g.format[i] = NAN;
    for (int m = 0; m < x->n_methods && st == CADA_OK; m++)
        for (int s = 0; s < x->n_seeds && st == CADA_OK; s++)
            for (int a = 0; a < x->n_attacks && st == CADA_OK; a++) {
                char dir[CADA_EXP_STR], file[CADA_EXP_STR + 16];
                struct stat sb;
                cada_exp_eval_dir(x, m, s, a, dir, sizeof dir);
                snprintf(file, sizeof file, "%s/report.json", dir);
                if (stat(file, &sb) != 0) {
                    sum->reports_missing++;
                    continue;
                }
                sum->reports_found++;
                st = read_report(&g, m, s, a, file);
            }
    cada_str js = {0}, md = {0}, svg = {0};
    if (st == CADA_OK) st = write_results_json(&g, &js);
    if (st == CADA_OK) st = write_tables_md(&g, &md);
    if (st == CADA_OK) st = write_svg(&g, &svg);
    if (st == CADA_OK) st = write_file(x->out_dir, "results.json", &js);
    if (st == CADA_OK) st = write_file(x->out_dir, "tables.md", &md);
    if (st == CADA_OK && svg.len) st = write_file(x->out_dir, "asr.svg", &svg);
    cada_str_free(&js);
    cada_str_free(&md);
    cada_str_free(&svg);
    free(g.rate);
    free(g.rubric);
    free(g.format);
    return st;
}
