/* eval/utility.h: utility benchmarks behind `cada utility`: whether a model still
 * reasons and knows after safety training (the paper reports GSM8K, MMLU and BBH next
 * to attack success).
 *
 * Sets, in their official file formats (cada_utility_load):
 *   gsm8k  JSONL, one {"question", "answer"} per line; the reference is the number
 *          after the last "####" of answer (GSM8K's "... #### 72").
 *          Scored by greedy generation, 0-shot: the question as the user turn of the
 *          model's chat template (raw text for a model without one), followed by the
 *          line CADA_GSM8K_INSTRUCTION. Prediction: the last number in the output
 *          (cada_gsm8k_last_number). Correct: the two numbers equal after
 *          normalisation (thousands commas and a leading '+' dropped, "72.50" = "72.5",
 *          "72.0" = "72").
 *   mmlu   CSV without a header: question, A, B, C, D, answer (a letter A-D), MMLU's
 *          data/{dev,val,test}/<subject>_<split>.csv. Scored by next-token
 *          log-probabilities (one forward pass per question): the prompt is MMLU's own
 *          raw text (Hendrycks et al. 2021): "The following are multiple choice
 *          questions (with answers) about <subject>.\n\n", then `shots` solved examples
 *          of the dev file (each "<question>\nA. ..\nB. ..\nC. ..\nD. ..\nAnswer: X\n\n"),
 *          then the question the same way ending "Answer:". Prediction: the letter whose
 *          token (" A" .. " D", as the tokenizer encodes them) has the highest
 *          log-probability. <subject> is the file name less "_test"/"_val"/"_dev", '_' as
 *          ' '. Without a dev file: 0-shot.
 *   bbh    JSON {"examples": [{"input", "target"}, ...]}, BIG-Bench Hard's
 *          bbh/<task>.json. Greedy generation, 0-shot: the input as the chat user turn
 *          followed by CADA_BBH_INSTRUCTION. Prediction (cada_bbh_answer): the text after
 *          the last "answer is" of the output, else its last non-empty line. Correct:
 *          equal after cada_bbh_normalise.
 * A record that is malformed (not JSON, a missing field, a GSM8K answer without
 * "#### N", an MMLU row of other than 6 fields or an answer not A-D, a BBH example
 * without string input and target) is an error naming path:line (BBH: path and the
 * example's index); an empty set is an error.
 *
 * Output directory (created): report.json {"model", "sets": [{"name", "kind", "path",
 * "n", "correct", "accuracy", "no_answer", "shots"}], "seconds"}, and utility.jsonl, one
 * line per item: set, line, reference, prediction, correct, output (generated
 * text; MMLU: the four letters' log-probabilities). */
#ifndef CADA_EVAL_UTILITY_H
#define CADA_EVAL_UTILITY_H

#include "base/error.h"

#include <stddef.h>

#define CADA_UTILITY_MAX_SETS 16
#define CADA_GSM8K_INSTRUCTION "Solve the problem step by step, then give the final answer as a number on the last line."
#define CADA_BBH_INSTRUCTION "Think step by step, then end with \"So the answer is <answer>.\""

typedef enum { CADA_UTILITY_GSM8K = 0, CADA_UTILITY_MMLU, CADA_UTILITY_BBH } cada_utility_kind;

const char *cada_utility_kind_name(cada_utility_kind k); /* "gsm8k", "mmlu", "bbh" */
cada_status cada_utility_kind_parse(const char *name, cada_utility_kind *k);

typedef struct {
    char *question;   /* GSM8K question, MMLU question, BBH input */
    char *choices[4]; /* MMLU options A-D (NULL otherwise) */
    char *reference;  /* GSM8K: the normalised number; MMLU: "A".."D"; BBH: the target */
    long line;        /* line of the record (BBH: the example's index) */
} cada_utility_item;

typedef struct {
    cada_utility_kind kind;
    char name[128];    /* file name without folder and extension */
    char subject[128]; /* MMLU: the subject from the file name */
    char path[1024];
    cada_utility_item *items;
    int n, cap;
} cada_utility_set;

cada_status cada_utility_load(cada_utility_set *s, cada_utility_kind kind, const char *path);
void cada_utility_set_free(cada_utility_set *s);

/* The last number in text, normalised as above, into out (cap bytes); 0 when there is
 * none (out = ""). Numbers: an optional '-' or '+' right before digits, digits with
 * thousands commas, an optional decimal part ("1,234.50" -> "1234.5"). */
int cada_gsm8k_last_number(const char *text, char *out, size_t cap);
/* The BBH prediction of an output, normalised, into out; 0 when the output is empty. */
int cada_bbh_answer(const char *text, char *out, size_t cap);
/* Lowercase, ASCII spaces collapsed and trimmed, enclosing "**", quotes and a trailing
 * '.' dropped, and a single option letter "(a)" read as "a". */
void cada_bbh_normalise(const char *text, size_t len, char *out, size_t cap);

typedef struct {
    cada_utility_kind kind;
    const char *path;
} cada_utility_spec;

typedef struct {
    const char *model_path;
    cada_utility_spec sets[CADA_UTILITY_MAX_SETS];
    int n_sets;
    const char *mmlu_dev; /* MMLU dev file for the shots; NULL: 0-shot */
    int shots;            /* MMLU examples from mmlu_dev (default 5) */
    int limit;            /* items per set, spread evenly; 0 = all */
    int max_tokens;       /* GSM8K and BBH generated tokens (default 256) */
    int n_slots;          /* sequences together (default 8) */
    unsigned tok_flags;   /* cada_tok_load flags */
    const char *out_dir;
    int progress;
} cada_utility_config;

typedef struct {
    char name[128], path[1024];
    cada_utility_kind kind;
    int n, correct, no_answer, shots;
    double accuracy; /* correct / n */
} cada_utility_result;

typedef struct {
    cada_utility_result sets[CADA_UTILITY_MAX_SETS];
    int n_sets;
    double seconds;
} cada_utility_report;

void cada_utility_config_default(cada_utility_config *c);
cada_status cada_utility_run(const cada_utility_config *c, cada_utility_report *r);

#endif
