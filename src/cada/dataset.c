/* cada/dataset.c: see dataset.h. */
#define _POSIX_C_SOURCE 200809L
#include "cada/dataset.h"

#include "base/log.h"
#include "cada/category.h"
#include "cada/csv.h"
#include "cada/text.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_LINE_BYTES ((size_t)16 << 20)

const char *cada_label_name(cada_label l) {
    return l == CADA_LABEL_HARMFUL ? "harmful" : l == CADA_LABEL_BENIGN ? "benign" : "unknown";
}

cada_label cada_label_parse(const char *s) {
    static const char *const harmful[] = {"harmful", "unsafe", "1", "true", "yes", "refuse"};
    static const char *const benign[] = {"benign", "safe", "0", "false", "no", "help"};
    if (!s) return CADA_LABEL_UNKNOWN;
    for (size_t i = 0; i < sizeof harmful / sizeof *harmful; i++)
        if (!strcasecmp(s, harmful[i])) return CADA_LABEL_HARMFUL;
    for (size_t i = 0; i < sizeof benign / sizeof *benign; i++)
        if (!strcasecmp(s, benign[i])) return CADA_LABEL_BENIGN;
    return CADA_LABEL_UNKNOWN;
}

void cada_set_options_default(cada_set_options *o) {
    memset(o, 0, sizeof *o);
    o->default_label = CADA_LABEL_HARMFUL;
    o->on_error = CADA_ON_ERROR_STOP;
}

static const char *const format_names[] = {"auto",  "jsonl", "csv",          "xstest", "harmbench",
                                           "advbench", "lines", "strongreject", "hexphi"};
#define FORMAT_LIST "auto, jsonl, csv, xstest, harmbench, advbench, lines, strongreject, hexphi"

const char *cada_set_format_name(cada_set_format f) {
    return (unsigned)f < sizeof format_names / sizeof *format_names ? format_names[f] : "?";
}

cada_status cada_set_format_parse(const char *name, cada_set_format *f) {
    for (size_t i = 0; i < sizeof format_names / sizeof *format_names; i++)
        if (!strcmp(name, format_names[i])) {
            *f = (cada_set_format)i;
            return CADA_OK;
        }
    return CADA_ERR(CADA_ERR_CONFIG, "unknown prompt-set format '%s' (known: " FORMAT_LIST ")", name);
}

cada_status cada_set_options_field(cada_set_options *o, const char *kv) {
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv || !eq[1]) return CADA_ERR(CADA_ERR_CONFIG, "field option '%s' is not KEY=NAME", kv);
    size_t k = (size_t)(eq - kv);
    const char *v = eq + 1;
    static const char *const keys[] = {"id", "prompt", "category", "label", "response", "safe"};
    const char **slots[] = {&o->id_field, &o->prompt_field, &o->category_field, &o->label_field, &o->response_field,
                            &o->safe_field};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        if (strlen(keys[i]) == k && !strncmp(kv, keys[i], k)) {
            *slots[i] = v;
            return CADA_OK;
        }
    return CADA_ERR(CADA_ERR_CONFIG, "unknown field option '%.*s' (known: id, prompt, category, label, response, safe)",
                    (int)k, kv);
}

void cada_set_free(cada_prompt_set *set) {
    for (int i = 0; i < set->n; i++) {
        free(set->items[i].id);
        free(set->items[i].prompt);
        free(set->items[i].category);
        free(set->items[i].response);
        free(set->items[i].rejected);
    }
    free(set->items);
    memset(set, 0, sizeof *set);
}

/* ---- building items --------------------------------------------------------------- */

typedef struct {
    const char *id, *prompt, *category, *label, *response, *safe, *context;
} field_names;

static field_names names_for(const cada_set_options *o, cada_set_format f) {
    field_names n = {"id", "prompt", "category", "label", "response", NULL, NULL};
    if (f == CADA_SET_XSTEST) n.category = "type";
    if (f == CADA_SET_HARMBENCH) n = (field_names){"BehaviorID", "Behavior", "SemanticCategory", NULL, NULL, NULL, "ContextString"};
    if (f == CADA_SET_ADVBENCH) n = (field_names){NULL, "goal", NULL, NULL, NULL, NULL, NULL};
    if (f == CADA_SET_STRONGREJECT) n = (field_names){NULL, "forbidden_prompt", "category", NULL, NULL, NULL, NULL};
    if (o->id_field) n.id = o->id_field;
    if (o->prompt_field) n.prompt = o->prompt_field;
    if (o->category_field) n.category = o->category_field;
    if (o->label_field) n.label = o->label_field;
    if (o->response_field) n.response = o->response_field;
    if (o->safe_field) n.safe = o->safe_field;
    return n;
}

