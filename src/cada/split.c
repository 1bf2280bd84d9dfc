/* cada/split.c: see split.h. */
#define _POSIX_C_SOURCE 200809L
#include "cada/split.h"

#include "base/fs.h"
#include "base/rng.h"
#include "base/sha256.h"
#include "cada/category.h"
#include "cada/overlap.h"
#include "cada/text.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void cada_split_config_default(cada_split_config *c) {
    memset(c, 0, sizeof *c);
    c->benign_test_fraction = 0.5;
    c->train_label = CADA_LABEL_HARMFUL;
    c->jaccard = CADA_OVERLAP_JACCARD;
    c->containment = CADA_OVERLAP_CONTAINMENT;
    cada_set_options_default(&c->set_options);
}

const char *cada_split_source_path(const char *spec, cada_set_format def, cada_set_format *format) {
    *format = def;
    const char *colon = strchr(spec, ':');
    if (colon && colon != spec && colon - spec < 16) {
        char name[16];
        snprintf(name, sizeof name, "%.*s", (int)(colon - spec), spec);
        if (cada_set_format_parse(name, format) == CADA_OK) return colon + 1;
        cada_error_clear();
        *format = def;
    }
    return spec;
}

/* ---- entries: items with their grams ------------------------------------------------ */

typedef struct {
    const cada_item *item;
    const cada_prompt_set *set;
    cada_grams g;
} entry;

typedef struct {
    entry *e;
    int n, cap;
} entries;

/* Why an item was left out, and the item it matched. Items and sets, not entries:
 * entry arrays grow (and move) while removals are recorded. */
typedef struct {
    const cada_item *who, *match;
    const char *who_src, *match_src; /* set names */
    const char *reason;              /* "duplicate", "near_train", "near_case" */
} removal;

typedef struct {
    removal *r;
    int n, cap;
} removals;

static cada_status entries_add(entries *es, const cada_prompt_set *set, const cada_item *it) {
    if (es->n == es->cap) {
        int cap = es->cap ? 2 * es->cap : 256;
        entry *p = realloc(es->e, sizeof *p * (size_t)cap);
        if (!p) return CADA_ERR(CADA_ERR_NOMEM, "%d split entries", cap);
        es->e = p;
        es->cap = cap;
    }
    entry *e = &es->e[es->n];
    *e = (entry){it, set, {0}};
    CADA_TRY(cada_grams_of(it->prompt, &e->g));
    es->n++;
    return CADA_OK;
}

static void entries_free(entries *es) {
    for (int i = 0; i < es->n; i++) cada_grams_free(&es->e[i].g);
    free(es->e);
    memset(es, 0, sizeof *es);
}

static cada_status removals_add(removals *rs, const entry *who, const char *reason, const entry *match) {
    if (rs->n == rs->cap) {
        int cap = rs->cap ? 2 * rs->cap : 64;
        removal *p = realloc(rs->r, sizeof *p * (size_t)cap);
        if (!p) return CADA_ERR(CADA_ERR_NOMEM, "%d removals", cap);
        rs->r = p;
        rs->cap = cap;
    }
    rs->r[rs->n++] = (removal){who->item, match->item, who->set->name, match->set->name, reason};
    return CADA_OK;
}

static int count_reason(const removals *rs, const char *reason) {
    int n = 0;
    for (int i = 0; i < rs->n; i++) n += !strcmp(rs->r[i].reason, reason);
    return n;
}

static int same_text(const entry *a, const entry *b) { return a->g.n_words == b->g.n_words && a->g.seq == b->g.seq; }

/* The first of against[0..n) that e duplicates (or, with near, nearly duplicates), or
 * NULL. */
static const entry *near_any(const cada_split_config *c, const entry *e, const entry *against, int n, int near) {
    for (int i = 0; i < n; i++)
        if (same_text(e, &against[i]) ||
            (near && cada_near_duplicate(&e->g, &against[i].g, c->jaccard, c->containment, NULL, NULL)))
            return &against[i];
    return NULL;
}

