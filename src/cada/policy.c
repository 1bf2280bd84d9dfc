/* cada/policy.c: see policy.h. */
#include "cada/policy.h"

#include <stdlib.h>
#include <string.h>

void cada_policy_free(cada_policy *p) {
    for (int i = 0; i < p->n_codes; i++) free(p->codes[i]);
    free(p->codes);
    for (int c = 0; c < CADA_N_CATEGORIES; c++) free(p->spec[c]);
    memset(p, 0, sizeof *p);
}

cada_status cada_policy_codes_text(const cada_policy *p, cada_str *out) {
    for (int i = 0; i < p->n_codes; i++) CADA_TRY(cada_str_printf(out, "%s%d. %s", i ? "\n" : "", i + 1, p->codes[i]));
    return CADA_OK;
}

static cada_status load_codes(cada_policy *p, const char *path) {
    char *data;
    size_t len;
    CADA_TRY(cada_read_file(path, &data, &len));
    cada_status st = CADA_OK;
    for (size_t at = 0; at < len && st == CADA_OK;) {
        const char *nl = memchr(data + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - data) : len;
        const char *t = data + at;
        size_t n = end - at;
        at = end + 1;
        cada_trim(&t, &n);
        if (!n || t[0] == '#') continue;
        char **codes = realloc(p->codes, sizeof *codes * (size_t)(p->n_codes + 1));
        if (!codes) {
            st = CADA_ERR(CADA_ERR_NOMEM, "%s: codes", path);
            break;
        }
        p->codes = codes;
        if (!(p->codes[p->n_codes] = cada_strndup(t, n))) st = CADA_ERR_NOMEM;
        else p->n_codes++;
    }
    free(data);
    if (st == CADA_OK && !p->n_codes) st = CADA_ERR(CADA_ERR_FORMAT, "%s: no safety codes", path);
    return st;
}

static cada_status end_spec(cada_policy *p, int cat, cada_str *body) {
    if (cat < 0) return CADA_OK;
    size_t n = body->len;
    const char *t = cada_str_c(body);
    cada_trim(&t, &n);
    if (!(p->spec[cat] = cada_strndup(t, n))) return CADA_ERR_NOMEM;
    cada_str_clear(body);
    return CADA_OK;
}

static cada_status load_spec(cada_policy *p, const char *path) {
    char *data;
    size_t len;
    CADA_TRY(cada_read_file(path, &data, &len));
    cada_status st = CADA_OK;
    cada_str body = {0};
    int cat = -1;
    long no = 1;
    for (size_t at = 0; at < len && st == CADA_OK; no++) {
        const char *nl = memchr(data + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - data) : len;
        const char *line = data + at;
        size_t n = end - at;
        at = end + 1;
        if (n >= 3 && !memcmp(line, "## ", 3)) {
            if ((st = end_spec(p, cat, &body)) != CADA_OK) break;
            char name[128];
            size_t k = strcspn(line + 3, "|\n");
            const char *nm = line + 3;
            if (k > n - 3) k = n - 3;
            cada_trim(&nm, &k);
            snprintf(name, sizeof name, "%.*s", (int)k, nm);
            cat = cada_category_parse(name);
            if (cat < 0) st = CADA_ERR(CADA_ERR_FORMAT, "%s:%ld: unknown category '%s'", path, no, name);
            else if (p->spec[cat]) st = CADA_ERR(CADA_ERR_FORMAT, "%s:%ld: category '%s' appears twice", path, no, name);
            continue;
        }
        if (cat < 0) continue;
        if ((st = cada_str_append(&body, line, n)) == CADA_OK) st = cada_str_append(&body, "\n", 1);
    }
    if (st == CADA_OK) st = end_spec(p, cat, &body);
    for (int c = 0; st == CADA_OK && c < CADA_N_CATEGORIES; c++)
        if (!p->spec[c] || !p->spec[c][0])
            st = CADA_ERR(CADA_ERR_FORMAT, "%s: no section for category '%s'", path, cada_category_id(c));
    cada_str_free(&body);
    free(data);
    return st;
}

cada_status cada_policy_load(cada_policy *p, const char *codes_path, const char *spec_path) {
    memset(p, 0, sizeof *p);
    cada_status st = load_codes(p, codes_path);
    if (st == CADA_OK) st = load_spec(p, spec_path);
    if (st != CADA_OK) cada_policy_free(p);
    return st;
}
