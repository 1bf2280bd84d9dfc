/* cada/template.c: see template.h. */
#include "cada/template.h"

#include <stdlib.h>
#include <string.h>

void cada_tpl_free(cada_tpl *t) {
    for (int i = 0; i < t->n; i++) free(t->sections[i].text);
    free(t->sections);
    t->sections = NULL;
    t->n = 0;
}

static int section_line(const char *p, size_t n, char *name, size_t cap) {
    if (n < 3 || p[0] != '[' || p[n - 1] != ']' || n - 2 >= cap) return 0;
    for (size_t i = 1; i + 1 < n; i++) {
        char c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return 0;
    }
    memcpy(name, p + 1, n - 2);
    name[n - 2] = 0;
    return 1;
}

static cada_status finish_section(cada_tpl *t, cada_str *body) {
    if (!t->n) return CADA_OK;
    size_t len = body->len;
    while (len && (body->data[len - 1] == '\n' || body->data[len - 1] == '\r')) len--;
    char *text = cada_strndup(body->data ? body->data : "", len);
    if (!text) return CADA_ERR_NOMEM;
    free(t->sections[t->n - 1].text);
    t->sections[t->n - 1].text = text;
    cada_str_clear(body);
    return CADA_OK;
}

cada_status cada_tpl_parse(cada_tpl *t, const char *path, const char *text, size_t len) {
    memset(t, 0, sizeof *t);
    snprintf(t->path, sizeof t->path, "%s", path);
    cada_str body = {0};
    cada_status st = CADA_OK;
    long no = 1;
    for (size_t at = 0; at < len && st == CADA_OK; no++) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - text) : len;
        const char *line = text + at;
        size_t n = end - at;
        at = end + 1;
        if (n && line[n - 1] == '\r') n--;
        char name[32];
        if (section_line(line, n, name, sizeof name)) {
            if ((st = finish_section(t, &body)) != CADA_OK) break;
            if (cada_tpl_section_text(t, name)) {
                st = CADA_ERR(CADA_ERR_FORMAT, "%s:%ld: section [%s] appears twice", path, no, name);
                break;
            }
            cada_tpl_section *s = realloc(t->sections, sizeof *s * (size_t)(t->n + 1));
            if (!s) {
                st = CADA_ERR(CADA_ERR_NOMEM, "%s: sections", path);
                break;
            }
            t->sections = s;
            memset(&s[t->n], 0, sizeof *s);
            snprintf(s[t->n].name, sizeof s[t->n].name, "%s", name);
            s[t->n].text = cada_strdup(""); /* in case the section is empty */
            if (!s[t->n].text) st = CADA_ERR_NOMEM;
            t->n++;
            continue;
        }
        if (!t->n) continue; /* comments before the first section */
        if ((st = cada_str_append(&body, line, n)) == CADA_OK) st = cada_str_append(&body, "\n", 1);
    }
    if (st == CADA_OK) st = finish_section(t, &body);
    if (st == CADA_OK && !t->n) st = CADA_ERR(CADA_ERR_FORMAT, "%s: no [section] line", path);
    cada_str_free(&body);
    if (st != CADA_OK) cada_tpl_free(t);
    return st;
}

cada_status cada_tpl_load(cada_tpl *t, const char *path) {
    char *data;
    size_t len;
    memset(t, 0, sizeof *t);
    CADA_TRY(cada_read_file(path, &data, &len));
    cada_status st = cada_tpl_parse(t, path, data, len);
    free(data);
    return st;
}

const char *cada_tpl_section_text(const cada_tpl *t, const char *name) {
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->sections[i].name, name)) return t->sections[i].text;
    return NULL;
}

cada_status cada_tpl_render(const cada_tpl *t, const char *section, int required, const cada_tpl_var *vars, int n_vars,
                            cada_str *out) {
    const char *s = cada_tpl_section_text(t, section);
    if (!s) {
        if (required) return CADA_ERR(CADA_ERR_FORMAT, "%s: no section [%s]", t->path, section);
        return cada_str_append(out, "", 0);
    }
    const char *run = s;
    for (const char *p = s; *p;) {
        if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
            CADA_TRY(cada_str_append(out, run, (size_t)(p - run) + 1));
            p += 2;
            run = p;
            continue;
        }
        if (*p != '{') {
            p++;
            continue;
        }
        const char *close = strchr(p, '}');
        size_t n = close ? (size_t)(close - p - 1) : 0;
        int found = -1;
        for (int i = 0; close && i < n_vars && found < 0; i++)
            if (strlen(vars[i].name) == n && !memcmp(vars[i].name, p + 1, n)) found = i;
        if (found < 0) {
            int shown = close ? (int)n + 2 : (int)strcspn(p, "\n");
            return CADA_ERR(CADA_ERR_FORMAT, "%s: section [%s]: unknown placeholder '%.*s' (write {{ for a literal brace)",
                            t->path, section, shown, p);
        }
        CADA_TRY(cada_str_append(out, run, (size_t)(p - run)));
        CADA_TRY(cada_str_puts(out, vars[found].value ? vars[found].value : ""));
        p = close + 1;
        run = p;
    }
    return cada_str_append(out, run, strlen(run));
}