/* Keeps the entries of in that pass: not a duplicate of an earlier kept one (exact, or
 * also near with near_within), not near any of block_a or block_b (reasons reason_a,
 * reason_b). A held-out benchmark keeps its own near-duplicates (HarmBench's "chop
 * shops in Johannesburg" and "... in Sao Paulo" are two behaviours), so its numbers
 * stay comparable with published ones; a training pool drops them. */
static cada_status filter(const cada_split_config *c, const entries *in, int near_within, const entries *block_a,
                          const char *reason_a, const entries *block_b, const char *reason_b, entries *out, removals *rs) {
    for (int i = 0; i < in->n; i++) {
        const entry *e = &in->e[i], *m;
        if ((m = near_any(c, e, out->e, out->n, near_within))) CADA_TRY(removals_add(rs, e, "duplicate", m));
        else if (block_a && (m = near_any(c, e, block_a->e, block_a->n, 1))) CADA_TRY(removals_add(rs, e, reason_a, m));
        else if (block_b && (m = near_any(c, e, block_b->e, block_b->n, 1))) CADA_TRY(removals_add(rs, e, reason_b, m));
        else CADA_TRY(entries_add(out, e->set, e->item));
    }
    return CADA_OK;
}

/* ---- stratified sampling ------------------------------------------------------------ */

/* The stratum of an item: cada's category id when its name maps onto one, else the
 * set's own category name ("" when none). */
static const char *stratum(const cada_item *it) {
    return it->cat != CADA_CAT_NONE ? cada_category_id(it->cat) : it->category;
}

/* Marks want of the n entries in chosen[]: each stratum gets its share of want
 * (largest remainders take the rest; ties to the stratum seen first), and within a
 * stratum a seeded shuffle picks. */
static cada_status sample(const entries *es, int want, uint64_t seed, uint64_t stream, char *chosen) {
    int n = es->n;
    int *order = malloc(sizeof *order * (size_t)(n ? n : 1)), *first = malloc(sizeof *first * (size_t)(n ? n : 1));
    if (!order || !first) {
        free(order);
        free(first);
        return CADA_ERR(CADA_ERR_NOMEM, "sampling %d items", n);
    }
    memset(chosen, 0, (size_t)n);
    /* strata in order of first appearance: first[s] is the first entry of stratum s */
    int n_strata = 0;
    for (int i = 0; i < n; i++) {
        int s = 0;
        while (s < n_strata && strcmp(stratum(es->e[first[s]].item), stratum(es->e[i].item))) s++;
        if (s == n_strata) first[n_strata++] = i;
    }
    int given = 0;
    double *rem = calloc((size_t)(n_strata ? n_strata : 1), sizeof *rem);
    int *quota = calloc((size_t)(n_strata ? n_strata : 1), sizeof *quota);
    cada_status st = rem && quota ? CADA_OK : CADA_ERR(CADA_ERR_NOMEM, "sampling %d strata", n_strata);
    for (int s = 0; st == CADA_OK && s < n_strata; s++) {
        int size = 0;
        for (int i = 0; i < n; i++) size += !strcmp(stratum(es->e[i].item), stratum(es->e[first[s]].item));
        double share = (double)want * size / n;
        quota[s] = (int)floor(share);
        rem[s] = share - quota[s];
        given += quota[s];
    }
    for (; st == CADA_OK && given < want; given++) { /* the largest remainders */
        int best = 0;
        for (int s = 1; s < n_strata; s++)
            if (rem[s] > rem[best]) best = s;
        quota[best]++;
        rem[best] = -1;
    }
    for (int s = 0; st == CADA_OK && s < n_strata; s++) {
        const char *key = stratum(es->e[first[s]].item);
        int m = 0;
        for (int i = 0; i < n; i++)
            if (!strcmp(stratum(es->e[i].item), key)) order[m++] = i;
        cada_rng rng; /* one stream per stratum: adding a stratum does not move the others */
        cada_rng_init(&rng, seed, stream, cada_hash64(key), 0);
        for (int i = m - 1; i > 0; i--) { /* Fisher-Yates */
            int k = (int)(cada_rng_u32(&rng) % (uint32_t)(i + 1));
            int t = order[i];
            order[i] = order[k];
            order[k] = t;
        }
        for (int i = 0; i < quota[s]; i++) chosen[order[i]] = 1;
    }
    free(rem);
    free(quota);
    free(order);
    free(first);
    return st;
}

