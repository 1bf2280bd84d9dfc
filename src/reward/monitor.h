/* reward/monitor.h: the Analysis monitor, a rule that flags harmful operational detail
 * in a completion's reasoning.
 *
 * The reward judges the final response (CADA.md step 4), so a chain whose Analysis
 * spells out how to do harm and then ends in a one-line refusal earns the refusal's
 * reward. The monitor reads the Analysis and flags operational detail: quantities of
 * precursors, recipes, step-by-step instructions for explosives, chemical and
 * biological agents, weapons, drug synthesis, malware, poisoning. Naming a hazard to
 * reason about it ("the user asks for a pipe bomb; code 2 applies") is not flagged:
 * the patterns ask for instruction form (an imperative at the start of a sentence,
 * list item or step, or after "then", "you need to", ...) or a quantity of a named
 * precursor.
 *
 * Patterns: data/monitor_patterns.txt (reward/patterns.h's format), one section per
 * hazard, any name. Measured on tests/data/monitor_labelled.jsonl by
 * reward_monitor_on_labelled_set, which names every analysis it gets wrong.
 *
 * The verdict is a field of cada_reward (monitor_flagged, p_monitor) that an LLM judge
 * can fill instead (p_monitor its probability); this rule gives 0 or 1.
 *
 * Threads: a loaded monitor is immutable; check may run on many threads at once. */
#ifndef CADA_REWARD_MONITOR_H
#define CADA_REWARD_MONITOR_H

#include "base/error.h"

#include <stddef.h>

typedef struct cada_monitor cada_monitor;

/* Errors name the file and line (reward/patterns.h), or a file with no pattern. */
cada_status cada_monitor_load(cada_monitor **out, const char *path);
void cada_monitor_free(cada_monitor *m);
int cada_monitor_n_hazards(const cada_monitor *m);
const char *cada_monitor_hazard(const cada_monitor *m, int i); /* section name; "" out of range */

typedef struct {
    int flagged;
    int hazard; /* section of the earliest match, -1 */
    int line;   /* its pattern-file line, 0 */
    size_t at;  /* its byte offset in the text */
} cada_monitor_match;

/* Returns 1 when text (an Analysis) is flagged; details into out when not NULL. */
int cada_monitor_check(const cada_monitor *m, const char *text, size_t len, cada_monitor_match *out);

#endif
