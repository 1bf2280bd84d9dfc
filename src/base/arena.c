/* base/arena.c: see arena.h. */
#define _POSIX_C_SOURCE 200809L
#include "base/arena.h"

#include <stdlib.h>
#include <string.h>

cada_status cada_arena_init(cada_arena *a, size_t capacity, const char *name) {
    memset(a, 0, sizeof *a);
    a->name = name ? name : "arena";
    capacity = cada_arena_round(capacity ? capacity : CADA_ARENA_ALIGN);
    void *p = NULL;
    if (posix_memalign(&p, CADA_ARENA_ALIGN, capacity) != 0)
        return CADA_ERR(CADA_ERR_NOMEM, "%s: cannot allocate %zu bytes", a->name, capacity);
    a->base = p;
    a->capacity = capacity;
    return CADA_OK;
}

void *cada_arena_alloc(cada_arena *a, size_t bytes) {
    size_t need = cada_arena_round(bytes);
    if (need < bytes || a->used > a->capacity || need > a->capacity - a->used) {
        CADA_ERR(CADA_ERR_NOMEM, "%s: %zu bytes requested, %zu of %zu left", a->name, bytes,
                 a->capacity - a->used, a->capacity);
        return NULL;
    }
    void *p = a->base + a->used;
    a->used += need;
    if (a->used > a->high_water) a->high_water = a->used;
    return p;
}

void cada_arena_reset(cada_arena *a) { a->used = 0; }

void cada_arena_free(cada_arena *a) {
    free(a->base);
    memset(a, 0, sizeof *a);
}
