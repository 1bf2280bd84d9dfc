/* base/dfile.c: see dfile.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* O_DIRECT */
#endif
#include "base/dfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
    DIRECT_ALIGN = 4096,          /* the largest logical block size in common use */
    STAGE_BYTES = 4 * 1024 * 1024 /* a multiple of DIRECT_ALIGN */
};

struct cada_dfile {
    int fd, direct;
    int failed;           /* a write failed: the file's bytes are unknown, nothing more is written */
    unsigned char *stage; /* STAGE_BYTES, DIRECT_ALIGN-aligned */
    size_t staged;        /* bytes in stage not yet written */
    uint64_t written;     /* bytes of the file written so far (whole stages) */
    char path[];
};

/* write(2) until all n bytes are out; a direct write refused with EINVAL turns the file
 * to cached writes and is tried again (the file system took O_DIRECT at open but not
 * for writes). */
static cada_status write_out(cada_dfile *f, const unsigned char *p, size_t n) {
    while (n) {
        ssize_t k = write(f->fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0 && errno == EINVAL && f->direct) {
            int fl = fcntl(f->fd, F_GETFL);
            if (fl < 0 || fcntl(f->fd, F_SETFL, fl & ~O_DIRECT) < 0)
                return CADA_ERR(CADA_ERR_IO, "%s: cannot turn off direct writes after one was refused: %s", f->path,
                                strerror(errno));
            f->direct = 0;
            continue;
        }
        if (k <= 0) return CADA_ERR(CADA_ERR_IO, "%s: write failed: %s", f->path, k < 0 ? strerror(errno) : "no progress");
        p += k;
        n -= (size_t)k;
    }
    return CADA_OK;
}

cada_status cada_dfile_create(cada_dfile **out, const char *path) {
    *out = NULL;
    size_t len = strlen(path);
    cada_dfile *f = CADA_CALLOC(1, sizeof *f + len + 1, "file writer");
    if (!f) return CADA_ERR_NOMEM;
    memcpy(f->path, path, len + 1);
    f->stage = aligned_alloc(DIRECT_ALIGN, STAGE_BYTES);
    if (!f->stage) {
        free(f);
        return CADA_ERR(CADA_ERR_NOMEM, "%s: cannot allocate the %d MiB write buffer", path, STAGE_BYTES >> 20);
    }
    f->direct = 1;
    f->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_DIRECT, 0666);
    if (f->fd < 0 && errno == EINVAL) { /* the file system does not do direct I/O */
        f->direct = 0;
        f->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    }
    if (f->fd < 0) {
        cada_status st = CADA_ERR(CADA_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
        free(f->stage);
        free(f);
        return st;
    }
    *out = f;
    return CADA_OK;
}

cada_status cada_dfile_write(cada_dfile *f, const void *p, size_t n) {
    if (f->failed) return CADA_ERR(CADA_ERR_IO, "%s: an earlier write failed", f->path);
    const unsigned char *s = p;
    while (n) {
        size_t take = STAGE_BYTES - f->staged < n ? STAGE_BYTES - f->staged : n;
        memcpy(f->stage + f->staged, s, take);
        f->staged += take;
        s += take;
        n -= take;
        if (f->staged == STAGE_BYTES) {
            cada_status st = write_out(f, f->stage, STAGE_BYTES);
            if (st != CADA_OK) {
                f->failed = 1; /* part of the stage may be out: writing it again would shift the file */
                return st;
            }
            f->written += STAGE_BYTES;
            f->staged = 0;
        }
    }
    return CADA_OK;
}

cada_status cada_dfile_close(cada_dfile *f) {
    cada_status st = f->failed ? CADA_ERR(CADA_ERR_IO, "%s: an earlier write failed", f->path) : CADA_OK;
    const uint64_t size = f->written + f->staged;
    if (st == CADA_OK && f->staged) {
        /* direct: whole blocks only, the padding cut off below */
        size_t out = f->direct ? (f->staged + DIRECT_ALIGN - 1) / DIRECT_ALIGN * DIRECT_ALIGN : f->staged;
        memset(f->stage + f->staged, 0, out - f->staged);
        st = write_out(f, f->stage, out);
        if (st == CADA_OK && out != f->staged && ftruncate(f->fd, (off_t)size) != 0)
            st = CADA_ERR(CADA_ERR_IO, "%s: cannot cut to %llu bytes: %s", f->path, (unsigned long long)size, strerror(errno));
    }
    if (st == CADA_OK && fsync(f->fd) != 0) st = CADA_ERR(CADA_ERR_IO, "%s: sync failed: %s", f->path, strerror(errno));
    if (close(f->fd) != 0 && st == CADA_OK) st = CADA_ERR(CADA_ERR_IO, "%s: close failed: %s", f->path, strerror(errno));
    free(f->stage);
    free(f);
    return st;
}

void cada_dfile_abort(cada_dfile *f) {
    if (!f) return;
    close(f->fd);
    free(f->stage);
    free(f);
}

int cada_dfile_is_direct(const cada_dfile *f) { return f->direct; }
