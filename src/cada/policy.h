/* cada/policy.h: the policy texts of the prompts: the minimal safety codes and the
 * detailed per-category specification (the rule-only baseline).
 *
 * Codes file (data/safety_codes.txt): one code per line; blank lines and lines starting
 * with '#' are skipped. At least one code.
 * Spec file (data/spec.md): a section starts with a line "## <category> | <title>"
 * (the title is for people; the category must be one of cada/category.h's); its text
 * runs to the next "## " line, trailing blank lines removed. Lines before the first
 * section are comments. Every category must have a section, each once. */
#ifndef CADA_CADA_POLICY_H
#define CADA_CADA_POLICY_H

#include "cada/category.h"
#include "cada/text.h"

typedef struct {
    char **codes;
    int n_codes;
    char *spec[CADA_N_CATEGORIES];
} cada_policy;

cada_status cada_policy_load(cada_policy *p, const char *codes_path, const char *spec_path);
void cada_policy_free(cada_policy *p);
/* "1. code\n2. code\n..." (no trailing newline). */
cada_status cada_policy_codes_text(const cada_policy *p, cada_str *out);

#endif
