/* eval/train_report.c: see train_report.h. */
#include "eval/train_report.h"

#include "base/fs.h"
#include "cada/text.h"
#include "eval/svg.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINE_BYTES ((size_t)1 << 20)
#define NF CADA_TRAIN_METRICS_MAX_FIELDS

int cada_train_metrics_field(const cada_train_metrics *m, const char *name) {
    for (int f = 0; f < m->n_fields; f++)
        if (!strcmp(m->fields[f], name)) return f;
    return -1;
}

void cada_train_metrics_free(cada_train_metrics *m) {
    for (int f = 0; f < m->n_fields; f++) free(m->fields[f]);
    free(m->v);
    memset(m, 0, sizeof *m);
}

/* A new row of NaNs at the end of m. */
static cada_status add_row(cada_train_metrics *m, int *cap) {
    if (m->n_rows == *cap) {
        int grown_cap = *cap ? 2 * *cap : 64;
        double *grown = realloc(m->v, sizeof *grown * (size_t)grown_cap * NF);
        if (!grown) return CADA_ERR(CADA_ERR_NOMEM, "metrics rows");
        m->v = grown;
        *cap = grown_cap;
    }
    for (int f = 0; f < NF; f++) m->v[(long)m->n_rows * NF + f] = NAN;
    m->n_rows++;
    return CADA_OK;
}

/* One line, a JSON object, into the last row. */
static cada_status parse_line(cada_train_metrics *m, const char *path, long no, const char *text, size_t len) {
    cJSON *j = cJSON_ParseWithLength(text, len);
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return CADA_ERR(CADA_ERR_FORMAT, "%s:%ld: not a JSON object", path, no);
    }
    const cJSON *step = cJSON_GetObjectItemCaseSensitive(j, "step");
    if (!cJSON_IsNumber(step)) {
        cJSON_Delete(j);
        return CADA_ERR(CADA_ERR_FORMAT, "%s:%ld: no numeric \"step\"", path, no);
    }
    double *row = &m->v[(long)(m->n_rows - 1) * NF];
    cada_status st = CADA_OK;
    for (const cJSON *it = j->child; it && st == CADA_OK; it = it->next) {
        if (!it->string || !(cJSON_IsNumber(it) || cJSON_IsNull(it))) continue;
        int f = cada_train_metrics_field(m, it->string);
        if (f < 0) {
            if (m->n_fields == NF) {
                st = CADA_ERR(CADA_ERR_FORMAT, "%s:%ld: more than %d numeric keys (\"%s\")", path, no, NF, it->string);
                break;
            }
            if (!(m->fields[m->n_fields] = cada_strdup(it->string))) st = CADA_ERR_NOMEM;
            else f = m->n_fields++;
        }
        if (f >= 0) row[f] = cJSON_IsNumber(it) ? it->valuedouble : NAN;
    }
    cJSON_Delete(j);
    return st;
}

static cada_status load(FILE *f, const char *path, cada_train_metrics *m) {
    /* "step" first, so column 0 is always the x axis */
    if (!(m->fields[0] = cada_strdup("step"))) return CADA_ERR_NOMEM;
    m->n_fields = 1;
    cada_str line = {0};
    cada_status st = CADA_OK;
    int cap = 0;
    for (long no = 1;; no++) {
        int eof = 0;
        if ((st = cada_read_line(f, path, no, MAX_LINE_BYTES, &line, &eof)) != CADA_OK || eof) break;
        const char *t = cada_str_c(&line);
        size_t n = line.len;
        cada_trim(&t, &n);
        if (!n) continue;
        if ((st = add_row(m, &cap)) != CADA_OK || (st = parse_line(m, path, no, t, n)) != CADA_OK) break;
    }
    cada_str_free(&line);
    if (st == CADA_OK && m->n_rows == 0)
        st = CADA_ERR(CADA_ERR_FORMAT, "%s: no metric lines (has the run finished a step?)", path);
    return st;
}