/* Takes ownership of the strings (frees them on failure). */
static cada_status add_item(cada_prompt_set *set, char *id, char *prompt, char *category, char *response, cada_label label,
                            long line) {
    if (!id || !prompt || !category) goto nomem;
    if (set->n == set->cap) {
        int cap = set->cap ? 2 * set->cap : 64;
        cada_item *p = realloc(set->items, sizeof *p * (size_t)cap);
        if (!p) goto nomem;
        set->items = p;
        set->cap = cap;
    }
    set->items[set->n++] = (cada_item){id, prompt, category, response, cada_category_parse(category), label, line, NULL};
    return CADA_OK;
nomem:
    free(id);
    free(prompt);
    free(category);
    free(response);
    return CADA_ERR(CADA_ERR_NOMEM, "%s:%ld: item", set->path, line);
}

static char *default_id(const cada_prompt_set *set, long line) {
    char buf[160];
    snprintf(buf, sizeof buf, "%s:%ld", set->name, line);
    return cada_strdup(buf);
}

/* A malformed record: stop (error) or skip (warning, counted). The message is the
 * current recorded error. */
static cada_status malformed(cada_prompt_set *set, const cada_set_options *o, cada_status st) {
    if (st == CADA_ERR_NOMEM || st == CADA_ERR_IO || o->on_error == CADA_ON_ERROR_STOP) return st;
    CADA_WARN("%s (skipped)", cada_error_message());
    cada_error_clear();
    set->n_skipped++;
    return CADA_OK;
}

/* ---- JSONL ------------------------------------------------------------------------ */

static int json_is_true(const cJSON *v) {
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
    if (cJSON_IsNumber(v)) return v->valuedouble != 0;
    if (cJSON_IsString(v)) return cada_label_parse(v->valuestring) == CADA_LABEL_HARMFUL;
    return 0;
}

static const char *json_category(const cJSON *v) {
    if (cJSON_IsString(v)) return v->valuestring;
    if (cJSON_IsArray(v)) {
        const cJSON *e;
        cJSON_ArrayForEach(e, v) if (cJSON_IsString(e)) return e->valuestring;
    }
    if (cJSON_IsObject(v)) {
        const cJSON *e;
        cJSON_ArrayForEach(e, v) if (json_is_true(e)) return e->string;
    }
    return "";
}

static cada_status jsonl_record(cada_prompt_set *set, const cada_set_options *o, const field_names *fn, const char *text,
                                size_t len, long line) {
    cJSON *j = cJSON_ParseWithLength(text, len);
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return CADA_ERR(CADA_ERR_FORMAT, "%s:%ld: not a JSON object", set->path, line);
    }
    cada_status st = CADA_OK;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, fn->prompt);
    const cJSON *id = fn->id ? cJSON_GetObjectItemCaseSensitive(j, fn->id) : NULL;
    const cJSON *cat = fn->category ? cJSON_GetObjectItemCaseSensitive(j, fn->category) : NULL;
    const cJSON *lab = fn->label ? cJSON_GetObjectItemCaseSensitive(j, fn->label) : NULL;
    const cJSON *safe = fn->safe ? cJSON_GetObjectItemCaseSensitive(j, fn->safe) : NULL;
    const cJSON *resp = fn->response ? cJSON_GetObjectItemCaseSensitive(j, fn->response) : NULL;
    cada_label label = o->default_label;
    if (!cJSON_IsString(p) || !p->valuestring[0]) {
        st = CADA_ERR(CADA_ERR_FORMAT, "%s:%ld: field '%s' is missing, empty or not a string", set->path, line, fn->prompt);
    } else if (lab && !cJSON_IsNull(lab)) {
        if (cJSON_IsString(lab)) label = cada_label_parse(lab->valuestring);
        else if (cJSON_IsBool(lab) || cJSON_IsNumber(lab)) label = json_is_true(lab) ? CADA_LABEL_HARMFUL : CADA_LABEL_BENIGN;
        else label = CADA_LABEL_UNKNOWN;
        if (label == CADA_LABEL_UNKNOWN)
            st = CADA_ERR(CADA_ERR_FORMAT, "%s:%ld: field '%s' is not a label (harmful/benign, unsafe/safe, 1/0)", set->path,
                          line, fn->label);
    } else if (safe && !cJSON_IsNull(safe)) {
        label = json_is_true(safe) ? CADA_LABEL_BENIGN : CADA_LABEL_HARMFUL;
    }
    if (st == CADA_OK && o->require_response && !cJSON_IsString(resp))
        st = CADA_ERR(CADA_ERR_FORMAT, "%s:%ld: field '%s' is missing or not a string", set->path, line,
                      fn->response ? fn->response : "response");
    if (st == CADA_OK && o->require_rejected && !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "rejected")))
        st = CADA_ERR(CADA_ERR_FORMAT, "%s:%ld: field 'rejected' is missing or not a string (learn.algorithm = dpo needs "
                      "a rejected response per record)", set->path, line);
    if (st == CADA_OK) {
        char *ids;
        if (cJSON_IsString(id) && id->valuestring[0]) ids = cada_strdup(id->valuestring);
        else if (cJSON_IsNumber(id)) {
            char buf[64];
            snprintf(buf, sizeof buf, "%.17g", id->valuedouble);
            ids = cada_strdup(buf);
        } else ids = default_id(set, line);
        char *r = cJSON_IsString(resp) ? cada_strdup(resp->valuestring) : NULL;
        st = add_item(set, ids, cada_strdup(p->valuestring), cada_strdup(cat ? json_category(cat) : ""), r, label, line);
        const cJSON *rej = cJSON_GetObjectItemCaseSensitive(j, "rejected");
        if (st == CADA_OK && cJSON_IsString(rej) && !(set->items[set->n - 1].rejected = cada_strdup(rej->valuestring)))
            st = CADA_ERR(CADA_ERR_NOMEM, "%s:%ld: item", set->path, line);
    }
    cJSON_Delete(j);
    return st;
}

