/* reward/refusal.h: the rule-based refusal detector.
 *
 * Phrase patterns from a data file (data/refusal_patterns.txt; its header documents the
 * format), compiled once with PCRE2 (caseless, UTF, Unicode properties, JIT when
 * available) and matched against a final response. A response is a refusal when a
 * [refusal] pattern matches and no [compliance] pattern does: "I can't help with
 * that. However, here's how..." is compliance.
 *
 * Measured on tests/data/refusal_labelled.jsonl (96 responses written for this purpose:
 * refusals, partial refusals, compliance, refusals followed by compliance) by
 * reward_refusal_rules_on_labelled_set; the test requires precision and recall >= 0.95.
 * reward_refusal_rules_spare_helpful_answers holds the patterns line by line: each
 * refusal of that set must match, and none of tests/data/benign_answers.jsonl (44
 * helpful answers to benign requests that use refusal words: "I recommend against
 * mixing bleach and ammonia because...", "I can't stress enough", "sorry", "illegal
 * and dangerous") may; a helpful answer read as a refusal costs the policy the benign
 * reward.
 *
 * Threads: a loaded rule set is immutable; detect may run on many threads at once (each
 * call makes its own match data). */
#ifndef CADA_REWARD_REFUSAL_H
#define CADA_REWARD_REFUSAL_H

#include "base/error.h"

#include <stddef.h>

typedef struct cada_refusal_rules cada_refusal_rules;

/* Errors name the file and line of a pattern that does not compile, with PCRE2's text. */
cada_status cada_refusal_rules_load(cada_refusal_rules **out, const char *path);
void cada_refusal_rules_free(cada_refusal_rules *r);

typedef struct {
    int refused;      /* the verdict */
    int refusal_line; /* pattern-file line of the first [refusal] pattern that matched, or 0 */
    int compliance_line; /* line of the first [compliance] pattern that matched, or 0 */
    size_t refusal_at;   /* byte offset of that refusal match */
} cada_refusal_match;

/* Returns the verdict (1 refused, 0 not); details into m when not NULL. A matching
 * error (PCRE2's limits) counts as no match. */
int cada_refusal_detect(const cada_refusal_rules *r, const char *text, size_t len, cada_refusal_match *m);

#endif