/* ---- writing ------------------------------------------------------------------------ */

static cada_status json_kv(cada_str *s, const char *key, const char *value, int comma) {
    CADA_TRY(cada_str_printf(s, "%s\"%s\": ", comma ? ", " : "", key));
    return cada_str_json(s, value, strlen(value));
}

/* Writes the entries (those with keep[i], or all when keep is NULL) as JSONL. */
static cada_status write_set(const cada_split_config *c, const char *file, const entries *es, const char *keep) {
    cada_str s = {0}, id = {0};
    cada_status st = CADA_OK;
    char **seen = calloc((size_t)es->n + 1, sizeof *seen);
    int n_seen = 0;
    if (!seen) return CADA_ERR(CADA_ERR_NOMEM, "ids of %s", file);
    for (int i = 0; st == CADA_OK && i < es->n; i++) {
        if (keep && !keep[i]) continue;
        const cada_item *it = es->e[i].item;
        cada_str_clear(&id);
        int dup = 0;
        for (int k = 0; k < n_seen && !dup; k++) dup = !strcmp(seen[k], it->id);
        if (dup) cada_str_printf(&id, "%s:", es->e[i].set->name);
        cada_str_puts(&id, it->id);
        seen[n_seen] = cada_strdup(cada_str_c(&id));
        if (!seen[n_seen++]) st = CADA_ERR(CADA_ERR_NOMEM, "ids of %s", file);
        if (st == CADA_OK) st = cada_str_puts(&s, "{");
        if (st == CADA_OK) st = json_kv(&s, "id", cada_str_c(&id), 0);
        if (st == CADA_OK) st = json_kv(&s, "prompt", it->prompt, 1);
        if (st == CADA_OK) st = json_kv(&s, "category", stratum(it), 1);
        if (st == CADA_OK) st = json_kv(&s, "label", cada_label_name(it->label), 1);
        if (st == CADA_OK) st = json_kv(&s, "source", es->e[i].set->name, 1);
        if (st == CADA_OK) st = cada_str_puts(&s, "}\n");
    }
    char path[1400];
    cada_path_join(path, sizeof path, c->out_dir, file);
    if (st == CADA_OK) st = cada_write_file(path, cada_str_c(&s), s.len);
    for (int k = 0; k < n_seen; k++) free(seen[k]);
    free(seen);
    cada_str_free(&s);
    cada_str_free(&id);
    return st;
}

/* ---- the run ------------------------------------------------------------------------ */

typedef struct {
    const char *spec, *role;
    cada_prompt_set set;
    char sha[65];
    uint64_t bytes;
} source;

typedef struct {
    source src[2 * CADA_SPLIT_MAX_SETS + 2];
    int n_src;
    entries pool, train, cases, benign, benign_train, benign_test, all_train;
    removals pool_out, benign_out;
    char *chosen;
    struct {
        source *src;
        entries in, out;
        removals out_r;
    } test[CADA_SPLIT_MAX_SETS + 1];
    int n_tests;
} split_state;

static cada_status load_source(const cada_split_config *c, split_state *S, const char *spec, const char *role,
                               const char *prompt_field, source **out) {
    source *s = &S->src[S->n_src++];
    s->spec = spec;
    s->role = role;
    cada_set_options o = c->set_options;
    const char *path = cada_split_source_path(spec, c->set_options.format, &o.format);
    if (prompt_field) {
        o.format = CADA_SET_JSONL;
        o.prompt_field = prompt_field;
    }
    CADA_TRY(cada_set_load(&s->set, path, &o));
    CADA_TRY(cada_sha256_file(path, s->sha, &s->bytes));
    *out = s;
    return CADA_OK;
}

