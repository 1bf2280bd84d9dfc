/* eval/utility_data.c: the utility sets' files and answer extraction (utility.h). */
#define _POSIX_C_SOURCE 200809L
#include "eval/utility.h"

#include "cada/csv.h"
#include "cada/text.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const kind_names[] = {"gsm8k", "mmlu", "bbh"};

const char *cada_utility_kind_name(cada_utility_kind k) { return (unsigned)k < 3 ? kind_names[k] : "?"; }

cada_status cada_utility_kind_parse(const char *name, cada_utility_kind *k) {
    for (int i = 0; i < 3; i++)
        if (!strcmp(name, kind_names[i])) {
            *k = (cada_utility_kind)i;
            return CADA_OK;
        }
    return CADA_ERR(CADA_ERR_CONFIG, "unknown utility set kind '%s' (known: gsm8k, mmlu, bbh)", name);
}

/* ---- answers ------------------------------------------------------------------------ */

/* Writes the number [p, p+n) normalised: commas out, a leading '+' out, trailing zeros
 * of a decimal part and a bare '.' out ("-0" stays as written). */
static void put_number(const char *p, size_t n, char *out, size_t cap) {
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < cap; i++)
        if (p[i] != ',' && !(i == 0 && p[i] == '+')) out[k++] = p[i];
    out[k] = 0;
    if (strchr(out, '.')) {
        while (k && out[k - 1] == '0') out[--k] = 0;
        if (k && out[k - 1] == '.') out[--k] = 0;
    }
}

int cada_gsm8k_last_number(const char *text, char *out, size_t cap) {
    const char *best = NULL;
    size_t best_n = 0;
    for (const char *p = text; *p;) {
        if (!isdigit((unsigned char)*p)) {
            p++;
            continue;
        }
        const char *start = p;
        if (start > text && (start[-1] == '-' || start[-1] == '+')) start--;
        while (isdigit((unsigned char)*p) || (*p == ',' && isdigit((unsigned char)p[1]) && isdigit((unsigned char)p[2]) &&
                                              isdigit((unsigned char)p[3])))
            p++;
        if (*p == '.' && isdigit((unsigned char)p[1]))
            for (p++; isdigit((unsigned char)*p);) p++;
        best = start;
        best_n = (size_t)(p - start);
    }
    if (!best) {
        if (cap) out[0] = 0;
        return 0;
    }
    put_number(best, best_n, out, cap);
    return 1;
}

void cada_bbh_normalise(const char *text, size_t len, char *out, size_t cap) {
    size_t k = 0;
    int space = 0;
    for (size_t i = 0; i < len && k + 1 < cap; i++) {
        unsigned char c = (unsigned char)text[i];
        if (isspace(c)) {
            space = k > 0;
            continue;
        }
        if (space && k + 2 < cap) out[k++] = ' ';
        space = 0;
        out[k++] = (char)tolower(c);
    }
    out[k] = 0;
    /* enclosing decoration, then a trailing full stop, until nothing changes */
    for (int changed = 1; changed && k;) {
        changed = 0;
        if (k >= 4 && !strncmp(out, "**", 2) && !strcmp(out + k - 2, "**")) {
            memmove(out, out + 2, k - 4);
            out[k -= 4] = 0;
            changed = 1;
        } else if (k >= 2 && (out[0] == '"' || out[0] == '\'' || out[0] == '`') && out[k - 1] == out[0]) {
            memmove(out, out + 1, k - 2);
            out[k -= 2] = 0;
            changed = 1;
        } else if (out[k - 1] == '.') {
            out[--k] = 0;
            changed = 1;
        }
        while (k && out[k - 1] == ' ') out[--k] = 0;
    }
    if (k == 3 && out[0] == '(' && out[2] == ')') { /* "(a)" -> "a": BBH's option targets */
        out[0] = out[1];
        out[1] = 0;
    }
}

/* The first case-insensitive occurrence of word (lowercase) in text, or NULL. */
static const char *find_ci(const char *text, const char *word) {
    size_t n = strlen(word);
    for (const char *p = text; *p; p++)
        if (!strncasecmp(p, word, n)) return p;
    return NULL;
}

