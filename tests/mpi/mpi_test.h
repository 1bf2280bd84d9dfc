/* tests/mpi/mpi_test.h: what the MPI test programs share: this rank, the world's size,
 * a failure count that main all-reduces into the exit code, and FAIL to add to it
 * naming the rank. One program per file, so the statics are the program's own. */
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

#endif
