/* reward/patterns.h: a file of PCRE2 phrase patterns in named sections, the form of
 * the refusal detector's (reward/refusal.h) and the Analysis monitor's
 * (reward/monitor.h) data files.
 *
 * One pattern per line, compiled caseless with UTF, Unicode properties and invalid
 * UTF-8 tolerated (JIT when available). Lines starting with '#' and blank lines are
 * ignored; a line "[name]" (name of letters, digits and '_') opens a section. The
 * caller lists the known sections, or accepts any name (the monitor's hazards).
 * Errors name the file and line: a pattern that does not compile (with PCRE2's text),
 * an unknown section, a pattern before any section.
 *
 * Threads: a loaded set is immutable; matching makes its own match data per call. */
#ifndef CADA_REWARD_PATTERNS_H
#define CADA_REWARD_PATTERNS_H

#include "base/error.h"

#include <stddef.h>

typedef struct cada_pattern cada_pattern; /* one compiled pattern (patterns.c) */

typedef struct {
    cada_pattern *p;  /* (n) in file order */
    int n;
    char **sections;  /* (n_sections) names, in order of first appearance */
    int n_sections;
} cada_pattern_set;

/* known: the section names allowed (n_known of them), NULL for any. */
cada_status cada_pattern_set_load(cada_pattern_set *s, const char *path, const char *const *known, int n_known);
void cada_pattern_set_free(cada_pattern_set *s);
/* Index of the section named name, or -1. */
int cada_pattern_section(const cada_pattern_set *s, const char *name);
/* How many patterns section `section` has (-1: all sections). */
int cada_pattern_count(const cada_pattern_set *s, int section);
/* Patterns in section `section` (-1: all): the byte offset of the earliest match in
 * text, or -1 (a matching error of PCRE2's limits counts as no match); *line gets the
 * matching pattern's file line and *section_out its section (either may be NULL). */
long cada_pattern_first(const cada_pattern_set *s, int section, const char *text, size_t len, int *line, int *section_out);

#endif