int cada_bbh_answer(const char *text, char *out, size_t cap) {
    const char *from = NULL;
    for (const char *p = text; (p = find_ci(p, "answer is")); p++) from = p + strlen("answer is");
    size_t n;
    if (from) {
        while (*from == ':' || *from == ' ') from++;
        const char *end = strchr(from, '\n');
        n = end ? (size_t)(end - from) : strlen(from);
    } else { /* the last non-empty line */
        const char *end = text + strlen(text);
        while (end > text && isspace((unsigned char)end[-1])) end--;
        from = end;
        while (from > text && from[-1] != '\n') from--;
        n = (size_t)(end - from);
    }
    cada_bbh_normalise(from, n, out, cap);
    return out[0] != 0;
}

/* ---- loading ------------------------------------------------------------------------ */

static cada_status add(cada_utility_set *s, cada_utility_item it) {
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 64;
        cada_utility_item *p = realloc(s->items, sizeof *p * (size_t)cap);
        if (!p) return CADA_ERR(CADA_ERR_NOMEM, "%s: %d items", s->path, cap);
        s->items = p;
        s->cap = cap;
    }
    s->items[s->n++] = it;
    if (!it.question || !it.reference) return CADA_ERR(CADA_ERR_NOMEM, "%s:%ld: item", s->path, it.line);
    for (int i = 0; i < 4 && s->kind == CADA_UTILITY_MMLU; i++)
        if (!it.choices[i]) return CADA_ERR(CADA_ERR_NOMEM, "%s:%ld: item", s->path, it.line);
    return CADA_OK;
}

static cada_status gsm8k_record(cada_utility_set *s, const char *text, size_t len, long line) {
    cJSON *j = cJSON_ParseWithLength(text, len);
    const cJSON *q = j ? cJSON_GetObjectItemCaseSensitive(j, "question") : NULL;
    const cJSON *a = j ? cJSON_GetObjectItemCaseSensitive(j, "answer") : NULL;
    cada_status st = CADA_OK;
    char num[64];
    const char *hashes = cJSON_IsString(a) ? strstr(a->valuestring, "####") : NULL;
    while (hashes && strstr(hashes + 4, "####")) hashes = strstr(hashes + 4, "####");
    if (!cJSON_IsObject(j)) st = CADA_ERR(CADA_ERR_FORMAT, "%s:%ld: not a JSON object", s->path, line);
    else if (!cJSON_IsString(q) || !q->valuestring[0])
        st = CADA_ERR(CADA_ERR_FORMAT, "%s:%ld: field 'question' is missing, empty or not a string", s->path, line);
    else if (!cJSON_IsString(a)) st = CADA_ERR(CADA_ERR_FORMAT, "%s:%ld: field 'answer' is missing or not a string", s->path, line);
    else if (!hashes || !cada_gsm8k_last_number(hashes + 4, num, sizeof num))
        st = CADA_ERR(CADA_ERR_FORMAT, "%s:%ld: field 'answer' does not end with \"#### <number>\"", s->path, line);
    else st = add(s, (cada_utility_item){cada_strdup(q->valuestring), {NULL}, cada_strdup(num), line});
    cJSON_Delete(j);
    return st;
}

static cada_status load_gsm8k(cada_utility_set *s, const char *data, size_t len) {
    long no = 0;
    const char *t;
    size_t n, at = 0;
    while (cada_next_line(data, len, &at, &no, &t, &n))
        if (n) CADA_TRY(gsm8k_record(s, t, n, no));
    return CADA_OK;
}

