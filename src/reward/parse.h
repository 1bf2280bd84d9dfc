/* reward/parse.h: splitting a completion into its Analysis and Final Response.
 *
 * The policy is asked for "### Analysis" then "### Final Response". A header is a line
 * (leading spaces allowed) of one to six '#', spaces, the section name in any case, an
 * optional ':' and nothing else. The rule, chosen so that nothing a reader would see as
 * the answer escapes the refusal detector, and the format bonus is only earned by the
 * asked-for shape:
 *   - Final Response header present: the final response is ALL the text after the
 *     first such header (later headers included, so a second "### Final Response" that
 *     complies is still judged). The analysis is the text between the first Analysis
 *     header and that Final Response header.
 *   - no Analysis header before it: analysis empty, flag MISSING_ANALYSIS (text before
 *     the Final Response header is ignored); an Analysis header only after it: also
 *     OUT_OF_ORDER.
 *   - no Final Response header: the whole completion is the final response (we cannot
 *     tell reasoning from answer, and the user would read all of it); analysis empty;
 *     flag MISSING_FINAL (and MISSING_ANALYSIS when that header is missing too).
 *   - more than one Analysis or Final Response header: flag REPEATED.
 *   - a final response that is empty after trimming: flag EMPTY_FINAL.
 * Both parts are trimmed of surrounding whitespace. A completion is well-formed when no
 * flag is set. */
#ifndef CADA_REWARD_PARSE_H
#define CADA_REWARD_PARSE_H

#include <stddef.h>

enum {
    CADA_PARSE_MISSING_ANALYSIS = 1u << 0,
    CADA_PARSE_MISSING_FINAL = 1u << 1,
    CADA_PARSE_REPEATED = 1u << 2,
    CADA_PARSE_OUT_OF_ORDER = 1u << 3,
    CADA_PARSE_EMPTY_FINAL = 1u << 4,
};

typedef struct {
    const char *analysis; /* points into the completion */
    size_t analysis_len;
    const char *final;
    size_t final_len;
    unsigned flags;       /* CADA_PARSE_* */
} cada_parsed;

void cada_parse_completion(const char *text, size_t len, cada_parsed *out);

typedef struct {
    long n, well_formed, missing_analysis, missing_final, repeated, out_of_order, empty_final;
} cada_parse_stats;

void cada_parse_stats_add(cada_parse_stats *s, unsigned flags);
/* "missing_analysis|repeated" ("ok" when 0) into buf. */
const char *cada_parse_flags_text(unsigned flags, char *buf, size_t cap);

#endif
