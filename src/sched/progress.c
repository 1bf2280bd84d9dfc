/* sched/progress.c: see progress.h. */
#define _POSIX_C_SOURCE 200809L
#include "sched/progress.h"

#include "base/log.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

void cada_progress_init(cada_progress *p, double every_s) {
    memset(p, 0, sizeof *p);
    p->enabled = every_s > 0;
    p->every_s = every_s;
    p->tty = isatty(STDERR_FILENO);
}

void cada_progress_begin(cada_progress *p, const char *label, const char *unit, long long total) {
    if (!p->enabled) return;
    snprintf(p->label, sizeof p->label, "%s", label);
    p->unit = unit;
    p->total = total;
    p->t0 = p->last = cada_now();
    p->drawn = 0;
}

static void format_time(char *buf, size_t cap, double s) {
    if (s < 0 || s != s) snprintf(buf, cap, "?");
    else if (s < 60) snprintf(buf, cap, "%.0fs", s);
    else if (s < 3600) snprintf(buf, cap, "%dm%02ds", (int)(s / 60), (int)s % 60);
    else snprintf(buf, cap, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
}

void cada_progress_update(cada_progress *p, long long done, double tokens, double tokens_estimate) {
    if (!p->enabled) return;
    const double now = cada_now(), elapsed = now - p->t0;
    if (now - p->last < (p->tty ? 0.2 : p->every_s)) return;
    p->last = now;
    const double rate = elapsed > 0 ? tokens / elapsed : 0;
    double left = -1;
    if (tokens_estimate > 0 && rate > 0) left = (tokens_estimate > tokens ? tokens_estimate - tokens : 0) / rate;
    else if (done > 0) left = elapsed * (double)(p->total - done) / (double)done;
    char eta[32];
    format_time(eta, sizeof eta, left);
    char line[256];
    snprintf(line, sizeof line, "%s: %lld/%lld %s, %.0f tokens, %.1f tok/s, ETA %s", p->label, done, p->total, p->unit, tokens,
             rate, eta);
    if (p->tty) {
        fprintf(stderr, "\r\033[K%s", line);
        fflush(stderr);
        p->drawn = 1;
    } else {
        CADA_INFO("%s", line);
    }
}

void cada_progress_end(cada_progress *p) {
    if (!p->enabled || !p->drawn) return;
    fprintf(stderr, "\r\033[K");
    fflush(stderr);
    p->drawn = 0;
}
