/* cada/text.c: see text.h. */
#define _POSIX_C_SOURCE 200809L
#include "cada/text.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static cada_status reserve(cada_str *s, size_t extra) {
    if (s->len + extra + 1 <= s->cap) return CADA_OK;
    size_t cap = s->cap ? s->cap : 64;
    while (cap < s->len + extra + 1) {
        if (cap > ((size_t)1 << 40)) return CADA_ERR(CADA_ERR_NOMEM, "string larger than 1 TiB");
        cap *= 2;
    }
    char *p = realloc(s->data, cap);
    if (!p) return CADA_ERR(CADA_ERR_NOMEM, "string of %zu bytes", cap);
    s->data = p;
    s->cap = cap;
    return CADA_OK;
}

cada_status cada_str_append(cada_str *s, const char *p, size_t n) {
    CADA_TRY(reserve(s, n));
    if (n) memcpy(s->data + s->len, p, n);
    s->len += n;
    s->data[s->len] = 0;
    return CADA_OK;
}

cada_status cada_str_puts(cada_str *s, const char *p) { return cada_str_append(s, p, strlen(p)); }

cada_status cada_str_printf(cada_str *s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return CADA_ERR(CADA_ERR_INTERNAL, "bad format '%s'", fmt);
    CADA_TRY(reserve(s, (size_t)n));
    va_start(ap, fmt);
    vsnprintf(s->data + s->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    s->len += (size_t)n;
    return CADA_OK;
}

cada_status cada_str_json(cada_str *s, const char *p, size_t n) {
    CADA_TRY(cada_str_append(s, "\"", 1));
    size_t run = 0; /* bytes copied verbatim in one append */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        const char *esc = NULL;
        char buf[8];
        if (c == '"') esc = "\\\"";
        else if (c == '\\') esc = "\\\\";
        else if (c == '\n') esc = "\\n";
        else if (c == '\r') esc = "\\r";
        else if (c == '\t') esc = "\\t";
        else if (c < 0x20 || c == 0x7f) {
            snprintf(buf, sizeof buf, "\\u%04x", c);
            esc = buf;
        }
        if (!esc) continue;
        CADA_TRY(cada_str_append(s, p + run, i - run));
        CADA_TRY(cada_str_puts(s, esc));
        run = i + 1;
    }
    CADA_TRY(cada_str_append(s, p + run, n - run));
    return cada_str_append(s, "\"", 1);
}

void cada_str_clear(cada_str *s) {
    s->len = 0;
    if (s->data) s->data[0] = 0;
}

void cada_str_free(cada_str *s) {
    free(s->data);
    s->data = NULL;
    s->len = s->cap = 0;
}

cada_status cada_read_file(const char *path, char **data, size_t *len) {
    *data = NULL;
    if (len) *len = 0;
    FILE *f;
    CADA_FOPEN_TRY(f, path, "rb");
    cada_str s = {0};
    char buf[65536];
    size_t got;
    cada_status st = CADA_OK;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0) {
        if (s.len + got > ((size_t)1 << 30)) {
            st = CADA_ERR(CADA_ERR_NOMEM, "%s: larger than 1 GiB", path);
            break;
        }
        if ((st = cada_str_append(&s, buf, got)) != CADA_OK) break;
    }
    if (st == CADA_OK && ferror(f)) st = CADA_ERR(CADA_ERR_IO, "%s: read failed: %s", path, strerror(errno));
    fclose(f);
    if (st == CADA_OK && !s.data) st = cada_str_append(&s, "", 0);
    if (st != CADA_OK) {
        cada_str_free(&s);
        return st;
    }
    *data = s.data;
    if (len) *len = s.len;
    return CADA_OK;
}

cada_status cada_read_line(FILE *f, const char *path, long line_no, size_t max_bytes, cada_str *line, int *eof) {
    cada_str_clear(line);
    *eof = 0;
    int c, any = 0;
    while ((c = fgetc(f)) != EOF) {
        any = 1;
        if (c == '\n') break;
        if (line->len >= max_bytes)
            return CADA_ERR(CADA_ERR_FORMAT, "%s:%ld: line longer than %zu bytes", path, line_no, max_bytes);
        char ch = (char)c;
        CADA_TRY(cada_str_append(line, &ch, 1));
    }
    if (ferror(f)) return CADA_ERR(CADA_ERR_IO, "%s:%ld: read failed: %s", path, line_no, strerror(errno));
    if (!any) {
        *eof = 1;
        return CADA_OK;
    }
    if (line->len && line->data[line->len - 1] == '\r') line->data[--line->len] = 0;
    if (!line->data) CADA_TRY(cada_str_append(line, "", 0));
    return CADA_OK;
}

char *cada_strndup(const char *s, size_t n) {
    char *p = CADA_MALLOC(n + 1, "string copy");
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

char *cada_strdup(const char *s) { return cada_strndup(s, strlen(s)); }

uint64_t cada_hash64(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

void cada_trim(const char **p, size_t *n) {
    while (*n && is_space(**p)) {
        (*p)++;
        (*n)--;
    }
    while (*n && is_space((*p)[*n - 1])) (*n)--;
}

cada_status cada_write_file(const char *path, const char *data, size_t len) {
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return CADA_ERR(CADA_ERR_ARG, "%s: path too long", path);
    FILE *f;
    CADA_FOPEN_TRY(f, tmp, "wb");
    int ok = fwrite(data, 1, len, f) == len;
    ok = (fclose(f) == 0) && ok;
    if (!ok) {
        remove(tmp);
        return CADA_ERR(CADA_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
    }
    if (rename(tmp, path) != 0) {
        remove(tmp);
        return CADA_ERR(CADA_ERR_IO, "%s: rename from %s failed: %s", path, tmp, strerror(errno));
    }
    return CADA_OK;
}

void cada_path_join(char *out, size_t cap, const char *dir, const char *name) {
    if (name[0] == '/' || !dir || !dir[0]) snprintf(out, cap, "%s", name);
    else snprintf(out, cap, "%s/%s", dir, name);
}

int cada_next_line(const char *data, size_t len, size_t *at, long *no, const char **line, size_t *n) {
    if (*at >= len) return 0;
    const char *nl = memchr(data + *at, '\n', len - *at);
    size_t end = nl ? (size_t)(nl - data) : len;
    *line = data + *at;
    *n = end - *at;
    *at = end + 1;
    ++*no;
    cada_trim(line, n);
    return 1;
}
