/* reward/patterns.c: see patterns.h. */
#define _POSIX_C_SOURCE 200809L
#include "reward/patterns.h"

#include "cada/text.h"

#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

struct cada_pattern {
    pcre2_code *code;
    int line, section;
};

void cada_pattern_set_free(cada_pattern_set *s) {
    for (int i = 0; i < s->n; i++) pcre2_code_free(s->p[i].code);
    for (int i = 0; i < s->n_sections; i++) free(s->sections[i]);
    free(s->p);
    free(s->sections);
    memset(s, 0, sizeof *s);
}

int cada_pattern_section(const cada_pattern_set *s, const char *name) {
    for (int i = 0; i < s->n_sections; i++)
        if (!strcmp(s->sections[i], name)) return i;
    return -1;
}

int cada_pattern_count(const cada_pattern_set *s, int section) {
    int k = 0;
    for (int i = 0; i < s->n; i++) k += section < 0 || s->p[i].section == section;
    return k;
}

static cada_status add_pattern(cada_pattern_set *s, const char *path, long line, int section, const char *pat, size_t len) {
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
    cada_pattern *p = realloc(s->p, sizeof *p * (size_t)(s->n + 1));
    if (!p) {
        pcre2_code_free(code);
        return CADA_ERR(CADA_ERR_NOMEM, "%s: patterns", path);
    }
    s->p = p;
    p[s->n++] = (cada_pattern){code, (int)line, section};
    return CADA_OK;
}

/* "[name]" with a name of letters, digits and '_': the section's index (added when new
 * and any name is allowed), -2 when not known, -3 when the line is not a section. */
static int section_line(cada_pattern_set *s, const char *t, size_t n, const char *const *known, int n_known) {
    if (n < 3 || t[0] != '[' || t[n - 1] != ']') return -3;
    for (size_t i = 1; i + 1 < n; i++)
        if (!(t[i] == '_' || (t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' && t[i] <= 'Z') || (t[i] >= '0' && t[i] <= '9'))) return -3;
    char name[64];
    if (n - 2 >= sizeof name) return -2;
    memcpy(name, t + 1, n - 2);
    name[n - 2] = 0;
    int at = cada_pattern_section(s, name);
    if (at >= 0) return at;
    if (known) {
        int ok = 0;
        for (int i = 0; i < n_known && !ok; i++) ok = !strcmp(known[i], name);
        if (!ok) return -2;
    }
    char **grown = realloc(s->sections, sizeof *grown * (size_t)(s->n_sections + 1));
    if (!grown) return -4;
    s->sections = grown;
    if (!(grown[s->n_sections] = strdup(name))) return -4;
    return s->n_sections++;
}

cada_status cada_pattern_set_load(cada_pattern_set *s, const char *path, const char *const *known, int n_known) {
    memset(s, 0, sizeof *s);
    char *data;
    size_t len;
    CADA_TRY(cada_read_file(path, &data, &len));
    cada_status st = CADA_OK;
    int section = -1;
    long no = 0;
    size_t at = 0, n;
    const char *t;
    while (st == CADA_OK && cada_next_line(data, len, &at, &no, &t, &n)) {
        if (!n || t[0] == '#') continue;
        int sec = section_line(s, t, n, known, n_known);
        if (sec >= 0) section = sec;
        else if (sec == -4) st = CADA_ERR(CADA_ERR_NOMEM, "%s: sections", path);
        else if (sec == -2) {
            char list[256] = "";
            for (int i = 0, used = 0; i < n_known && used < (int)sizeof list; i++)
                used += snprintf(list + used, sizeof list - (size_t)used, "%s[%s]", i ? ", " : "", known[i]);
            st = CADA_ERR(CADA_ERR_FORMAT, "%s:%ld: unknown section %.*s (known: %s)", path, no, (int)n, t, list);
        } else if (section < 0) st = CADA_ERR(CADA_ERR_FORMAT, "%s:%ld: pattern before any section", path, no);
        else st = add_pattern(s, path, no, section, t, n);
    }
    free(data);
    if (st != CADA_OK) cada_pattern_set_free(s);
    return st;
}

long cada_pattern_first(const cada_pattern_set *s, int section, const char *text, size_t len, int *line, int *section_out) {
    long best = -1;
    if (line) *line = 0;
    if (section_out) *section_out = -1;
    for (int i = 0; i < s->n; i++) {
        if (section >= 0 && s->p[i].section != section) continue;
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(s->p[i].code, NULL);
        if (!md) continue;
        int rc = pcre2_match(s->p[i].code, (PCRE2_SPTR)text, len, 0, 0, md, NULL);
        if (rc > 0) {
            long at = (long)pcre2_get_ovector_pointer(md)[0];
            if (best < 0 || at < best) {
                best = at;
                if (line) *line = s->p[i].line;
                if (section_out) *section_out = s->p[i].section;
            }
        }
        pcre2_match_data_free(md);
    }
    return best;
}
