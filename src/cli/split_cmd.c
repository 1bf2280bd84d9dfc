/* cli/split_cmd.c: `cada split`: a training set and held-out test sets that share no
 * request (cada/split.h). */
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"

#include "cada/split.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char split_usage[] =
    "usage: cada split --train-from [FORMAT:]FILE[,FILE...] --out DIR [options]\n"
    "  Writes DIR/train.jsonl (train-size items sampled by seed, stratified by category), DIR/test-<name>.jsonl\n"
    "  for every --test set without the items that duplicate a training item or a case of the case bank,\n"
    "  and DIR/split.json (seed, sources with sha256, counts, removed ids and why, thresholds).\n"
    "  --train-from FILES      training pool, comma-separated or repeated (FORMAT: jsonl, csv, xstest,\n"
    "                          harmbench, advbench, strongreject, hexphi, lines; default auto)\n"
    "  --train-size N          items to sample from the pool (default 0: all of it)\n"
    "  --label harmful|benign|any  keep pool items with this label (default harmful)\n"
    "  --test [FORMAT:]FILE    a held-out set (repeatable)\n"
    "  --benign-from FILE      benign prompts, split by seed into DIR/train-benign.jsonl and\n"
    "                          DIR/test-<name>.jsonl\n"
    "  --benign-test-fraction F  the held-out share of --benign-from (default 0.5)\n"
    "  --cases FILE            the case bank whose requests stay out of every set (default\n"
    "                          data/cases.jsonl when it exists; 'none' for none)\n"
    "  --seed S                sampling seed (default 0)\n"
    "  --jaccard J             near-duplicate bar on word 3-gram Jaccard (default 0.5)\n"
    "  --containment C         near-duplicate bar on word 3-gram containment (default 0.8)\n";

static int split_usage_error(const char *what, const char *arg) {
    return cada_cli_usage_error("split", split_usage, what, arg);
}

/* A number option: the whole text must be a number. */
static int number(const char *text, double *v) {
    char *end;
    errno = 0;
    *v = strtod(text, &end);
    return !errno && end != text && !*end;
}

/* Appends the comma-separated files of list to out[]. */
static int add_list(char *list, const char **out, int *n) {
    for (char *save = NULL, *f = strtok_r(list, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
        if (*n == CADA_SPLIT_MAX_SETS) return 0;
        out[(*n)++] = f;
    }
    return 1;
}

static int parse(cada_split_config *c, int argc, char **argv) {
    for (int i = 0; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) return fputs(split_usage, stdout), 0;
        if (o[0] != '-' || i + 1 >= argc) return split_usage_error(o[0] == '-' ? "missing the value of" : "unexpected", o);
        char *v = argv[++i];
        double x = 0;
        int is_num = number(v, &x);
        if (!strcmp(o, "--train-from")) {
            if (!add_list(v, c->train_from, &c->n_train_from)) return split_usage_error("too many training sources:", v);
        } else if (!strcmp(o, "--test")) {
            if (c->n_tests == CADA_SPLIT_MAX_SETS) return split_usage_error("too many test sets:", v);
            c->tests[c->n_tests++] = v;
        } else if (!strcmp(o, "--out")) c->out_dir = v;
        else if (!strcmp(o, "--benign-from")) c->benign_from = v;
        else if (!strcmp(o, "--cases")) c->cases_path = strcmp(v, "none") ? v : NULL;
        else if (!strcmp(o, "--label")) {
            if (!strcmp(v, "any")) c->train_label = CADA_LABEL_UNKNOWN;
            else if ((c->train_label = cada_label_parse(v)) == CADA_LABEL_UNKNOWN)
                return split_usage_error("--label takes harmful, benign or any, not", v);
        } else if (!is_num) return split_usage_error("an unknown option, or a value that is not a number:", o);
        else if (!strcmp(o, "--train-size") && x >= 0 && x == (int)x) c->train_size = (int)x;
        else if (!strcmp(o, "--seed") && x >= 0 && x == (double)(uint64_t)x) c->seed = (uint64_t)x;
        else if (!strcmp(o, "--benign-test-fraction")) c->benign_test_fraction = x;
        else if (!strcmp(o, "--jaccard")) c->jaccard = x;
        else if (!strcmp(o, "--containment")) c->containment = x;
        else return split_usage_error("unknown option or a value out of range:", o);
    }
    if (!c->n_train_from || !c->out_dir) return split_usage_error("give --train-from FILE and --out DIR", NULL);
    return -1;
}

int cada_cmd_split(int argc, char **argv) {
    cada_split_config c;
    cada_split_config_default(&c);
    FILE *f = fopen("data/cases.jsonl", "rb"); /* the project's case bank, run from the repository */
    if (f) {
        fclose(f);
        c.cases_path = "data/cases.jsonl";
    }
    int rc = parse(&c, argc, argv);
    if (rc >= 0) return rc;
    cada_split_result r;
    if (cada_split_run(&c, &r) != CADA_OK) return cada_cli_fail("split");
    printf("split: train.jsonl %d of a pool of %d", r.n_train, r.n_pool);
    if (c.benign_from) printf(", train-benign.jsonl %d", r.n_benign_train);
    printf("\n");
    for (int i = 0; i < r.n_tests; i++)
        printf("split: test-%s.jsonl %d of %d (%d removed)\n", r.test[i].name, r.test[i].n_out, r.test[i].n_in,
               r.test[i].n_in - r.test[i].n_out);
    printf("split: %s/split.json\n", c.out_dir);
    return 0;
}