/* Adds the items of set whose label is keep (every item when keep is UNKNOWN); counts
 * the others in *dropped. */
static cada_status add_set(entries *es, const cada_prompt_set *set, cada_label keep, int *dropped) {
    for (int i = 0; i < set->n; i++) {
        if (keep != CADA_LABEL_UNKNOWN && set->items[i].label != keep) (*dropped)++;
        else CADA_TRY(entries_add(es, set, &set->items[i]));
    }
    return CADA_OK;
}

static cada_status check_config(const cada_split_config *c) {
    if (!c->out_dir || !c->out_dir[0]) return CADA_ERR(CADA_ERR_CONFIG, "no output folder (--out DIR)");
    if (c->n_train_from < 1) return CADA_ERR(CADA_ERR_CONFIG, "no training source (--train-from FILE)");
    if (c->n_train_from > CADA_SPLIT_MAX_SETS || c->n_tests > CADA_SPLIT_MAX_SETS)
        return CADA_ERR(CADA_ERR_CONFIG, "more than %d training or test sources", CADA_SPLIT_MAX_SETS);
    if (c->train_size < 0) return CADA_ERR(CADA_ERR_CONFIG, "train size %d is negative", c->train_size);
    if (c->benign_from && !(c->benign_test_fraction > 0 && c->benign_test_fraction < 1))
        return CADA_ERR(CADA_ERR_CONFIG, "benign test fraction %g is not in (0, 1)", c->benign_test_fraction);
    if (!(c->jaccard > 0 && c->jaccard <= 1) || !(c->containment > 0 && c->containment <= 1))
        return CADA_ERR(CADA_ERR_CONFIG, "thresholds jaccard %g, containment %g must be in (0, 1]", c->jaccard,
                        c->containment);
    return CADA_OK;
}

/* Loads every input: the training pool (filtered by label), the cases, the benign set
 * and the test sets. */
static cada_status load_all(const cada_split_config *c, split_state *S, int *label_dropped) {
    source *s;
    for (int i = 0; i < c->n_train_from; i++) {
        CADA_TRY(load_source(c, S, c->train_from[i], "train", NULL, &s));
        CADA_TRY(add_set(&S->pool, &s->set, c->train_label, label_dropped));
    }
    if (c->cases_path) {
        CADA_TRY(load_source(c, S, c->cases_path, "cases", "request", &s));
        CADA_TRY(add_set(&S->cases, &s->set, CADA_LABEL_UNKNOWN, label_dropped));
    }
    if (c->benign_from) {
        CADA_TRY(load_source(c, S, c->benign_from, "benign", NULL, &s));
        CADA_TRY(add_set(&S->benign, &s->set, CADA_LABEL_UNKNOWN, label_dropped));
    }
    for (int i = 0; i < c->n_tests; i++) {
        CADA_TRY(load_source(c, S, c->tests[i], "test", NULL, &s));
        for (int k = 0; k < S->n_tests; k++)
            if (!strcmp(S->test[k].src->set.name, s->set.name))
                return CADA_ERR(CADA_ERR_CONFIG, "two test sets are named '%s' (%s, %s): the outputs would collide",
                                s->set.name, S->test[k].src->set.path, s->set.path);
        S->test[S->n_tests].src = s;
        CADA_TRY(add_set(&S->test[S->n_tests++].in, &s->set, CADA_LABEL_UNKNOWN, label_dropped));
    }
    return CADA_OK;
}

/* The training side: the de-duplicated pool without cases, then the sample; the benign
 * set de-duplicated and cut in two. Every training item ends in all_train. */
