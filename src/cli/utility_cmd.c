/* cli/utility_cmd.c: `cada utility`: GSM8K, MMLU and BBH accuracy of a model
 * (eval/utility.h). */
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"

#include "eval/utility.h"
#include "tok/tokenizer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char utility_usage[] =
    "usage: cada utility --set KIND:FILE [--set KIND:FILE]... [options]\n"
    "  Accuracy on utility benchmarks in their official files; writes DIR/report.json (n, correct, accuracy\n"
    "  per set) and DIR/utility.jsonl (every item's reference, prediction and output).\n"
    "  --set KIND:FILE         gsm8k:test.jsonl (greedy, last number of the output), mmlu:SUBJECT_test.csv\n"
    "                          (letter of the highest next-token log-prob), bbh:TASK.json (greedy, exact match)\n"
    "  --model PATH            the model (default $CADA_MODEL, else .cache/models/SmolLM2-135M-Instruct.Q4_1.gguf)\n"
    "  --mmlu-dev FILE         MMLU solved examples for the prompt (SUBJECT_dev.csv); without it 0-shot\n"
    "  --shots N               examples from --mmlu-dev (default 5)\n"
    "  --limit N               items per set, spread evenly over the file (default all)\n"
    "  --max-tokens N          tokens generated per GSM8K/BBH answer (default 256)\n"
    "  --slots N               sequences decoded together (default 8)\n"
    "  --out DIR               output folder (default runs/utility)\n"
    "  --gguf-tokenizer llama.cpp|transformers  a GGUF model's tokenization\n"
    "  --quiet                 no progress lines\n";

static int utility_usage_error(const char *what, const char *arg) {
    return cada_cli_usage_error("utility", utility_usage, what, arg);
}

/* A whole non-negative integer option value. */
static int count_value(const char *text, int *v) {
    char *end;
    errno = 0;
    long x = strtol(text, &end, 10);
    if (errno || end == text || *end || x < 0 || x > 1000000000) return 0;
    *v = (int)x;
    return 1;
}

static int parse(cada_utility_config *c, int argc, char **argv) {
    for (int i = 0; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) return fputs(utility_usage, stdout), 0;
        if (!strcmp(o, "--quiet")) {
            c->progress = 0;
            continue;
        }
        if (o[0] != '-' || i + 1 >= argc) return utility_usage_error(o[0] == '-' ? "missing the value of" : "unexpected", o);
        const char *v = argv[++i];
        if (!strcmp(o, "--set")) {
            const char *colon = strchr(v, ':');
            char kind[16];
            snprintf(kind, sizeof kind, "%.*s", colon ? (int)(colon - v) : 0, v);
            if (!colon || cada_utility_kind_parse(kind, &c->sets[c->n_sets].kind) != CADA_OK)
                return utility_usage_error("--set takes gsm8k:FILE, mmlu:FILE or bbh:FILE, not", v);
            if (c->n_sets == CADA_UTILITY_MAX_SETS) return utility_usage_error("too many sets:", v);
            c->sets[c->n_sets++].path = colon + 1;
        } else if (!strcmp(o, "--model")) c->model_path = v;
        else if (!strcmp(o, "--mmlu-dev")) c->mmlu_dev = v;
        else if (!strcmp(o, "--out")) c->out_dir = v;
        else if (!strcmp(o, "--gguf-tokenizer")) {
            if (cada_tok_gguf_mode_parse(v, &c->tok_flags) != CADA_OK) return utility_usage_error("--gguf-tokenizer:", v);
        } else if (!strcmp(o, "--shots")) {
            if (!count_value(v, &c->shots)) return utility_usage_error("--shots takes a count, not", v);
        } else if (!strcmp(o, "--limit")) {
            if (!count_value(v, &c->limit)) return utility_usage_error("--limit takes a count, not", v);
        } else if (!strcmp(o, "--max-tokens")) {
            if (!count_value(v, &c->max_tokens) || !c->max_tokens)
                return utility_usage_error("--max-tokens takes a count > 0, not", v);
        } else if (!strcmp(o, "--slots")) {
            if (!count_value(v, &c->n_slots) || !c->n_slots) return utility_usage_error("--slots takes a count > 0, not", v);
        } else return utility_usage_error("unknown option", o);
    }
    if (!c->n_sets) return utility_usage_error("give at least one --set KIND:FILE", NULL);
    return -1;
}

int cada_cmd_utility(int argc, char **argv) {
    cada_utility_config c;
    cada_utility_config_default(&c);
    c.model_path = cada_cli_default_model();
    int rc = parse(&c, argc, argv);
    if (rc >= 0) return rc;
    cada_utility_report r;
    if (cada_utility_run(&c, &r) != CADA_OK) return cada_cli_fail("utility");
    for (int s = 0; s < r.n_sets; s++)
        printf("utility: %-24s %-5s n %d  correct %d  accuracy %.4f%s\n", r.sets[s].name, cada_utility_kind_name(r.sets[s].kind),
               r.sets[s].n, r.sets[s].correct, r.sets[s].accuracy, r.sets[s].no_answer ? "  (some without an answer)" : "");
    printf("utility: %s/report.json, utility.jsonl (%.1f s)\n", c.out_dir, r.seconds);
    return 0;
}
