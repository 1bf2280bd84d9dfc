/* base/dfile.h: a large file written straight to the disk, for checkpoints.
 *
 * Checkpoints are the biggest files cada writes (the fp32 model and every learner's
 * AdamW moments: 1.6 GB for SmolLM2-135M on one learner, terabytes for 70B) and nothing
 * reads them back soon. Written through the page cache, every byte is first copied into
 * cache pages the kernel must allocate, then written back; on the 2-core VM this project
 * is measured on that copy ran at ~120-270 MB/s of kernel time (`dd conv=fsync`: 1 GiB in
 * 3.8-8.6 s) while O_DIRECT wrote the same GiB in 0.6 s, and the cached copy pushes the
 * training process's own memory out of the cache. So a dfile opens its file with O_DIRECT
 * where the file system takes it, and feeds the disk from one 4 MiB staging buffer
 * aligned for it (direct I/O needs aligned addresses, offsets and lengths); the last,
 * partial block is written padded and the file cut back to its length. Where O_DIRECT is
 * refused (tmpfs, some network or overlay file systems: EINVAL at open or at the first
 * write) the same calls write through the cache. Closing syncs the file (fsync) either
 * way: a checkpoint is renamed into place only once its bytes are on the disk.
 *
 * Errors name the file and the errno text. Not thread-safe (one writer per file). */
#ifndef CADA_BASE_DFILE_H
#define CADA_BASE_DFILE_H

#include "base/error.h"

#include <stddef.h>

typedef struct cada_dfile cada_dfile;

/* Creates (or truncates) path for writing. */
cada_status cada_dfile_create(cada_dfile **out, const char *path);
/* Appends n bytes. After a failed write every later write and the close fail too (the
 * file's bytes are unknown). */
cada_status cada_dfile_write(cada_dfile *f, const void *p, size_t n);
/* Writes what is staged, cuts the file to the bytes written, syncs and closes it; frees
 * f in every case. */
cada_status cada_dfile_close(cada_dfile *f);
/* Closes without finishing (an error path; the caller removes the file); NULL is fine. */
void cada_dfile_abort(cada_dfile *f);
/* 1 when the file is being written with O_DIRECT (tests and messages). */
int cada_dfile_is_direct(const cada_dfile *f);

#endif
