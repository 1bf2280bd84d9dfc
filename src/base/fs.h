/* base/fs.h: file-system helpers every layer needs. */
#ifndef CADA_BASE_FS_H
#define CADA_BASE_FS_H

#include "base/error.h"

/* Creates dir and any missing parents (like mkdir -p); an existing folder is fine.
 * Errors name the component that could not be created. */
cada_status cada_mkdir_p(const char *dir);

#endif
