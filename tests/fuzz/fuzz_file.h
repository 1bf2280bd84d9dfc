/* tests/fuzz/fuzz_file.h: for fuzz targets whose loader takes a path: the input goes to
 * a file in a folder of this process, $TMPDIR/cada-fuzz-<pid> (/tmp without TMPDIR;
 * the pid keeps parallel fuzzers apart), removed after each input; the folder goes at
 * exit. */
#ifndef CADA_FUZZ_FILE_H
#define CADA_FUZZ_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The folder of fuzz_file's files. */
static inline const char *fuzz_dir(char *dir, size_t cap) {
    const char *base = getenv("TMPDIR");
    snprintf(dir, cap, "%s/cada-fuzz-%d", base && *base ? base : "/tmp", (int)getpid());
    return dir;
}

static void fuzz_rmdir(void) {
    char dir[512];
    rmdir(fuzz_dir(dir, sizeof dir)); /* empty: every input's file is unlinked after it */
}

/* <fuzz_dir>/<name> holding data; the folder is made once and removed at exit. */
static inline const char *fuzz_file(const char *name, const uint8_t *data, size_t size, char *path, size_t cap) {
    static int made;
    char dir[512];
    fuzz_dir(dir, sizeof dir);
    if (!made) {
        mkdir(dir, 0700);
        atexit(fuzz_rmdir);
        made = 1;
    }
    snprintf(path, cap, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    if (fclose(f) != 0) abort();
    return path;
}

/* data as a NUL-terminated string (malloc'd). */
static inline char *fuzz_text(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) abort();
    memcpy(s, data, size);
    s[size] = 0;
    return s;
}

#endif
