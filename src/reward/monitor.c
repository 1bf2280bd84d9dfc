/* reward/monitor.c: see monitor.h. */
#include "reward/monitor.h"

#include "reward/patterns.h"

#include <stdlib.h>
#include <string.h>

struct cada_monitor {
    cada_pattern_set set;
};

cada_status cada_monitor_load(cada_monitor **out, const char *path) {
    *out = NULL;
    cada_monitor *m = calloc(1, sizeof *m);
    if (!m) return CADA_ERR(CADA_ERR_NOMEM, "monitor patterns");
    cada_status st = cada_pattern_set_load(&m->set, path, NULL, 0);
    if (st == CADA_OK && m->set.n == 0) {
        cada_pattern_set_free(&m->set);
        st = CADA_ERR(CADA_ERR_FORMAT, "%s: no monitor patterns (a [hazard] section with patterns)", path);
    }
    if (st != CADA_OK) {
        free(m);
        return st;
    }
    *out = m;
    return CADA_OK;
}

void cada_monitor_free(cada_monitor *m) {
    if (!m) return;
    cada_pattern_set_free(&m->set);
    free(m);
}

int cada_monitor_n_hazards(const cada_monitor *m) { return m->set.n_sections; }

const char *cada_monitor_hazard(const cada_monitor *m, int i) {
    return i >= 0 && i < m->set.n_sections ? m->set.sections[i] : "";
}

int cada_monitor_check(const cada_monitor *m, const char *text, size_t len, cada_monitor_match *out) {
    cada_monitor_match local;
    if (!out) out = &local;
    memset(out, 0, sizeof *out);
    out->hazard = -1;
    long at = cada_pattern_first(&m->set, -1, text, len, &out->line, &out->hazard);
    if (at < 0) return 0;
    out->flagged = 1;
    out->at = (size_t)at;
    return 1;
}
