/* cada/split.h: a training set and held-out test sets that share no request.
 *
 * Inputs are prompt sets (cada/dataset.h), each named "[FORMAT:]PATH":
 *   train_from   the training pool (e.g. Do-Not-Answer + data/prompts/harmful.jsonl),
 *                filtered to train_label, de-duplicated, cleared of case-bank requests,
 *                then train_size items sampled by seed, stratified by category;
 *   benign_from  (optional) benign prompts split by seed into a benign training part
 *                and a benign held-out part (benign_test_fraction of them), so
 *                over-refusal is measured on prompts not trained on;
 *   tests        held-out sets, each rewritten without its exact internal duplicates
 *                and without any item that is a near-duplicate of a training item
 *                (harmful or benign) or of a case of the case bank. A benchmark's own
 *                near-duplicates stay (they are distinct behaviours there, and keeping
 *                them keeps its numbers comparable); the training pool and the benign
 *                set drop theirs too.
 * "Duplicate" and "near-duplicate" are cada/overlap.h's measures (exact: the same
 * normalised word sequence; near: 3-gram Jaccard >= jaccard or containment >=
 * containment). Within a set the first item (in file order, sources in the order
 * given) is kept.
 *
 * Outputs in out_dir (created; files replaced):
 *   train.jsonl          the sampled training items
 *   train-benign.jsonl   the benign training part (with benign_from)
 *   test-<name>.jsonl    one per test set (<name>: the file name without extension),
 *                        and test-<benign name>.jsonl for the benign held-out part
 *   split.json           seed, thresholds, every source with its sha256, and for every
 *                        set its counts and the ids removed with the reason and the
 *                        item they matched
 * A record is {"id", "prompt", "category", "label", "source"}: category is cada's id
 * (cada/category.h) when the set's name maps onto one, else the set's own name;
 * source is the input file's name. Ids are the source's; an id already written to the
 * same file (two sources numbering alike) gets the source name in front ("<source>:<id>").
 *
 * Disjointness is by construction: no test item written is a near-duplicate of any
 * training item written. The result is a pure function of the inputs, the seed and
 * the thresholds (sampling uses cada_rng streams keyed by the seed).
 *
 * Errors: an input that cannot be read or is malformed (the loader's "path:line:
 * what"), train_size larger than what is left of the pool, two test sets with the same
 * name, a bad fraction or threshold, a write failure. Nothing is half-written: the
 * files are written only after every input was read and checked. */
#ifndef CADA_CADA_SPLIT_H
#define CADA_CADA_SPLIT_H

#include "base/error.h"
#include "cada/dataset.h"

#include <stdint.h>

#define CADA_SPLIT_MAX_SETS 16

typedef struct {
    const char *train_from[CADA_SPLIT_MAX_SETS];
    int n_train_from;
    const char *tests[CADA_SPLIT_MAX_SETS];
    int n_tests;
    const char *benign_from;     /* NULL: no benign split */
    double benign_test_fraction; /* in (0, 1); default 0.5 */
    const char *cases_path;      /* the case bank (JSONL, field "request"); NULL: none */
    int train_size;              /* 0: the whole filtered pool */
    cada_label train_label;      /* keep pool items with this label; UNKNOWN keeps all */
    uint64_t seed;
    double jaccard, containment; /* default CADA_OVERLAP_JACCARD, CADA_OVERLAP_CONTAINMENT */
    cada_set_options set_options; /* formats come from the FORMAT: prefixes (default auto) */
    const char *out_dir;
} cada_split_config;

typedef struct {
    char name[128];
    int n_in, n_out;
} cada_split_set_count;

typedef struct {
    int n_pool;  /* training pool after filtering and de-duplication */
    int n_train; /* written to train.jsonl */
    int n_benign_train;
    int n_tests; /* test sets written, the benign held-out part last */
    cada_split_set_count test[CADA_SPLIT_MAX_SETS + 1];
} cada_split_result;

void cada_split_config_default(cada_split_config *c);
cada_status cada_split_run(const cada_split_config *c, cada_split_result *r);

/* Splits "[FORMAT:]PATH" into its format (def when there is no known prefix) and path. */
const char *cada_split_source_path(const char *spec, cada_set_format def, cada_set_format *format);

#endif