static cada_status make_train(const cada_split_config *c, split_state *S) {
    CADA_TRY(filter(c, &S->pool, 1, &S->cases, "near_case", NULL, NULL, &S->train, &S->pool_out));
    int want = c->train_size ? c->train_size : S->train.n;
    if (want > S->train.n)
        return CADA_ERR(CADA_ERR_CONFIG,
                        "train size %d is larger than the pool: %d items left after the label filter, %d duplicates "
                        "and %d case-bank requests were removed",
                        want, S->train.n, count_reason(&S->pool_out, "duplicate"), count_reason(&S->pool_out, "near_case"));
    S->chosen = malloc((size_t)S->train.n + 1);
    if (!S->chosen) return CADA_ERR(CADA_ERR_NOMEM, "%d choices", S->train.n);
    CADA_TRY(sample(&S->train, want, c->seed, 1, S->chosen));
    for (int i = 0; i < S->train.n; i++)
        if (S->chosen[i]) CADA_TRY(entries_add(&S->all_train, S->train.e[i].set, S->train.e[i].item));
    if (!c->benign_from) return CADA_OK;
    entries kept = {0};
    cada_status st = filter(c, &S->benign, 1, &S->cases, "near_case", NULL, NULL, &kept, &S->benign_out);
    char *test = st == CADA_OK ? malloc((size_t)kept.n + 1) : NULL;
    if (st == CADA_OK && !test) st = CADA_ERR(CADA_ERR_NOMEM, "%d choices", kept.n);
    int n_test = (int)lround(c->benign_test_fraction * kept.n);
    if (st == CADA_OK && (n_test < 1 || n_test >= kept.n))
        st = CADA_ERR(CADA_ERR_CONFIG, "%s: %d benign prompts left after de-duplication cannot be split %g held out",
                      c->benign_from, kept.n, c->benign_test_fraction);
    if (st == CADA_OK) st = sample(&kept, n_test, c->seed, 2, test);
    for (int i = 0; st == CADA_OK && i < kept.n; i++)
        st = entries_add(test[i] ? &S->benign_test : &S->benign_train, kept.e[i].set, kept.e[i].item);
    for (int i = 0; st == CADA_OK && i < S->benign_train.n; i++)
        st = entries_add(&S->all_train, S->benign_train.e[i].set, S->benign_train.e[i].item);
    free(test);
    entries_free(&kept);
    return st;
}

/* ---- split.json --------------------------------------------------------------------- */

static cada_status json_removed(cada_str *s, const removals *rs) {
    CADA_TRY(cada_str_puts(s, "["));
    for (int i = 0; i < rs->n; i++) {
        CADA_TRY(cada_str_puts(s, i ? ", {" : "{"));
        CADA_TRY(json_kv(s, "id", rs->r[i].who->id, 0));
        CADA_TRY(json_kv(s, "source", rs->r[i].who_src, 1));
        CADA_TRY(json_kv(s, "reason", rs->r[i].reason, 1));
        CADA_TRY(json_kv(s, "match", rs->r[i].match->id, 1));
        CADA_TRY(json_kv(s, "match_source", rs->r[i].match_src, 1));
        CADA_TRY(cada_str_puts(s, "}"));
    }
    return cada_str_puts(s, "]");
}

static cada_status json_categories(cada_str *s, const entries *es, const char *keep) {
    CADA_TRY(cada_str_puts(s, "{"));
    int first = 1;
    for (int i = 0; i < es->n; i++) {
        if (keep && !keep[i]) continue;
        const char *key = stratum(es->e[i].item);
        int seen = 0, count = 0;
        for (int k = 0; k < es->n; k++) {
            if (keep && !keep[k]) continue;
            if (!strcmp(stratum(es->e[k].item), key)) {
                if (k < i) seen = 1;
                count++;
            }
        }
        if (seen) continue;
        CADA_TRY(cada_str_puts(s, first ? "" : ", "));
        CADA_TRY(cada_str_json(s, key[0] ? key : "none", strlen(key[0] ? key : "none")));
        CADA_TRY(cada_str_printf(s, ": %d", count));
        first = 0;
    }
    return cada_str_puts(s, "}");
}

