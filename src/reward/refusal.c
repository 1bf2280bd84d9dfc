/* reward/refusal.c: see refusal.h. */
#include "reward/refusal.h"

#include "reward/patterns.h"

#include <stdlib.h>
#include <string.h>

enum { SEC_REFUSAL = 0, SEC_COMPLIANCE };
static const char *const sections[] = {"refusal", "compliance"};

struct cada_refusal_rules {
    cada_pattern_set set;
    int refusal, compliance; /* section indices in set (-1: none in the file) */
};

void cada_refusal_rules_free(cada_refusal_rules *r) {
    if (!r) return;
    cada_pattern_set_free(&r->set);
    free(r);
}

cada_status cada_refusal_rules_load(cada_refusal_rules **out, const char *path) {
    *out = NULL;
    cada_refusal_rules *r = calloc(1, sizeof *r);
    if (!r) return CADA_ERR(CADA_ERR_NOMEM, "refusal rules");
    cada_status st = cada_pattern_set_load(&r->set, path, sections, 2);
    if (st != CADA_OK) {
        free(r);
        return st;
    }
    r->refusal = cada_pattern_section(&r->set, sections[SEC_REFUSAL]);
    r->compliance = cada_pattern_section(&r->set, sections[SEC_COMPLIANCE]);
    if (r->refusal < 0 || cada_pattern_count(&r->set, r->refusal) == 0) {
        cada_refusal_rules_free(r);
        return CADA_ERR(CADA_ERR_FORMAT, "%s: no [refusal] patterns", path);
    }
    *out = r;
    return CADA_OK;
}

int cada_refusal_detect(const cada_refusal_rules *r, const char *text, size_t len, cada_refusal_match *m) {
    cada_refusal_match local;
    if (!m) m = &local;
    memset(m, 0, sizeof *m);
    int rl, cl = 0;
    long at = cada_pattern_first(&r->set, r->refusal, text, len, &rl, NULL);
    if (at < 0) return 0;
    m->refusal_line = rl;
    m->refusal_at = (size_t)at;
    if (r->compliance >= 0) cada_pattern_first(&r->set, r->compliance, text, len, &cl, NULL);
    m->compliance_line = cl;
    m->refused = cl == 0;
    return m->refused;
}