static cada_status load_jsonl(cada_prompt_set *set, const cada_set_options *o) {
    field_names fn = names_for(o, CADA_SET_JSONL);
    FILE *f;
    CADA_FOPEN_TRY(f, set->path, "rb");
    cada_str line = {0};
    cada_status st = CADA_OK;
    for (long no = 1;; no++) {
        int eof;
        st = cada_read_line(f, set->path, no, MAX_LINE_BYTES, &line, &eof);
        if (st != CADA_OK) {
            if (st == CADA_ERR_FORMAT && o->on_error == CADA_ON_ERROR_SKIP) {
                /* the rest of an over-long line: drop it */
                int c;
                while ((c = fgetc(f)) != EOF && c != '\n') {
                }
                if ((st = malformed(set, o, st)) == CADA_OK) continue;
            }
            break;
        }
        if (eof) break;
        const char *t = line.data;
        size_t n = line.len;
        cada_trim(&t, &n);
        if (!n) continue;
        st = jsonl_record(set, o, &fn, t, n, no);
        if (st != CADA_OK && (st = malformed(set, o, st)) != CADA_OK) break;
    }
    cada_str_free(&line);
    fclose(f);
    return st;
}

/* ---- CSV -------------------------------------------------------------------------- */

static cada_status load_csv(cada_prompt_set *set, const cada_set_options *o, cada_set_format fmt, const char *data,
                            size_t len) {
    field_names fn = names_for(o, fmt);
    cada_csv c;
    cada_csv_init(&c, set->path, data, len);
    cada_csv_row header = {0}, row = {0};
    int eof;
    cada_status st = cada_csv_next(&c, &header, &eof);
    if (st == CADA_OK && eof) st = CADA_ERR(CADA_ERR_FORMAT, "%s: empty CSV file (no header row)", set->path);
    int col_prompt = -1, col_id = -1, col_cat = -1, col_label = -1, col_resp = -1, col_safe = -1, col_ctx = -1;
    if (st == CADA_OK) {
        col_prompt = cada_csv_column(&header, fn.prompt);
        if (col_prompt < 0) {
            cada_str cols = {0};
            for (int i = 0; i < header.n; i++) cada_str_printf(&cols, "%s'%s'", i ? ", " : "", header.field[i]);
            st = CADA_ERR(CADA_ERR_FORMAT, "%s:%ld: the header has no column '%s' (format %s; columns: %s)", set->path,
                          header.line, fn.prompt, cada_set_format_name(fmt), cada_str_c(&cols));
            cada_str_free(&cols);
        }
        if (fn.id) col_id = cada_csv_column(&header, fn.id);
        if (fmt == CADA_SET_XSTEST && col_id < 0) col_id = cada_csv_column(&header, "id_v2");
        if (fn.category) col_cat = cada_csv_column(&header, fn.category);
        if (fn.label) col_label = cada_csv_column(&header, fn.label);
        if (fn.response) col_resp = cada_csv_column(&header, fn.response);
        if (fn.safe) col_safe = cada_csv_column(&header, fn.safe);
        if (fn.context) col_ctx = cada_csv_column(&header, fn.context);
        if (st == CADA_OK && o->require_response && col_resp < 0)
            st = CADA_ERR(CADA_ERR_FORMAT, "%s:%ld: the header has no column '%s'", set->path, header.line,
                          fn.response ? fn.response : "response");
    }
    while (st == CADA_OK) {
        st = cada_csv_next(&c, &row, &eof);
        if (st == CADA_OK && eof) break;
        if (st == CADA_OK && row.n != header.n)
            st = CADA_ERR(CADA_ERR_FORMAT, "%s:%ld: %d fields, the header has %d", set->path, row.line, row.n, header.n);
        if (st == CADA_OK && !row.field[col_prompt][0])
            st = CADA_ERR(CADA_ERR_FORMAT, "%s:%ld: column '%s' is empty", set->path, row.line, fn.prompt);
        cada_label label = o->default_label;
        if (st == CADA_OK && col_label >= 0 && row.field[col_label][0]) {
            label = cada_label_parse(row.field[col_label]);
            if (label == CADA_LABEL_UNKNOWN)
                st = CADA_ERR(CADA_ERR_FORMAT, "%s:%ld: column '%s' holds '%s', not a label (harmful/benign, unsafe/safe)",
                              set->path, row.line, fn.label, row.field[col_label]);
        } else if (st == CADA_OK && col_safe >= 0 && row.field[col_safe][0]) {
            label = cada_label_parse(row.field[col_safe]) == CADA_LABEL_HARMFUL ? CADA_LABEL_BENIGN : CADA_LABEL_HARMFUL;
        }
        if (st == CADA_OK) {
            cada_str prompt = {0};
            if (col_ctx >= 0 && row.field[col_ctx][0]) {
                cada_str_puts(&prompt, row.field[col_ctx]);
                cada_str_puts(&prompt, "\n\n");
            }
            st = cada_str_puts(&prompt, row.field[col_prompt]);
            if (st == CADA_OK) {
                char *id = col_id >= 0 && row.field[col_id][0] ? cada_strdup(row.field[col_id]) : default_id(set, row.line);
                st = add_item(set, id, prompt.data, cada_strdup(col_cat >= 0 ? row.field[col_cat] : ""),
                              col_resp >= 0 ? cada_strdup(row.field[col_resp]) : NULL, label, row.line);
                prompt.data = NULL;
            }
            cada_str_free(&prompt);
        }
        if (st != CADA_OK) st = malformed(set, o, st);
    }
    cada_csv_row_free(&header);
    cada_csv_row_free(&row);
    return st;
}

