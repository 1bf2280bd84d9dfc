/* cada/template.h: the sectioned text files of data/ (prompt templates, judge
 * prompts) and their placeholders.
 *
 * File format: lines before the first section are comments. A line that is exactly
 * "[name]" (letters, digits, '_') starts a section; the section's text is every line
 * up to the next section line, with trailing blank lines removed, so text may hold
 * anything else, '#' headers included. A section may appear once.
 *
 * Placeholders: "{name}" in a section's text is replaced by the value of the variable
 * name; "{{" and "}}" stand for literal braces. A placeholder without a variable is an
 * error naming the file and section, so a typo never reaches a prompt. Values are
 * inserted as they are, never scanned again (a request holding "{x}" stays as typed). */
#ifndef CADA_CADA_TEMPLATE_H
#define CADA_CADA_TEMPLATE_H

#include "cada/text.h"

typedef struct {
    char name[32];
    char *text;
} cada_tpl_section;

typedef struct {
    char path[1024];
    cada_tpl_section *sections;
    int n;
} cada_tpl;

cada_status cada_tpl_load(cada_tpl *t, const char *path);
/* Parses text as if read from path (for tests and built-in defaults). */
cada_status cada_tpl_parse(cada_tpl *t, const char *path, const char *text, size_t len);
void cada_tpl_free(cada_tpl *t);
/* The section's text, or NULL when the file has no such section. */
const char *cada_tpl_section_text(const cada_tpl *t, const char *name);

typedef struct {
    const char *name;
    const char *value;
} cada_tpl_var;

/* Appends section `section` of t with placeholders replaced. A missing section is an
 * error when required, else appends nothing. */
cada_status cada_tpl_render(const cada_tpl *t, const char *section, int required, const cada_tpl_var *vars, int n_vars,
                            cada_str *out);

#endif
