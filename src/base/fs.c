/* base/fs.c: see fs.h. */
#define _XOPEN_SOURCE 700 /* nftw */
#include "base/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

cada_status cada_mkdir_p(const char *dir) {
    char path[1024];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path) return CADA_ERR(CADA_ERR_ARG, "%s: path too long", dir);
    for (char *p = path + 1;; p++) {
        if (*p == '/' || !*p) {
            char c = *p;
            *p = 0;
            if (mkdir(path, 0755) != 0 && errno != EEXIST)
                return CADA_ERR(CADA_ERR_IO, "%s: cannot create directory: %s", path, strerror(errno));
            *p = c;
            if (!c) break;
        }
    }
    return CADA_OK;
}

/* nftw's callback takes no user pointer, so the first failure is kept here; thread-local
 * because two threads may each remove a tree. */
static _Thread_local struct {
    int err;
    const char *what;
    char path[4096];
} rm_failure;

static int rm_entry(const char *fpath, const struct stat *sb, int type, struct FTW *ftw) {
    (void)sb;
    (void)ftw;
    const char *what = "cannot remove";
    int rc;
    switch (type) {
    case FTW_DP: rc = rmdir(fpath); break;
    case FTW_DNR:
        /* Its entries could not be listed; rmdir still succeeds when it is empty, and
         * otherwise says why it cannot go ("Directory not empty"). */
        what = "cannot read the folder, so cannot remove it";
        rc = rmdir(fpath);
        break;
    case FTW_NS:
        /* lstat failed: gone since the folder was listed (fine), or not inspectable,
         * which unlink reports for itself. */
        rc = unlink(fpath);
        break;
    default: rc = unlink(fpath); break; /* FTW_F, FTW_SL, FTW_SLN: the entry itself, never a link's target */
    }
    if (rc == 0 || errno == ENOENT) return 0; /* ENOENT: removed by someone else meanwhile */
    rm_failure.err = errno;
    rm_failure.what = what;
    snprintf(rm_failure.path, sizeof rm_failure.path, "%s", fpath);
    return 1;
}

/* "", "/", "//", "x/.", "..", "a/../": paths rm -rf refuses too. */
static int refused_path(const char *path) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--; /* "a/../" names the same as "a/.." */
    if (n == 0 || (n == 1 && path[0] == '/')) return 1;
    size_t start = n;
    while (start > 0 && path[start - 1] != '/') start--;
    size_t len = n - start;
    return (len == 1 && path[start] == '.') || (len == 2 && path[start] == '.' && path[start + 1] == '.');
}

cada_status cada_rm_rf(const char *path) {
    if (!path || refused_path(path))
        return CADA_ERR(CADA_ERR_ARG, "refusing to remove '%s' (empty, the root, '.' or '..')", path ? path : "(null)");
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT) return CADA_OK;
        return CADA_ERR(CADA_ERR_IO, "%s: cannot remove: %s", path, strerror(errno));
    }
    rm_failure.err = 0;
    /* 32 descriptors at most: deeper trees are still walked, nftw reopens folders. */
    int rc = nftw(path, rm_entry, 32, FTW_DEPTH | FTW_PHYS);
    if (rc == 0) return CADA_OK;
    if (rc == 1 && rm_failure.err)
        return CADA_ERR(CADA_ERR_IO, "%s: %s: %s", rm_failure.path, rm_failure.what, strerror(rm_failure.err));
    if (errno == ENOENT) return CADA_OK; /* the whole tree vanished before the walk began */
    return CADA_ERR(CADA_ERR_IO, "%s: cannot walk the tree to remove it: %s", path, strerror(errno));
}

cada_status cada_copy_file(const char *from, const char *to) {
    FILE *in = fopen(from, "rb");
    if (!in) return CADA_ERR(CADA_ERR_IO, "%s: cannot open: %s", from, strerror(errno));
    FILE *out = fopen(to, "wb");
    if (!out) {
        fclose(in);
        return CADA_ERR(CADA_ERR_IO, "%s: cannot create: %s", to, strerror(errno));
    }
    char buf[1 << 16];
    size_t n;
    int ok = 1, err = 0;
    while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0) ok = fwrite(buf, 1, n, out) == n;
    if (!ok) err = errno;
    if (ferror(in) && ok) ok = 0, err = errno;
    fclose(in);
    if (fclose(out) != 0 && ok) ok = 0, err = errno;
    return ok ? CADA_OK : CADA_ERR(CADA_ERR_IO, "%s: copy to %s failed: %s", from, to, strerror(err));
}

cada_status cada_sync_path(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return CADA_ERR(CADA_ERR_IO, "%s: cannot open to sync: %s", path, strerror(errno));
    struct stat st;
    int folder = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
    int rc = fsync(fd), err = errno;
    close(fd);
    if (rc != 0 && !(folder && err == EINVAL)) return CADA_ERR(CADA_ERR_IO, "%s: sync failed: %s", path, strerror(err));
    return CADA_OK;
}
