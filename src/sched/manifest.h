/* sched/manifest.h: manifest.json of a checkpoint, every file's name, size and SHA-256,
 * and its check before a resume loads anything.
 *
 *   {"format": 1, "algorithm": "sha256",
 *    "files": [{"name": "config.json", "size": 738, "sha256": "<64 hex>"}, ...]}
 *
 * Written by rank 0 after run_state.json, just before the rename that makes the folder
 * complete (checkpoint.h); it lists every file of the folder but itself, sorted by name.
 * Each learner hashes the files it wrote (its weights file and its optimizer shard)
 * while the others hash theirs, so the cost is about that of reading 1/W of the bytes;
 * rank 0 hashes its own small files. Measured for SmolLM2-135M with 2 learners (1.6 GB,
 * about 0.8 GB per learner, SHA extensions): 0.7 s of CPU per learner, 2.5 s of wall
 * time on a loaded 2-core machine, out of a 9 s checkpoint.
 *
 * A checkpoint without manifest.json (written before manifests existed) is accepted
 * with a warning and not verified. */
#ifndef CADA_SCHED_MANIFEST_H
#define CADA_SCHED_MANIFEST_H

#include "base/error.h"

#include <stddef.h>
#include <stdint.h>

#define CADA_MANIFEST_NAME_MAX 96    /* file names, NUL included */
#define CADA_MANIFEST_MAX_FILES 4096 /* 2 per learner and a few of rank 0's */
#define CADA_MANIFEST_MAX_BYTES (4u << 20)

typedef struct {
    char name[CADA_MANIFEST_NAME_MAX]; /* a plain file name in the folder: no '/' */
    uint64_t size;
    char sha256[65]; /* lowercase hex */
} cada_manifest_entry;

typedef struct {
    cada_manifest_entry *files;
    int n, cap;
} cada_manifest;

void cada_manifest_free(cada_manifest *m);
/* Appends a copy of e (its name checked). */
cada_status cada_manifest_add(cada_manifest *m, const cada_manifest_entry *e);
/* Hashes dir/name and appends it. */
cada_status cada_manifest_add_file(cada_manifest *m, const char *dir, const char *name);
/* Is name listed? */
int cada_manifest_has(const cada_manifest *m, const char *name);
/* dir/manifest.json, entries sorted by name (m is sorted in place). */
cada_status cada_manifest_write(const char *dir, cada_manifest *m);
/* Parses a manifest's text (path names it in errors); every field checked. */
cada_status cada_manifest_parse(const char *text, size_t len, const char *path, cada_manifest *m);
/* dir/manifest.json; *found = 0 (and CADA_OK, m empty) when the folder has none. */
cada_status cada_manifest_read(const char *dir, cada_manifest *m, int *found);
/* Every listed file is there with its listed size, and no file a loader reads
 * (*.safetensors, *.bin, *.json, *.ini) is there unlisted. Errors name the file. */
cada_status cada_manifest_check_files(const char *dir, const cada_manifest *m);
/* Hashes the listed files of size in [lo, hi) whose index i has i % parts == part
 * (ranks split the work); an error names the first file whose SHA-256 differs. */
cada_status cada_manifest_check_hashes(const char *dir, const cada_manifest *m, uint64_t lo, uint64_t hi, int part, int parts);

#endif
