/* base/fs.c: see fs.h. */
#define _POSIX_C_SOURCE 200809L
#include "base/fs.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

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