static cada_status write_report(const cada_split_config *c, const split_state *S, int label_dropped) {
    cada_str s = {0};
    cada_status st = cada_str_printf(&s, "{\n  \"seed\": %llu,\n  \"jaccard\": %g,\n  \"containment\": %g,\n",
                                     (unsigned long long)c->seed, c->jaccard, c->containment);
    const char *label = c->train_label == CADA_LABEL_UNKNOWN ? "any" : cada_label_name(c->train_label);
    if (st == CADA_OK) st = cada_str_printf(&s, "  \"train_label\": \"%s\",\n  \"sources\": [", label);
    for (int i = 0; st == CADA_OK && i < S->n_src; i++) {
        const source *x = &S->src[i];
        st = cada_str_puts(&s, i ? ",\n    {" : "\n    {");
        if (st == CADA_OK) st = json_kv(&s, "role", x->role, 0);
        if (st == CADA_OK) st = json_kv(&s, "path", x->set.path, 1);
        if (st == CADA_OK) st = json_kv(&s, "name", x->set.name, 1);
        if (st == CADA_OK) st = json_kv(&s, "format", cada_set_format_name((cada_set_format)x->set.format), 1);
        if (st == CADA_OK) st = json_kv(&s, "sha256", x->sha, 1);
        if (st == CADA_OK)
            st = cada_str_printf(&s, ", \"bytes\": %llu, \"items\": %d, \"skipped\": %d}", (unsigned long long)x->bytes,
                                 x->set.n, x->set.n_skipped);
    }
    if (st == CADA_OK)
        st = cada_str_printf(&s,
                             "\n  ],\n  \"train\": {\"file\": \"train.jsonl\", \"items\": %d, \"requested\": %d, \"pool\": %d, "
                             "\"dropped_label\": %d, \"dropped_duplicate\": %d, \"dropped_near_case\": %d, \"categories\": ",
                             S->all_train.n - S->benign_train.n, c->train_size, S->train.n, label_dropped,
                             count_reason(&S->pool_out, "duplicate"), count_reason(&S->pool_out, "near_case"));
    if (st == CADA_OK) st = json_categories(&s, &S->train, S->chosen);
    if (st == CADA_OK) st = cada_str_puts(&s, ", \"removed\": ");
    if (st == CADA_OK) st = json_removed(&s, &S->pool_out);
    if (st == CADA_OK) st = cada_str_puts(&s, "},\n");
    if (st == CADA_OK && c->benign_from) {
        st = cada_str_printf(&s,
                             "  \"benign\": {\"train_file\": \"train-benign.jsonl\", \"train_items\": %d, \"test_items\": %d, "
                             "\"test_fraction\": %g, \"dropped_duplicate\": %d, \"dropped_near_case\": %d, \"removed\": ",
                             S->benign_train.n, S->benign_test.n, c->benign_test_fraction,
                             count_reason(&S->benign_out, "duplicate"), count_reason(&S->benign_out, "near_case"));
        if (st == CADA_OK) st = json_removed(&s, &S->benign_out);
        if (st == CADA_OK) st = cada_str_puts(&s, "},\n");
    }
    if (st == CADA_OK) st = cada_str_puts(&s, "  \"tests\": [");
    for (int i = 0; st == CADA_OK && i < S->n_tests; i++) {
        const removals *rs = &S->test[i].out_r;
        st = cada_str_printf(&s, "%s\n    {\"name\": ", i ? "," : "");
        if (st == CADA_OK) st = cada_str_json(&s, S->test[i].src->set.name, strlen(S->test[i].src->set.name));
        if (st == CADA_OK)
            st = cada_str_printf(&s,
                                 ", \"file\": \"test-%s.jsonl\", \"items_in\": %d, \"items\": %d, \"removed_duplicate\": %d, "
                                 "\"removed_near_train\": %d, \"removed_near_case\": %d, \"removed\": ",
                                 S->test[i].src->set.name, S->test[i].in.n, S->test[i].out.n, count_reason(rs, "duplicate"),
                                 count_reason(rs, "near_train"), count_reason(rs, "near_case"));
        if (st == CADA_OK) st = json_removed(&s, rs);
        if (st == CADA_OK) st = cada_str_puts(&s, "}");
    }
    if (st == CADA_OK) st = cada_str_puts(&s, "\n  ]\n}\n");
    char path[1400];
    cada_path_join(path, sizeof path, c->out_dir, "split.json");
    if (st == CADA_OK) st = cada_write_file(path, cada_str_c(&s), s.len);
    cada_str_free(&s);
    return st;
}