cada_status cada_train_metrics_load(const char *path, cada_train_metrics *m) {
    memset(m, 0, sizeof *m);
    FILE *f = fopen(path, "r");
    if (!f) return CADA_ERR(CADA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    cada_status st = load(f, path, m);
    fclose(f);
    if (st != CADA_OK) cada_train_metrics_free(m);
    return st;
}

/* ---- charts -------------------------------------------------------------------------- */

#define MAX_SERIES 4

typedef struct {
    const char *file, *title, *y_label;
    int from_zero;
    double floor, ceil;              /* y range at least this when floor < ceil */
    const char *field[MAX_SERIES];   /* NULL-terminated */
    const char *name[MAX_SERIES];
    const char *spread;              /* field of the band's half-width around field[0], or NULL */
    const char *band_name;           /* field[0]'s legend when it has the band */
} chart_spec;

static const char *const colors[MAX_SERIES] = {"#2c7fb8", "#d95f02", "#1b9e77", "#7570b3"};

static const chart_spec charts[] = {
    {"reward.svg", "Reward (mean over the step's sequences)", "reward", 0, 0, 0, {"reward_mean"}, {"mean"}, "reward_std",
     "mean (band: +/- one standard deviation)"},
    {"refusal_rate.svg", "Refusal rate on harmful prompts", "share refused", 1, 0, 1, {"refusal_rate_harmful"}, {"refusal rate"}, NULL, NULL},
    {"kl.svg", "KL to the reference", "KL (per token)", 1, 0, 0, {"kl"}, {"kl"}, NULL, NULL},
    {"loss.svg", "Loss", "loss", 0, 0, 0, {"loss"}, {"loss"}, NULL, NULL},
    {"entropy.svg", "Entropy of the policy", "nats per token", 1, 0, 0, {"entropy"}, {"entropy"}, NULL, NULL},
    {"grad_norm.svg", "Gradient norm", "global L2 norm", 1, 0, 0, {"grad_norm"}, {"grad norm"}, NULL, NULL},
    {"tokens_per_s.svg", "Throughput", "tokens per second", 1, 0, 0, {"rollout_tokens_per_s", "learner_tokens_per_s"},
     {"rollout (generated tokens)", "learner (sequence tokens)"}, NULL, NULL},
    {"time.svg", "Time per phase", "seconds", 1, 0, 0, {"rollout_s", "exchange_s", "learn_s"},
     {"rollout", "exchange", "learn"}, NULL, NULL},
};
#define N_CHARTS ((int)(sizeof charts / sizeof charts[0]))

/* Column f of m into out (n_rows). */
static void column(const cada_train_metrics *m, int f, double *out) {
    for (int r = 0; r < m->n_rows; r++) out[r] = cada_train_metrics_at(m, r, f);
}

/* Writes the chart when m has at least one of its fields; *written says whether. */
static cada_status write_chart(const cada_train_metrics *m, const chart_spec *c, const char *out_dir, int *written) {
    *written = 0;
    int n = m->n_rows, ns = 0;
    cada_svg_series s[MAX_SERIES];
    double *buf = CADA_CALLOC((size_t)n * (MAX_SERIES + 3), sizeof *buf, "chart columns");
    if (!buf) return CADA_ERR_NOMEM;
    double *x = buf + (size_t)n * MAX_SERIES, *lo = x + n, *hi = lo + n;
    column(m, 0, x);
    for (int k = 0; k < MAX_SERIES && c->field[k]; k++) {
        int f = cada_train_metrics_field(m, c->field[k]);
        if (f < 0) continue;
        double *y = buf + (size_t)n * ns;
        column(m, f, y);
        s[ns] = (cada_svg_series){.name = c->name[k], .color = colors[k], .y = y};
        int sf = k == 0 && c->spread ? cada_train_metrics_field(m, c->spread) : -1;
        if (sf >= 0) {
            for (int r = 0; r < n; r++) {
                double d = cada_train_metrics_at(m, r, sf);
                lo[r] = y[r] - d;
                hi[r] = y[r] + d;
            }
            s[ns].lo = lo;
            s[ns].hi = hi;
            s[ns].name = c->band_name;
        }
        ns++;
    }
    cada_status st = CADA_OK;
    if (ns) {
        cada_svg_line_chart lc = {.title = c->title, .x_label = "step", .y_label = c->y_label, .n = n, .x = x, .series = s,
                                  .n_series = ns, .y_from_zero = c->from_zero, .y_floor = c->floor, .y_ceil = c->ceil};
        cada_str svg = {0};
        char path[2048];
        cada_path_join(path, sizeof path, out_dir, c->file);
        st = cada_svg_line_chart_write(&svg, &lc);
        if (st == CADA_OK) st = cada_write_file(path, cada_str_c(&svg), svg.len);
        cada_str_free(&svg);
        *written = st == CADA_OK;
    }
    free(buf);
    return st;
}

/* ---- report.md ----------------------------------------------------------------------- */

static cada_status num(cada_str *o, double v) {
    return isfinite(v) ? cada_str_printf(o, "%.4g", v) : cada_str_puts(o, "-");
}

static cada_status summary_row(cada_str *o, const cada_train_metrics *m, const char *label, const char *field) {
    int f = cada_train_metrics_field(m, field);
    if (f < 0) return CADA_OK;
    double a = cada_train_metrics_at(m, 0, f), b = cada_train_metrics_at(m, m->n_rows - 1, f);
    CADA_TRY(cada_str_printf(o, "| %s | ", label));
    CADA_TRY(num(o, a));
    CADA_TRY(cada_str_puts(o, " | "));
    CADA_TRY(num(o, b));
    CADA_TRY(cada_str_puts(o, " | "));
    if (isfinite(a) && isfinite(b)) CADA_TRY(cada_str_printf(o, "%+.4g", b - a));
    else CADA_TRY(cada_str_puts(o, "-"));
    return cada_str_puts(o, " |\n");
}

/* Sum of a column over the finite entries; NAN when the column is absent. */
static double column_sum(const cada_train_metrics *m, const char *field) {
    int f = cada_train_metrics_field(m, field);
    if (f < 0) return NAN;
    double s = 0;
    for (int r = 0; r < m->n_rows; r++)
        if (isfinite(cada_train_metrics_at(m, r, f))) s += cada_train_metrics_at(m, r, f);
    return s;
}

static cada_status markdown(cada_str *o, const cada_train_metrics *m, const char *run_name, const int *written) {
    double first = cada_train_metrics_at(m, 0, 0), last = cada_train_metrics_at(m, m->n_rows - 1, 0);
    CADA_TRY(cada_str_puts(o, "# cada train report: "));
    CADA_TRY(cada_str_puts(o, run_name));
    CADA_TRY(cada_str_printf(o, "\n\n%d metric lines, steps %.0f to %.0f (from metrics.jsonl).\n\n", m->n_rows, first, last));
    CADA_TRY(cada_str_printf(o, "| metric | first (step %.0f) | last (step %.0f) | change |\n|---|---:|---:|---:|\n", first, last));
    CADA_TRY(summary_row(o, m, "reward mean", "reward_mean"));
    CADA_TRY(summary_row(o, m, "refusal rate (harmful prompts)", "refusal_rate_harmful"));
    CADA_TRY(summary_row(o, m, "KL to the reference", "kl"));
    CADA_TRY(summary_row(o, m, "loss", "loss"));
    const char *phase[] = {"rollout_s", "exchange_s", "learn_s"}, *phase_name[] = {"rollout", "exchange", "learn"};
    double total = 0, t[3];
    int have = 0;
    for (int k = 0; k < 3; k++) {
        t[k] = column_sum(m, phase[k]);
        if (isfinite(t[k])) {
            total += t[k];
            have = 1;
        }
    }
    if (have) {
        CADA_TRY(cada_str_printf(o, "\nTotal time of the steps: %.1f s (", total));
        for (int k = 0, sep = 0; k < 3; k++) {
            if (!isfinite(t[k])) continue;
            CADA_TRY(cada_str_printf(o, "%s%s %.1f s, %.0f%%", sep++ ? "; " : "", phase_name[k], t[k],
                                     total > 0 ? 100 * t[k] / total : 0.0));
        }
        CADA_TRY(cada_str_puts(o, ").\n"));
    }
    for (int c = 0; c < N_CHARTS; c++)
        if (written[c]) CADA_TRY(cada_str_printf(o, "\n## %s\n\n![%s](%s)\n", charts[c].title, charts[c].title, charts[c].file));
    return CADA_OK;
}

cada_status cada_train_report_write(const cada_train_metrics *m, const char *run_name, const char *out_dir, int *n_charts) {
    if (m->n_rows < 1) return CADA_ERR(CADA_ERR_ARG, "train report: no metric lines");
    CADA_TRY(cada_mkdir_p(out_dir));
    int written[N_CHARTS], count = 0;
    for (int c = 0; c < N_CHARTS; c++) {
        CADA_TRY(write_chart(m, &charts[c], out_dir, &written[c]));
        count += written[c];
    }
    cada_str md = {0};
    char path[2048];
    cada_path_join(path, sizeof path, out_dir, "report.md");
    cada_status st = markdown(&md, m, run_name, written);
    if (st == CADA_OK) st = cada_write_file(path, cada_str_c(&md), md.len);
    cada_str_free(&md);
    if (n_charts) *n_charts = count;
    return st;
}
