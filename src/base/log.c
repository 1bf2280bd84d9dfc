/* base/log.c: see log.h. */
#define _POSIX_C_SOURCE 200809L
#include "base/log.h"

#include "base/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int log_level = -1;
static double log_start = -1.0;

double cada_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void cada_log_set_level(cada_log_level level) { log_level = (int)level; }

static int current_level(void) {
    if (log_level < 0) {
        const char *env = getenv("CADA_LOG");
        log_level = CADA_LOG_INFO;
        if (env) {
            if (!strcmp(env, "error")) log_level = CADA_LOG_ERROR;
            else if (!strcmp(env, "warn")) log_level = CADA_LOG_WARN;
            else if (!strcmp(env, "debug")) log_level = CADA_LOG_DEBUG;
        }
    }
    return log_level;
}

void cada_log(cada_log_level level, const char *fmt, ...) {
    if ((int)level > current_level()) return;
    if (log_start < 0) log_start = cada_now();
    static const char *tags[] = {"error: ", "warning: ", "", "debug: "};
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int rank = cada_get_rank();
    fprintf(stderr, "[cada r%d %.3fs] %s%s\n", rank < 0 ? 0 : rank, cada_now() - log_start, tags[level], msg);
}