static cada_status run(const cada_split_config *c, split_state *S, cada_split_result *r) {
    int label_dropped = 0;
    CADA_TRY(check_config(c));
    CADA_TRY(load_all(c, S, &label_dropped));
    CADA_TRY(make_train(c, S));
    if (c->benign_from) { /* the benign held-out part is one more test set */
        source *b = &S->src[c->n_train_from + (c->cases_path != NULL)];
        for (int k = 0; k < S->n_tests; k++)
            if (!strcmp(S->test[k].src->set.name, b->set.name))
                return CADA_ERR(CADA_ERR_CONFIG, "the benign set and a test set are both named '%s'", b->set.name);
        S->test[S->n_tests].src = b;
        S->test[S->n_tests++].in = S->benign_test;
        memset(&S->benign_test, 0, sizeof S->benign_test);
    }
    for (int i = 0; i < S->n_tests; i++)
        CADA_TRY(filter(c, &S->test[i].in, 0, &S->all_train, "near_train", &S->cases, "near_case", &S->test[i].out,
                        &S->test[i].out_r));
    CADA_TRY(cada_mkdir_p(c->out_dir));
    CADA_TRY(write_set(c, "train.jsonl", &S->train, S->chosen));
    if (c->benign_from) CADA_TRY(write_set(c, "train-benign.jsonl", &S->benign_train, NULL));
    memset(r, 0, sizeof *r);
    for (int i = 0; i < S->n_tests; i++) {
        char file[200];
        snprintf(file, sizeof file, "test-%s.jsonl", S->test[i].src->set.name);
        CADA_TRY(write_set(c, file, &S->test[i].out, NULL));
        snprintf(r->test[i].name, sizeof r->test[i].name, "%s", S->test[i].src->set.name);
        r->test[i].n_in = S->test[i].in.n;
        r->test[i].n_out = S->test[i].out.n;
    }
    CADA_TRY(write_report(c, S, label_dropped));
    r->n_pool = S->train.n;
    r->n_train = S->all_train.n - S->benign_train.n;
    r->n_benign_train = S->benign_train.n;
    r->n_tests = S->n_tests;
    return CADA_OK;
}

cada_status cada_split_run(const cada_split_config *c, cada_split_result *r) {
    split_state *S = calloc(1, sizeof *S);
    if (!S) return CADA_ERR(CADA_ERR_NOMEM, "split state");
    cada_status st = run(c, S, r);
    entries *lists[] = {&S->pool, &S->train, &S->cases, &S->benign, &S->benign_train, &S->benign_test, &S->all_train};
    for (size_t i = 0; i < sizeof lists / sizeof *lists; i++) entries_free(lists[i]);
    for (int i = 0; i < S->n_tests; i++) {
        entries_free(&S->test[i].in);
        entries_free(&S->test[i].out);
        free(S->test[i].out_r.r);
    }
    free(S->pool_out.r);
    free(S->benign_out.r);
    free(S->chosen);
    for (int i = 0; i < S->n_src; i++) cada_set_free(&S->src[i].set);
    free(S);
    return st;
}
