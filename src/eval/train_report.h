/* eval/train_report.h: the report of a training run, `cada report RUN_DIR`.
 *
 * Reads RUN_DIR/metrics.jsonl (one JSON object per step, written by `cada train`,
 * sched/train.h) and writes, into an output folder, one SVG line chart per series
 * (reward mean with its spread band, refusal rate on harmful prompts, KL, loss,
 * entropy, gradient norm, tokens/s, seconds per phase) and report.md, which embeds
 * the charts under a summary table: first and last step of the reward mean, refusal
 * rate and KL, and the run's total time per phase. Charts whose fields the file lacks
 * are left out, so files from older runs still report. Files are written under
 * temporary names and renamed. */
#ifndef CADA_EVAL_TRAIN_REPORT_H
#define CADA_EVAL_TRAIN_REPORT_H

#include "base/error.h"

#define CADA_TRAIN_METRICS_MAX_FIELDS 64

typedef struct {
    int n_rows;   /* metric lines (steps) */
    int n_fields; /* numeric keys, in order of first appearance; fields[0] is "step" */
    char *fields[CADA_TRAIN_METRICS_MAX_FIELDS];
    double *v;    /* (n_rows, CADA_TRAIN_METRICS_MAX_FIELDS) row-major; NaN where a line lacks the
                   * key or holds null */
} cada_train_metrics;

/* Loads a metrics.jsonl. Blank lines are skipped; every other line must be a JSON
 * object with a numeric "step"; numbers and nulls are kept, other values ignored.
 * Errors name the path and line: a line that is not a JSON object, a missing or
 * non-numeric step, more than CADA_TRAIN_METRICS_MAX_FIELDS numeric keys; a file with
 * no line is an error too (CADA_ERR_FORMAT), a missing file CADA_ERR_IO. */
cada_status cada_train_metrics_load(const char *path, cada_train_metrics *m);
void cada_train_metrics_free(cada_train_metrics *m);
/* The column of a key, or -1. */
int cada_train_metrics_field(const cada_train_metrics *m, const char *name);
static inline double cada_train_metrics_at(const cada_train_metrics *m, int row, int field) {
    return m->v[(long)row * CADA_TRAIN_METRICS_MAX_FIELDS + field];
}

/* Writes out_dir/report.md and out_dir/<chart>.svg (out_dir is created); run_name is
 * the heading. *n_charts (may be NULL) gets the number of charts written. */
cada_status cada_train_report_write(const cada_train_metrics *m, const char *run_name, const char *out_dir, int *n_charts);

#endif
