/* cli/experiment_cmd.c: `cada experiment`, the paper's grid of methods x seeds x attacks
 * x benchmarks (exp/experiment.h), run job by job (exp/runner.h) and gathered into the
 * paper's table layout (exp/tables.h). */
#define _POSIX_C_SOURCE 200809L
#include "base/log.h"
#include "cli/cli.h"
#include "exp/runner.h"
#include "exp/tables.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: cada experiment -c EXPERIMENT.ini [--set key=value]... [--dry-run] [--keep-going] [--tables]\n"
    "  Trains and evaluates every method of the experiment with every seed, under every attack, on\n"
    "  every benchmark (the file's [experiment], [method.NAME] and [benchmark.NAME] sections;\n"
    "  experiments/paper.ini says what each key means), then writes OUT/tables.md (the paper's\n"
    "  Tables 3 and 4: mean +- std over seeds), OUT/results.json and OUT/asr.svg.\n"
    "  Jobs run one after another; each leaves OUT/jobs/NAME.done, and a second run skips what is\n"
    "  done (an interrupted experiment goes on where it stopped). Logs: OUT/logs/NAME.log.\n"
    "  -c, --config FILE   the experiment\n"
    "  --set key=value     an [experiment] key (seeds=1,2, methods=base,cada, attacks=none, ...)\n"
    "  --dry-run           print every job's command line, run nothing\n"
    "  --keep-going        after a failed job, run the jobs that do not need it\n"
    "  --tables            only gather the tables from the reports there are\n";

static int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "cada experiment: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n%s", usage);
    return 2;
}

int cada_cmd_experiment(int argc, char **argv) {
    const char *config = NULL, *sets[64];
    int n_sets = 0, tables_only = 0;
    cada_exp_run_options o = {0};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("%s", usage);
            return 0;
        } else if (!strcmp(a, "-c") || !strcmp(a, "--config")) {
            if (i + 1 == argc) return usage_error("%s needs a file", a);
            config = argv[++i];
        } else if (!strcmp(a, "--set")) {
            if (i + 1 == argc) return usage_error("%s needs key=value", a);
            if (n_sets == 64) return usage_error("more than 64 %s", a);
            sets[n_sets++] = argv[++i];
        } else if (!strcmp(a, "--dry-run")) o.dry_run = 1;
        else if (!strcmp(a, "--keep-going")) o.keep_going = 1;
        else if (!strcmp(a, "--tables")) tables_only = 1;
        else return usage_error("unknown argument '%s'", a);
    }
    if (!config) return usage_error("%s", "give the experiment: -c EXPERIMENT.ini");
    cada_experiment *x = calloc(1, sizeof *x);
    if (!x) return cada_cli_fail("experiment");
    cada_status st = cada_experiment_load(config, x);
    for (int i = 0; i < n_sets && st == CADA_OK; i++) st = cada_experiment_set(x, sets[i]);
    if (st == CADA_OK) st = cada_experiment_check(x);
    if (st != CADA_OK) {
        free(x);
        return cada_cli_fail("experiment");
    }
    /* jobs run this very binary, wherever the experiment is started from */
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) snprintf(self, sizeof self, "%s", "cada");
    else self[n] = 0;
    cada_exp_plan plan;
    st = tables_only ? CADA_OK : cada_experiment_plan(x, self, &plan);
    cada_exp_run_summary sum = {0};
    if (st == CADA_OK && !tables_only) {
        if (!o.dry_run)
            CADA_INFO("experiment %s: %d seeds x %d methods x %d attacks, %d benchmarks: %d jobs, out %s", x->name, x->n_seeds,
                      x->n_methods, x->n_attacks, x->n_bench, plan.n, x->out_dir);
        st = cada_exp_run(x, &plan, &o, &sum);
        cada_exp_plan_free(&plan);
    }
    cada_exp_tables_summary ts = {0};
    /* the tables also after a failed job: what finished is shown */
    if (!o.dry_run) {
        cada_status tst = cada_exp_tables(x, &ts);
        if (st == CADA_OK) st = tst;
    }
    int rc = 0;
    if (st != CADA_OK) rc = cada_cli_fail("experiment");
    if (!o.dry_run) {
        if (!tables_only)
            printf("experiment %s: %d jobs ran, %d were done before, %d failed, %d skipped after a failure (%.0f s)\n", x->name,
                   sum.ran, sum.skipped_done, sum.failed, sum.skipped_blocked, sum.seconds);
        printf("tables: %s/tables.md, results.json, asr.svg (%d eval reports, %d missing)\n", x->out_dir, ts.reports_found,
               ts.reports_missing);
    }
    if (rc == 0 && sum.failed) rc = 1;
    free(x);
    return rc;
}