/* ---- lines ------------------------------------------------------------------------ */

static cada_status load_lines(cada_prompt_set *set, const cada_set_options *o, const char *data, size_t len) {
    long no = 0;
    const char *t;
    size_t n, at = 0;
    while (cada_next_line(data, len, &at, &no, &t, &n)) {
        if (!n || t[0] == '#') continue;
        CADA_TRY(add_item(set, default_id(set, no), cada_strndup(t, n), cada_strdup(""), NULL, o->default_label, no));
    }
    return CADA_OK;
}

/* ---- HEx-PHI ---------------------------------------------------------------------- */

/* HEx-PHI's eleven categories, in the order of its files category_1 .. category_11
 * (Qi et al., "Fine-tuning Aligned Language Models Compromises Safety", 2023). */
static const char *const hexphi_names[] = {"Illegal Activity",     "Child Abuse Content",   "Hate/Harass/Violence",
                                           "Malware",              "Physical Harm",         "Economic Harm",
                                           "Fraud/Deception",      "Adult Content",         "Political Campaigning",
                                           "Privacy Violation Activity", "Tailored Financial Advice"};

/* HEx-PHI's category for a set named category_N ("" otherwise). */
static const char *hexphi_category(const char *set_name) {
    int n = 0, used = 0;
    if (sscanf(set_name, "category_%d%n", &n, &used) == 1 && !set_name[used] && n >= 1 &&
        n <= (int)(sizeof hexphi_names / sizeof *hexphi_names))
        return hexphi_names[n - 1];
    return "";
}

