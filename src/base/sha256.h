/* base/sha256.h: SHA-256 (FIPS 180-4), the digest of every file in a checkpoint's
 * manifest (sched/manifest.h).
 *
 * Plain C, one block (64 bytes) at a time, about 200 MB/s per core; with the x86 SHA
 * extensions where the CPU has them (chosen at run time), several times that. The
 * learners also hash their own files in parallel. Checked against the standard's test vectors
 * ("abc", the 448-bit two-block message, a million 'a') and against Python's hashlib
 * (tests/unit/test_sha256.c). */
#ifndef CADA_BASE_SHA256_H
#define CADA_BASE_SHA256_H

#include "base/error.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t h[8];
    uint64_t bytes;    /* message length so far */
    uint8_t block[64]; /* the unfinished block */
    size_t used;       /* bytes of it filled */
} cada_sha256;

void cada_sha256_init(cada_sha256 *s);
void cada_sha256_update(cada_sha256 *s, const void *data, size_t n);
void cada_sha256_final(cada_sha256 *s, uint8_t digest[32]);
/* Whether the SHA-extension path is used: enable < 0 asks, 0 turns it off, 1 turns it
 * on where the CPU has it (the unit test checks both paths). Not thread-safe to switch. */
int cada_sha256_accelerated(int enable);
/* 64 lowercase hex digits and a NUL. */
void cada_sha256_hex(const uint8_t digest[32], char hex[65]);
/* The digest of a whole file (hex) and its size; errors name the file and errno's text. */
cada_status cada_sha256_file(const char *path, char hex[65], uint64_t *size);

#endif
