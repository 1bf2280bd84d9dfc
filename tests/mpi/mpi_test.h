/* tests/mpi/mpi_test.h: what the MPI test programs share: this rank, the world's size,
 * a failure count that main all-reduces into the exit code, FAIL to add to it naming
 * the rank, and CHECK_OK to stop every rank when a call that must work fails (include
 * after <mpi.h> and base/error.h). One program per file, so the statics are the program's own. */
#ifndef CADA_TESTS_MPI_TEST_H
#define CADA_TESTS_MPI_TEST_H

#include <stdio.h>

static int rank, size, fails;

#define FAIL(...)                                                                        \
    do {                                                                                 \
        fprintf(stderr, "[rank %d] FAIL: ", rank);                                       \
        fprintf(stderr, __VA_ARGS__);                                                    \
        fputc('\n', stderr);                                                             \
        fails++;                                                                         \
    } while (0)

#define CHECK_OK(expr)                                                                   \
    do {                                                                                 \
        if ((expr) != CADA_OK) {                                                         \
            fprintf(stderr, "[rank %d] %s: %s\n", rank, #expr, cada_error_message());   \
            MPI_Abort(MPI_COMM_WORLD, 2);                                                \
        }                                                                                \
    } while (0)

#endif
