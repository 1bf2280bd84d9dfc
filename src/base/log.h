/* base/log.h: rank-prefixed logging and a monotonic clock.
 *
 * Every line reads "[cada r<rank> <seconds since start>] message" on stderr (INFO and
 * above) so that interleaved output of many MPI ranks can be told apart. The level is
 * read once from the environment variable CADA_LOG (error, warn, info, debug). */
#ifndef CADA_BASE_LOG_H
#define CADA_BASE_LOG_H

typedef enum { CADA_LOG_ERROR = 0, CADA_LOG_WARN, CADA_LOG_INFO, CADA_LOG_DEBUG } cada_log_level;

void cada_log(cada_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define CADA_INFO(...) cada_log(CADA_LOG_INFO, __VA_ARGS__)
#define CADA_WARN(...) cada_log(CADA_LOG_WARN, __VA_ARGS__)
#define CADA_DEBUG(...) cada_log(CADA_LOG_DEBUG, __VA_ARGS__)

void cada_log_set_level(cada_log_level level);

/* Seconds from an arbitrary fixed point (CLOCK_MONOTONIC). */
double cada_now(void);

#endif
