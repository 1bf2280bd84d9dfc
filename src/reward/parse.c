/* reward/parse.c: see parse.h. */
#include "reward/parse.h"

#include "cada/text.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

enum { H_NONE = 0, H_ANALYSIS, H_FINAL };

/* Is [p, p+n) (one line, no '\n') a header? Which one? */
static int header_kind(const char *p, size_t n) {
    size_t i = 0;
    while (i < n && (p[i] == ' ' || p[i] == '\t')) i++;
    size_t hashes = 0;
    while (i < n && p[i] == '#') i++, hashes++;
    if (hashes < 1 || hashes > 6) return H_NONE;
    while (i < n && (p[i] == ' ' || p[i] == '\t')) i++;
    size_t end = n;
    while (end > i && (p[end - 1] == ' ' || p[end - 1] == '\t' || p[end - 1] == '\r')) end--;
    if (end > i && p[end - 1] == ':') end--;
    while (end > i && (p[end - 1] == ' ' || p[end - 1] == '\t')) end--;
    size_t len = end - i;
    if (len == 8 && !strncasecmp(p + i, "analysis", 8)) return H_ANALYSIS;
    if (len == 14 && !strncasecmp(p + i, "final response", 14)) return H_FINAL;
    return H_NONE;
}

void cada_parse_completion(const char *text, size_t len, cada_parsed *out) {
    memset(out, 0, sizeof *out);
    /* first Analysis header (start of line, end of line), first Final header; counts */
    long a_start = -1, a_end = -1, f_start = -1, f_end = -1;
    int n_a = 0, n_f = 0;
    for (size_t at = 0; at < len;) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - text) : len;
        int k = header_kind(text + at, end - at);
        size_t next = nl ? end + 1 : len;
        if (k == H_ANALYSIS) {
            if (!n_a++) {
                a_start = (long)at;
                a_end = (long)next;
            }
        } else if (k == H_FINAL) {
            if (!n_f++) {
                f_start = (long)at;
                f_end = (long)next;
            }
        }
        at = next;
    }
    unsigned flags = 0;
    if (n_a > 1 || n_f > 1) flags |= CADA_PARSE_REPEATED;
    const char *fin = text, *ana = text;
    size_t fin_len = len, ana_len = 0;
    if (f_start >= 0) {
        fin = text + f_end;
        fin_len = len - (size_t)f_end;
        if (a_start >= 0 && a_start < f_start) {
            ana = text + a_end;
            ana_len = (size_t)(f_start - a_end);
        } else {
            flags |= CADA_PARSE_MISSING_ANALYSIS;
            if (a_start > f_start) flags |= CADA_PARSE_OUT_OF_ORDER;
        }
    } else {
        flags |= CADA_PARSE_MISSING_FINAL;
        if (a_start < 0) flags |= CADA_PARSE_MISSING_ANALYSIS;
    }
    cada_trim(&fin, &fin_len);
    cada_trim(&ana, &ana_len);
    if (!fin_len) flags |= CADA_PARSE_EMPTY_FINAL;
    out->analysis = ana;
    out->analysis_len = ana_len;
    out->final = fin;
    out->final_len = fin_len;
    out->flags = flags;
}

void cada_parse_stats_add(cada_parse_stats *s, unsigned flags) {
    s->n++;
    s->well_formed += flags == 0;
    s->missing_analysis += (flags & CADA_PARSE_MISSING_ANALYSIS) != 0;
    s->missing_final += (flags & CADA_PARSE_MISSING_FINAL) != 0;
    s->repeated += (flags & CADA_PARSE_REPEATED) != 0;
    s->out_of_order += (flags & CADA_PARSE_OUT_OF_ORDER) != 0;
    s->empty_final += (flags & CADA_PARSE_EMPTY_FINAL) != 0;
}

const char *cada_parse_flags_text(unsigned flags, char *buf, size_t cap) {
    static const char *const names[] = {"missing_analysis", "missing_final", "repeated", "out_of_order", "empty_final"};
    if (!cap) return buf;
    buf[0] = 0;
    if (!flags) {
        snprintf(buf, cap, "ok");
        return buf;
    }
    size_t used = 0;
    for (int i = 0; i < 5; i++)
        if (flags & (1u << i)) {
            int w = snprintf(buf + used, cap - used, "%s%s", used ? "|" : "", names[i]);
            if (w < 0 || (size_t)w >= cap - used) break;
            used += (size_t)w;
        }
    return buf;
}
