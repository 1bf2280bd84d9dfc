/* base/error.c: see error.h. */
#define _GNU_SOURCE
#include "base/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CADA_ERROR_CAP 2048

static _Thread_local char error_message[CADA_ERROR_CAP];
static _Thread_local char error_where[256];
static int process_rank = -1;

const char *cada_status_name(cada_status s) {
    switch (s) {
    case CADA_OK: return "ok";
    case CADA_ERR_IO: return "io error";
    case CADA_ERR_FORMAT: return "format error";
    case CADA_ERR_CONFIG: return "configuration error";
    case CADA_ERR_NOMEM: return "out of memory";
    case CADA_ERR_UNSUPPORTED: return "unsupported";
    case CADA_ERR_ARG: return "bad argument";
    case CADA_ERR_MPI: return "MPI error";
    case CADA_ERR_CUDA: return "CUDA error";
    case CADA_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

cada_status cada_error_set(cada_status s, const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_message, sizeof error_message, fmt, ap);
    va_end(ap);
    const char *base = strrchr(file, '/');
    snprintf(error_where, sizeof error_where, "%s:%d", base ? base + 1 : file, line);
    return s;
}

void cada_error_wrap(const char *fmt, ...) {
    char prefix[CADA_ERROR_CAP];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    char joined[CADA_ERROR_CAP];
    /* A message longer than the buffer is cut; the start (the context) matters most. */
    if (snprintf(joined, sizeof joined, "%s: %s", prefix, error_message) < 0) return;
    memcpy(error_message, joined, sizeof error_message);
}

const char *cada_error_message(void) { return error_message; }
const char *cada_error_where(void) { return error_where; }
void cada_error_clear(void) { error_message[0] = 0; error_where[0] = 0; }

void *cada_malloc_named(size_t bytes, const char *what, const char *file, int line) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) cada_error_set(CADA_ERR_NOMEM, file, line, "cannot allocate %zu bytes for %s", bytes, what);
    return p;
}

void *cada_calloc_named(size_t n, size_t size, const char *what, const char *file, int line) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) cada_error_set(CADA_ERR_NOMEM, file, line, "cannot allocate %zu x %zu bytes for %s", n, size, what);
    return p;
}

void cada_set_rank(int rank) { process_rank = rank; }
int cada_get_rank(void) { return process_rank; }

_Noreturn void cada_fatal(const char *file, int line, const char *fmt, ...) {
    char host[256] = "?";
    gethostname(host, sizeof host - 1);
    char msg[CADA_ERROR_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *base = strrchr(file, '/');
    fflush(stdout);
    fprintf(stderr, "cada: fatal on host %s rank %d pid %d at %s:%d: %s\n", host, process_rank,
            (int)getpid(), base ? base + 1 : file, line, msg);
    fflush(stderr);
#ifdef CADA_HAVE_MPI
    int inited = 0, finalized = 0;
    MPI_Initialized(&inited);
    MPI_Finalized(&finalized);
    if (inited && !finalized) MPI_Abort(MPI_COMM_WORLD, 1);
#endif
    exit(1);
}

#ifdef CADA_HAVE_MPI
cada_status cada_mpi_error(int code, const char *call, const char *file, int line) {
    char text[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(code, text, &len);
    return cada_error_set(CADA_ERR_MPI, file, line, "rank %d: %s failed: %s", process_rank, call, text);
}
#endif
