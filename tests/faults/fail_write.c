/* tests/faults/fail_write.c: an LD_PRELOAD shim for tests/cli/disk_faults.sh that makes
 * writes to one file fail the way a failing disk does, without a faulty disk.
 *
 * fopen() of a path that contains $CADA_FAULT_PATH, for writing, returns a stream whose
 * writes succeed for the first $CADA_FAULT_AFTER bytes (default 0) and then fail with
 * errno $CADA_FAULT_ERRNO (default EIO, 5). Other files are untouched. The stream is a
 * fopencookie() over the real file, so every stdio call (fwrite, fprintf, fflush,
 * fclose) meets the fault; glibc's own stdio bypasses an interposed write(). Files
 * opened with open() for writing (base/dfile.h's checkpoint files) get the same budget
 * through an interposed write() on their descriptor. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    FILE *real;
    long long left; /* bytes still allowed */
    int err;
} fault;

static ssize_t fault_write(void *c, const char *buf, size_t n) {
    fault *f = c;
    if ((long long)n > f->left) {
        errno = f->err;
        return -1;
    }
    f->left -= (long long)n;
    return (ssize_t)fwrite(buf, 1, n, f->real);
}

static int fault_close(void *c) {
    fault *f = c;
    int rc = fclose(f->real);
    free(f);
    return rc;
}

static FILE *(*real_fopen(void))(const char *, const char *) {
    return (FILE * (*)(const char *, const char *)) dlsym(RTLD_NEXT, "fopen");
}

FILE *fopen(const char *path, const char *mode) {
    FILE *real = real_fopen()(path, mode);
    const char *want = getenv("CADA_FAULT_PATH");
    if (!real || !want || !*want || !strstr(path, want) || !strpbrk(mode, "wa")) return real;
    fault *f = calloc(1, sizeof *f);
    if (!f) return real;
    f->real = real;
    f->left = getenv("CADA_FAULT_AFTER") ? atoll(getenv("CADA_FAULT_AFTER")) : 0;
    f->err = getenv("CADA_FAULT_ERRNO") ? atoi(getenv("CADA_FAULT_ERRNO")) : EIO;
    cookie_io_functions_t io = {.write = fault_write, .close = fault_close};
    FILE *s = fopencookie(f, mode, io);
    if (!s) {
        free(f);
        return real;
    }
    return s;
}
FILE *fopen64(const char *path, const char *mode) { return fopen(path, mode); }

/* open() and write(): descriptors of a matching path opened for writing, with what each
 * may still write (-1: not one of them) */
enum { MAX_FDS = 4096 };
static long long fd_left[MAX_FDS];
static int fd_err[MAX_FDS];
static int fd_tracked[MAX_FDS];

static int track_open(const char *path, int flags, int fd) {
    const char *want = getenv("CADA_FAULT_PATH");
    if (fd < 0 || fd >= MAX_FDS) return fd;
    fd_tracked[fd] = 0;
    if (!want || !*want || !strstr(path, want) || !(flags & (O_WRONLY | O_RDWR))) return fd;
    fd_tracked[fd] = 1;
    fd_left[fd] = getenv("CADA_FAULT_AFTER") ? atoll(getenv("CADA_FAULT_AFTER")) : 0;
    fd_err[fd] = getenv("CADA_FAULT_ERRNO") ? atoi(getenv("CADA_FAULT_ERRNO")) : EIO;
    return fd;
}

int open(const char *path, int flags, ...) {
    static int (*real)(const char *, int, ...);
    if (!real) real = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
    mode_t mode = 0;
    if (flags & O_CREAT) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    return track_open(path, flags, real(path, flags, mode));
}

int open64(const char *path, int flags, ...) __attribute__((alias("open")));

ssize_t write(int fd, const void *buf, size_t n) {
    static ssize_t (*real)(int, const void *, size_t);
    if (!real) real = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    if (fd >= 0 && fd < MAX_FDS && fd_tracked[fd]) {
        if ((long long)n > fd_left[fd]) {
            errno = fd_err[fd];
            return -1;
        }
        fd_left[fd] -= (long long)n;
    }
    return real(fd, buf, n);
}

int close(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "close");
    if (fd >= 0 && fd < MAX_FDS) fd_tracked[fd] = 0; /* the number may be reused for anything */
    return real(fd);
}
