/* reward/refusal.c: see refusal.h. */
#include "reward/refusal.h"

#include "cada/text.h"

#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    pcre2_code *code;
    int line;
} rule;

struct cada_refusal_rules {
    rule *refusal, *compliance;
    int n_refusal, n_compliance;
};

void cada_refusal_rules_free(cada_refusal_rules *r) {
    if (!r) return;
    for (int i = 0; i < r->n_refusal; i++) pcre2_code_free(r->refusal[i].code);
    for (int i = 0; i < r->n_compliance; i++) pcre2_code_free(r->compliance[i].code);
    free(r->refusal);
    free(r->compliance);
    free(r);
}

static cada_status add_rule(rule **list, int *n, const char *path, long line, const char *pat, size_t len) {
    int err;
    PCRE2_SIZE off;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)pat, len, PCRE2_CASELESS | PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &off, NULL);
    if (!code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return CADA_ERR(CADA_ERR_FORMAT, "%s:%ld: pattern does not compile at offset %zu: %s", path, line, (size_t)off,
                        (const char *)msg);
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* optional: falls back to the interpreter */
    rule *p = realloc(*list, sizeof *p * (size_t)(*n + 1));
    if (!p) {
        pcre2_code_free(code);
        return CADA_ERR(CADA_ERR_NOMEM, "%s: patterns", path);
    }
    *list = p;
    p[*n] = (rule){code, (int)line};
    (*n)++;
    return CADA_OK;
}

cada_status cada_refusal_rules_load(cada_refusal_rules **out, const char *path) {
    *out = NULL;
    char *data;
    size_t len;
    CADA_TRY(cada_read_file(path, &data, &len));
    cada_refusal_rules *r = calloc(1, sizeof *r);
    if (!r) {
        free(data);
        return CADA_ERR(CADA_ERR_NOMEM, "refusal rules");
    }
    cada_status st = CADA_OK;
    int section = -1; /* 0 refusal, 1 compliance */
    long no = 1;
    for (size_t at = 0; at < len && st == CADA_OK; no++) {
        const char *nl = memchr(data + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - data) : len;
        const char *t = data + at;
        size_t n = end - at;
        at = end + 1;
        cada_trim(&t, &n);
        if (!n || t[0] == '#') continue;
        if (n == 9 && !memcmp(t, "[refusal]", 9)) section = 0;
        else if (n == 12 && !memcmp(t, "[compliance]", 12)) section = 1;
        else if (t[0] == '[' && t[n - 1] == ']' && n < 32 && !memchr(t, '\\', n))
            st = CADA_ERR(CADA_ERR_FORMAT, "%s:%ld: unknown section %.*s (known: [refusal], [compliance])", path, no, (int)n, t);
        else if (section < 0)
            st = CADA_ERR(CADA_ERR_FORMAT, "%s:%ld: pattern before any [refusal] or [compliance] section", path, no);
        else if (section == 0) st = add_rule(&r->refusal, &r->n_refusal, path, no, t, n);
        else st = add_rule(&r->compliance, &r->n_compliance, path, no, t, n);
    }
    free(data);
    if (st == CADA_OK && !r->n_refusal) st = CADA_ERR(CADA_ERR_FORMAT, "%s: no [refusal] patterns", path);
    if (st != CADA_OK) {
        cada_refusal_rules_free(r);
        return st;
    }
    *out = r;
    return CADA_OK;
}

/* Offset of the first match of any rule in list, or -1; *line gets the rule's line. */
static long first_match(const rule *list, int n, const char *text, size_t len, int *line) {
    long best = -1;
    *line = 0;
    for (int i = 0; i < n; i++) {
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(list[i].code, NULL);
        if (!md) continue;
        int rc = pcre2_match(list[i].code, (PCRE2_SPTR)text, len, 0, 0, md, NULL);
        if (rc > 0) {
            long at = (long)pcre2_get_ovector_pointer(md)[0];
            if (best < 0 || at < best) {
                best = at;
                *line = list[i].line;
            }
        }
        pcre2_match_data_free(md);
    }
    return best;
}

int cada_refusal_detect(const cada_refusal_rules *r, const char *text, size_t len, cada_refusal_match *m) {
    cada_refusal_match local;
    if (!m) m = &local;
    memset(m, 0, sizeof *m);
    int rl, cl;
    long at = first_match(r->refusal, r->n_refusal, text, len, &rl);
    if (at < 0) return 0;
    m->refusal_line = rl;
    m->refusal_at = (size_t)at;
    first_match(r->compliance, r->n_compliance, text, len, &cl);
    m->compliance_line = cl;
    m->refused = cl == 0;
    return m->refused;
}
