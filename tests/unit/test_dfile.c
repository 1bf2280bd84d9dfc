/* tests/unit/test_dfile.c: base/dfile.h, the checkpoint file writer, on real files in
 * the scratch folder: sizes around its 4 MiB stage and 4 KiB blocks (empty, a few bytes,
 * exactly one stage, a stage and a ragged tail) written in pieces of odd sizes, read
 * back byte for byte with their exact length; and a file that cannot be created, named
 * in the error. */
#define _POSIX_C_SOURCE 200809L
#include "test.h"

#include "base/dfile.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Writes n pseudo-random bytes in pieces of 1, 4095, 4097, 1 MiB + 3, ... and checks the
 * file read back. */
static void round_trip(size_t n) {
    char path[512];
    snprintf(path, sizeof path, "%s/dfile-%zu.bin", cada_test_tmpdir(), n);
    unsigned char *data = malloc(n ? n : 1), *back = malloc(n ? n : 1);
    uint32_t x = 2463534242u + (uint32_t)n;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        data[i] = (unsigned char)x;
    }
    cada_dfile *f = NULL;
    EXPECT(cada_dfile_create(&f, path) == CADA_OK, "%s: %s", path, cada_error_message());
    if (!f) return;
    static const size_t pieces[] = {1, 4095, 4097, (1u << 20) + 3, 7};
    size_t at = 0;
    for (int k = 0; at < n; k++) {
        size_t take = pieces[k % 5] < n - at ? pieces[k % 5] : n - at;
        EXPECT(cada_dfile_write(f, data + at, take) == CADA_OK);
        at += take;
    }
    const int direct = cada_dfile_is_direct(f);
    EXPECT(cada_dfile_close(f) == CADA_OK, "%s", cada_error_message());
    struct stat st;
    EXPECT(stat(path, &st) == 0 && (size_t)st.st_size == n, "%zu bytes written, the file has %lld (direct %d)", n,
           (long long)st.st_size, direct);
    FILE *r = fopen(path, "rb");
    EXPECT(r && fread(back, 1, n, r) == n && memcmp(back, data, n) == 0, "%zu bytes: read back otherwise (direct %d)", n,
           direct);
    if (r) fclose(r);
    remove(path);
    free(data);
    free(back);
}

TEST(dfile_sizes_round_trip) {
    const size_t sizes[] = {0, 5, 4096, 4 << 20, (4 << 20) + 12345, (9 << 20) + 1};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) round_trip(sizes[i]);
}

TEST(dfile_error_names_the_file) {
    char path[512];
    snprintf(path, sizeof path, "%s/no-such-folder/x.bin", cada_test_tmpdir());
    cada_dfile *f = NULL;
    EXPECT(cada_dfile_create(&f, path) == CADA_ERR_IO && !f);
    EXPECT(strstr(cada_error_message(), path) && strstr(cada_error_message(), "No such file"), "%s", cada_error_message());
}

/* A full disk (/dev/full: every write fails with ENOSPC) while a stage goes out: the
 * write names the file, and every later write and the close fail too instead of writing
 * the stage again after whatever part of it went out. */
TEST(dfile_failed_write_sticks) {
    cada_dfile *f = NULL;
    if (cada_dfile_create(&f, "/dev/full") != CADA_OK) return; /* no /dev/full here */
    size_t n = (4 << 20) + 1;
    unsigned char *buf = calloc(n, 1);
    EXPECT(buf);
    EXPECT(cada_dfile_write(f, buf, n) == CADA_ERR_IO);
    EXPECT(strstr(cada_error_message(), "/dev/full") && strstr(cada_error_message(), "No space"), "%s", cada_error_message());
    EXPECT(cada_dfile_write(f, buf, 1) == CADA_ERR_IO);
    EXPECT(strstr(cada_error_message(), "an earlier write failed"), "%s", cada_error_message());
    EXPECT(cada_dfile_close(f) == CADA_ERR_IO);
    EXPECT(strstr(cada_error_message(), "an earlier write failed"), "%s", cada_error_message());
    free(buf);
}
