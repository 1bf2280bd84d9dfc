/* base/arena.h: a bump allocator over one buffer.
 *
 * Used where many buffers share a lifetime (a forward pass's activations, a step's
 * scratch): one allocation up front, pointers carved from it, released together.
 * Every block is aligned to 64 bytes (a cache line; AVX-512 loads). Running out is a
 * recorded error (NULL return), never a silent overflow. */
#ifndef CADA_BASE_ARENA_H
#define CADA_BASE_ARENA_H

#include "base/error.h"

#include <stddef.h>

typedef struct {
    unsigned char *base;
    size_t capacity;  /* bytes */
    size_t used;      /* bytes handed out, alignment padding included */
    size_t high_water;
    const char *name; /* for error messages */
} cada_arena;

#define CADA_ARENA_ALIGN 64

cada_status cada_arena_init(cada_arena *a, size_t capacity, const char *name);
void *cada_arena_alloc(cada_arena *a, size_t bytes); /* NULL + recorded error when full */
void cada_arena_reset(cada_arena *a);                /* forget all blocks, keep the buffer */
void cada_arena_free(cada_arena *a);

/* Bytes a sequence of blocks takes in an arena (for sizing it before allocating). */
static inline size_t cada_arena_round(size_t bytes) {
    return (bytes + CADA_ARENA_ALIGN - 1) & ~(size_t)(CADA_ARENA_ALIGN - 1);
}

#endif
