/* base/error.h: status codes, the error message trail, check macros, the fatal path.
 *
 * Contract:
 *   - Library code never exits. It returns a cada_status and, on failure, records a
 *     human-readable message with CADA_ERR(status, fmt, ...). The message names the
 *     file, field or rank at fault ("model.safetensors: tensor 'x': offsets ...").
 *   - Each level may add context with cada_error_wrap("loading %s", path); the text
 *     becomes "loading x: <inner message>".
 *   - Only main() (and test drivers) decide to stop, through cada_fatal(), which prints
 *     host, rank, pid, file and line, flushes, and aborts MPI when MPI is initialised so
 *     that no other rank hangs in a collective.
 *   - The message buffer is thread-local, so OpenMP threads do not trample each other.
 */
#ifndef CADA_BASE_ERROR_H
#define CADA_BASE_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" { /* included by the CUDA sources in kernels/ */
#endif

typedef enum {
    CADA_OK = 0,
    CADA_ERR_IO,          /* open/read/write/mmap failed */
    CADA_ERR_FORMAT,      /* a file or message is malformed */
    CADA_ERR_CONFIG,      /* a configuration key is missing or wrong */
    CADA_ERR_NOMEM,       /* an allocation failed or a size cap was hit */
    CADA_ERR_UNSUPPORTED, /* valid input that this build does not handle */
    CADA_ERR_ARG,         /* bad argument from the caller */
    CADA_ERR_MPI,         /* an MPI call failed */
    CADA_ERR_CUDA,        /* a CUDA, cuBLAS or NCCL call failed */
    CADA_ERR_INTERNAL     /* a broken invariant: a bug in cada */
} cada_status;

const char *cada_status_name(cada_status s);

/* Records the message (printf-style) and returns s, so `return CADA_ERR(...)` works. */
cada_status cada_error_set(cada_status s, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define CADA_ERR(status, ...) cada_error_set((status), __FILE__, __LINE__, __VA_ARGS__)

/* Prepends "context: " to the current message. Returns nothing; use before returning. */
void cada_error_wrap(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

const char *cada_error_message(void); /* the current message ("" if none) */
const char *cada_error_where(void);   /* "file.c:123" of the innermost CADA_ERR */
void cada_error_clear(void);

/* Propagate a failure unchanged. */
#define CADA_TRY(expr)                                                                  \
    do {                                                                                \
        cada_status cada_try_status_ = (expr);                                          \
        if (cada_try_status_ != CADA_OK) return cada_try_status_;                       \
    } while (0)

/* Allocation that records an error naming what was being allocated. */
void *cada_malloc_named(size_t bytes, const char *what, const char *file, int line);
void *cada_calloc_named(size_t n, size_t size, const char *what, const char *file, int line);
#define CADA_MALLOC(bytes, what) cada_malloc_named((bytes), (what), __FILE__, __LINE__)
#define CADA_CALLOC(n, size, what) cada_calloc_named((n), (size), (what), __FILE__, __LINE__)

/* ---- the fatal path ---------------------------------------------------------------- */

/* Sets the rank printed by cada_fatal and the log prefix (-1: not under MPI yet). */
void cada_set_rank(int rank);
int cada_get_rank(void);

/* Prints "cada: fatal on host H rank R pid P at file:line: message", flushes stdio,
 * calls MPI_Abort when MPI is initialised, else exit(1). Never returns. */
#ifdef __cplusplus
[[noreturn]]
#else
_Noreturn
#endif
void cada_fatal(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define CADA_FATAL(...) cada_fatal(__FILE__, __LINE__, __VA_ARGS__)

/* For main and tests: a failed status is fatal, with the recorded message. */
#define CADA_CHECK(expr)                                                                \
    do {                                                                                \
        cada_status cada_check_status_ = (expr);                                        \
        if (cada_check_status_ != CADA_OK)                                              \
            cada_fatal(__FILE__, __LINE__, "%s (%s) [raised at %s]", cada_error_message(), \
                       cada_status_name(cada_check_status_), cada_error_where());       \
    } while (0)

/* Check macros for the libraries cada uses, in the status-returning form. Each records
 * the library's own error text. The CUDA family lives in kernels/cuda_check.h. */
#define CADA_FOPEN_TRY(fp, path, mode)                                                  \
    do {                                                                                \
        (fp) = fopen((path), (mode));                                                   \
        if (!(fp)) return CADA_ERR(CADA_ERR_IO, "%s: cannot open (mode %s): %s", (path), \
                                   (mode), strerror(errno));                            \
    } while (0)

#define CADA_ALLOC_TRY(ptr, bytes, what)                                                \
    do {                                                                                \
        (ptr) = CADA_MALLOC((bytes), (what));                                           \
        if (!(ptr)) return CADA_ERR_NOMEM;                                              \
    } while (0)

#ifdef CADA_HAVE_MPI
#include <mpi.h>
/* MPI calls return codes (MPI_ERRORS_RETURN is set on the communicators cada uses). */
cada_status cada_mpi_error(int code, const char *call, const char *file, int line);
#define CADA_MPI_TRY(call)                                                              \
    do {                                                                                \
        int cada_mpi_rc_ = (call);                                                      \
        if (cada_mpi_rc_ != MPI_SUCCESS)                                                \
            return cada_mpi_error(cada_mpi_rc_, #call, __FILE__, __LINE__);             \
    } while (0)
#endif

#ifdef __cplusplus
}
#endif

#endif /* CADA_BASE_ERROR_H */
