/* tests/fuzz/fuzz_file.h: for fuzz targets whose loader takes a path: the input goes to
 * a file of this process under /tmp (named by the pid, so parallel fuzzers do not
 * share it), removed after each input. */
#ifndef CADA_FUZZ_FILE_H
#define CADA_FUZZ_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_rmdir(void) {
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/cada-fuzz-%d", (int)getpid());
    rmdir(dir); /* empty: every input's file is unlinked after it */
}

/* /tmp/cada-fuzz-<pid>/<name> holding data; the folder is made once and removed at exit. */
static inline const char *fuzz_file(const char *name, const uint8_t *data, size_t size, char *path, size_t cap) {
    static int made;
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/cada-fuzz-%d", (int)getpid());
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

/* The folder of fuzz_file's files. */
static inline const char *fuzz_dir(char *dir, size_t cap) {
    snprintf(dir, cap, "/tmp/cada-fuzz-%d", (int)getpid());
    return dir;
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