static cada_status load_hexphi(cada_prompt_set *set, const cada_set_options *o, const char *data, size_t len) {
    const char *category = hexphi_category(set->name);
    if (!category[0]) CADA_WARN("%s: not named category_1.csv .. category_11.csv: its prompts get no category", set->path);
    cada_csv c;
    cada_csv_init(&c, set->path, data, len);
    cada_csv_row row = {0};
    cada_status st = CADA_OK;
    for (;;) {
        int eof;
        st = cada_csv_next(&c, &row, &eof);
        if (st == CADA_OK && eof) break;
        if (st == CADA_OK && row.n != 1)
            st = CADA_ERR(CADA_ERR_FORMAT, "%s:%ld: %d fields; HEx-PHI has one prompt per record (quote a prompt with commas)",
                          set->path, row.line, row.n);
        if (st == CADA_OK && !row.field[0][0]) st = CADA_ERR(CADA_ERR_FORMAT, "%s:%ld: empty prompt", set->path, row.line);
        if (st == CADA_OK)
            st = add_item(set, default_id(set, row.line), cada_strdup(row.field[0]), cada_strdup(category), NULL,
                          o->default_label, row.line);
        if (st != CADA_OK && (st = malformed(set, o, st)) != CADA_OK) break;
    }
    cada_csv_row_free(&row);
    return st;
}

/* ---- entry point ------------------------------------------------------------------ */

static const char *extension(const char *path) {
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash : path, '.');
    return dot ? dot + 1 : "";
}

static cada_set_format sniff_csv(const char *data, size_t len) {
    const char *nl = memchr(data, '\n', len);
    size_t n = nl ? (size_t)(nl - data) : len;
    char head[1024];
    snprintf(head, sizeof head, "%.*s", (int)(n < sizeof head - 1 ? n : sizeof head - 1), data);
    if (strstr(head, "Behavior")) return CADA_SET_HARMBENCH;
    if (strstr(head, "forbidden_prompt")) return CADA_SET_STRONGREJECT;
    if (strstr(head, "goal")) return CADA_SET_ADVBENCH;
    if (strstr(head, "prompt") && strstr(head, "type") && strstr(head, "label")) return CADA_SET_XSTEST;
    return CADA_SET_CSV;
}

cada_status cada_set_load(cada_prompt_set *set, const char *path, const cada_set_options *o) {
    memset(set, 0, sizeof *set);
    snprintf(set->path, sizeof set->path, "%s", path);
    const char *slash = strrchr(path, '/');
    snprintf(set->name, sizeof set->name, "%s", slash ? slash + 1 : path);
    char *dot = strrchr(set->name, '.');
    if (dot && dot != set->name) *dot = 0;
    cada_set_format fmt = o->format;
    const char *ext = extension(path);
    char *data = NULL;
    size_t len = 0;
    cada_status st = CADA_OK;
    if (fmt == CADA_SET_AUTO) {
        if (!strcasecmp(ext, "jsonl") || !strcasecmp(ext, "json")) fmt = CADA_SET_JSONL;
        else if (!strcasecmp(ext, "csv")) fmt = CADA_SET_CSV; /* refined from the header below */
        else if (!strcasecmp(ext, "txt")) fmt = CADA_SET_LINES;
        else
            return CADA_ERR(CADA_ERR_CONFIG, "%s: cannot tell the format from the file name (%s%s%s); name one: " FORMAT_LIST,
                            path, ext[0] ? "extension '." : "no extension", ext, ext[0] ? "'" : "");
    }
    if (fmt == CADA_SET_JSONL) {
        st = load_jsonl(set, o);
    } else {
        st = cada_read_file(path, &data, &len);
        if (st == CADA_OK && o->format == CADA_SET_AUTO && fmt == CADA_SET_CSV)
            fmt = hexphi_category(set->name)[0] ? CADA_SET_HEXPHI : sniff_csv(data, len);
        if (st == CADA_OK)
            st = fmt == CADA_SET_LINES    ? load_lines(set, o, data, len)
                 : fmt == CADA_SET_HEXPHI ? load_hexphi(set, o, data, len)
                                          : load_csv(set, o, fmt, data, len);
    }
    free(data);
    set->format = (int)fmt;
    if (st == CADA_OK && set->n == 0)
        st = CADA_ERR(CADA_ERR_FORMAT, "%s: no prompts (format %s%s)", path, cada_set_format_name(fmt),
                      set->n_skipped ? ", every record malformed" : "");
    if (st != CADA_OK) {
        cada_set_free(set);
        return st;
    }
    if (set->n_skipped)
        CADA_WARN("%s: skipped %d malformed record%s, kept %d", path, set->n_skipped, set->n_skipped == 1 ? "" : "s", set->n);
    return CADA_OK;
}
