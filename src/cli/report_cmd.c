/* cli/report_cmd.c: `cada report RUN_DIR [--out DIR]`: charts and a Markdown summary
 * of a training run from its metrics.jsonl (eval/train_report.h). */
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"

#include "cada/text.h"
#include "eval/train_report.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static int usage(void) {
    fprintf(stderr, "usage: cada report RUN_DIR [--out DIR]\n"
                    "  reads RUN_DIR/metrics.jsonl (written by cada train) and writes SVG charts and\n"
                    "  report.md into DIR (default RUN_DIR/report)\n");
    return 2;
}

int cada_cmd_report(int argc, char **argv) {
    const char *run_dir = NULL, *out = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return usage(), 0;
        else if (argv[i][0] != '-' && !run_dir) run_dir = argv[i];
        else return usage();
    }
    if (!run_dir) return usage();
    struct stat sb;
    if (stat(run_dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        CADA_ERR(CADA_ERR_IO, "%s: not a folder%s%s", run_dir, errno ? ": " : "", errno ? strerror(errno) : "");
        return cada_cli_fail("report");
    }
    char metrics[2048], out_dir[2048];
    cada_path_join(metrics, sizeof metrics, run_dir, "metrics.jsonl");
    if (out) snprintf(out_dir, sizeof out_dir, "%s", out);
    else cada_path_join(out_dir, sizeof out_dir, run_dir, "report");
    cada_train_metrics m;
    if (cada_train_metrics_load(metrics, &m) != CADA_OK) return cada_cli_fail("report");
    int charts = 0;
    cada_status st = cada_train_report_write(&m, run_dir, out_dir, &charts);
    if (st == CADA_OK)
        printf("report: %d steps, %d charts -> %s/report.md\n", m.n_rows, charts, out_dir);
    cada_train_metrics_free(&m);
    return st == CADA_OK ? 0 : cada_cli_fail("report");
}
