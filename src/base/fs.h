/* base/fs.h: file-system helpers every layer needs. */
#ifndef CADA_BASE_FS_H
#define CADA_BASE_FS_H

#include "base/error.h"

/* Creates dir and any missing parents (like mkdir -p); an existing folder is fine.
 * Errors name the component that could not be created. */
cada_status cada_mkdir_p(const char *dir);

/* Removes path and everything under it (like rm -rf), with the C library only: no
 * shell ever sees the path, so quotes or `$(...)` in a configured folder name are just
 * characters. Contents go first, then their folder (nftw with FTW_DEPTH | FTW_PHYS).
 * Symbolic links are removed, never followed: a link inside the tree, or path itself
 * when it is a link, goes, and whatever it points to stays. Other file systems mounted
 * inside the tree are entered like rm -rf does. A tree that another process changes
 * during the walk may give an error.
 *   - A path that does not exist (also below a missing folder) is CADA_OK: removing
 *     a checkpoint that is already gone is not a failure.
 *   - "", a path made of slashes only ("/"), and a path whose last component is "."
 *     or ".." are CADA_ERR_ARG, as rm refuses them.
 *   - Any other failure is CADA_ERR_IO and stops the walk; the message names the entry
 *     that could not be removed and the errno text ("x/y: cannot remove: Permission
 *     denied"). What was removed before it stays removed. */
cada_status cada_rm_rf(const char *path);

/* Puts what was written to path (a file, or a folder's entries: names created or
 * renamed in it) on the disk: open, fsync, close. A folder on a file system that cannot
 * sync folders (EINVAL) is fine. Errors name the path. */
cada_status cada_sync_path(const char *path);

/* Copies the file from to the file to (created or truncated); errors name the file. */
cada_status cada_copy_file(const char *from, const char *to);

#endif