static cada_status load_mmlu(cada_utility_set *s, const char *data, size_t len) {
    cada_csv c;
    cada_csv_init(&c, s->path, data, len);
    cada_csv_row row = {0};
    cada_status st = CADA_OK;
    for (int eof = 0; st == CADA_OK;) {
        st = cada_csv_next(&c, &row, &eof);
        if (st != CADA_OK || eof) break;
        const char *ans = row.n == 6 ? row.field[5] : "";
        if (row.n != 6)
            st = CADA_ERR(CADA_ERR_FORMAT, "%s:%ld: %d fields; MMLU rows are question,A,B,C,D,answer (no header)", s->path,
                          row.line, row.n);
        else if (strlen(ans) != 1 || ans[0] < 'A' || ans[0] > 'D')
            st = CADA_ERR(CADA_ERR_FORMAT, "%s:%ld: answer '%s' is not one of A, B, C, D", s->path, row.line, ans);
        else
            st = add(s, (cada_utility_item){cada_strdup(row.field[0]),
                                            {cada_strdup(row.field[1]), cada_strdup(row.field[2]), cada_strdup(row.field[3]),
                                             cada_strdup(row.field[4])},
                                            cada_strdup(ans),
                                            row.line});
    }
    cada_csv_row_free(&row);
    return st;
}

static cada_status load_bbh(cada_utility_set *s, const char *data, size_t len) {
    cJSON *j = cJSON_ParseWithLength(data, len);
    const cJSON *ex = j ? cJSON_GetObjectItemCaseSensitive(j, "examples") : NULL;
    cada_status st = CADA_OK;
    if (!cJSON_IsArray(ex)) st = CADA_ERR(CADA_ERR_FORMAT, "%s: not a JSON object with an \"examples\" array", s->path);
    long i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, ex) {
        if (st != CADA_OK) break;
        const cJSON *in = cJSON_GetObjectItemCaseSensitive(e, "input"), *t = cJSON_GetObjectItemCaseSensitive(e, "target");
        if (!cJSON_IsString(in) || !in->valuestring[0] || !cJSON_IsString(t))
            st = CADA_ERR(CADA_ERR_FORMAT, "%s: examples[%ld]: no string \"input\" and \"target\"", s->path, i);
        else st = add(s, (cada_utility_item){cada_strdup(in->valuestring), {NULL}, cada_strdup(t->valuestring), i});
        i++;
    }
    cJSON_Delete(j);
    return st;
}

/* MMLU's subject from "<subject>_test.csv": underscores as spaces. */
static void mmlu_subject(cada_utility_set *s) {
    snprintf(s->subject, sizeof s->subject, "%s", s->name);
    static const char *const splits[] = {"_test", "_val", "_dev"};
    size_t n = strlen(s->subject);
    for (int i = 0; i < 3; i++) {
        size_t k = strlen(splits[i]);
        if (n > k && !strcmp(s->subject + n - k, splits[i])) s->subject[n - k] = 0;
    }
    for (char *p = s->subject; *p; p++)
        if (*p == '_') *p = ' ';
}

cada_status cada_utility_load(cada_utility_set *s, cada_utility_kind kind, const char *path) {
    memset(s, 0, sizeof *s);
    s->kind = kind;
    snprintf(s->path, sizeof s->path, "%s", path);
    const char *slash = strrchr(path, '/');
    snprintf(s->name, sizeof s->name, "%s", slash ? slash + 1 : path);
    char *dot = strrchr(s->name, '.');
    if (dot && dot != s->name) *dot = 0;
    if (kind == CADA_UTILITY_MMLU) mmlu_subject(s);
    char *data = NULL;
    size_t len = 0;
    cada_status st = cada_read_file(path, &data, &len);
    if (st == CADA_OK)
        st = kind == CADA_UTILITY_GSM8K  ? load_gsm8k(s, data, len)
             : kind == CADA_UTILITY_MMLU ? load_mmlu(s, data, len)
                                         : load_bbh(s, data, len);
    free(data);
    if (st == CADA_OK && !s->n) st = CADA_ERR(CADA_ERR_FORMAT, "%s: no items (%s)", path, cada_utility_kind_name(kind));
    if (st != CADA_OK) cada_utility_set_free(s);
    return st;
}

void cada_utility_set_free(cada_utility_set *s) {
    for (int i = 0; i < s->n; i++) {
        free(s->items[i].question);
        free(s->items[i].reference);
        for (int k = 0; k < 4; k++) free(s->items[i].choices[k]);
    }
    free(s->items);
    memset(s, 0, sizeof *s);
}
