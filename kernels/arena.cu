/* kernels/arena.cu: device memory arenas (gpu_ops.h). One cudaMalloc per role (weights,
 * gradients, optimizer state, activations, KV cache...), sized up front from the model
 * and batch shapes, then carved into named parts. Why: one allocation per role means no
 * allocator calls (and no synchronisation they imply) inside a step, a failed size is
 * found at start-up with a message naming the part that did not fit, and the report
 * says where the memory went.
 *
 * Parts start at multiples of 256 bytes (what cudaMalloc guarantees and what cuBLASLt's
 * fastest kernels assume); the padding counts as used. Memory is not cleared: cudaMalloc
 * returns uninitialised memory and so do the parts. Parts are never freed one by one;
 * gpu_arena_destroy frees the whole arena. Not thread-safe. */
#include "gpu_ops.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN ((size_t)256)
#define ARENA_NAME 64

typedef struct {
    char name[ARENA_NAME];
    size_t offset, bytes;
} arena_part;

struct cada_gpu_arena {
    char role[ARENA_NAME];
    char *base;      /* device */
    size_t capacity; /* bytes */
    size_t used;     /* end of the last part */
    arena_part *parts;
    int n_parts, cap_parts;
};

static double mib(size_t bytes) { return (double)bytes / (1024.0 * 1024.0); }

extern "C" cada_status gpu_arena_create(cada_gpu_arena **out, size_t capacity_bytes, const char *role) {
    if (!out) return CADA_ERR(CADA_ERR_ARG, "gpu_arena_create: out is NULL");
    *out = NULL;
    if (!role || !role[0]) return CADA_ERR(CADA_ERR_ARG, "gpu_arena_create: the role (what the arena holds) is empty");
    if (capacity_bytes == 0) return CADA_ERR(CADA_ERR_ARG, "gpu_arena_create: arena '%s': capacity is 0 bytes", role);
    cada_gpu_arena *a = (cada_gpu_arena *)calloc(1, sizeof *a);
    if (!a) return CADA_ERR(CADA_ERR_NOMEM, "gpu_arena_create: arena '%s': %zu bytes for the record", role, sizeof *a);
    snprintf(a->role, sizeof a->role, "%s", role);
    cudaError_t rc = cudaMalloc((void **)&a->base, capacity_bytes);
    if (rc != cudaSuccess) {
        cudaGetLastError(); /* the failure must not surface at the next kernel launch */
        size_t free_b = 0, total_b = 0;
        int dev = -1;
        char have[96] = "";
        if (cudaGetDevice(&dev) == cudaSuccess && cudaMemGetInfo(&free_b, &total_b) == cudaSuccess)
            snprintf(have, sizeof have, "; device %d has %.1f MiB free of %.1f MiB", dev, mib(free_b), mib(total_b));
        cudaGetLastError();
        free(a);
        return CADA_ERR(CADA_ERR_CUDA, "rank %d: gpu arena '%s': cudaMalloc of %zu bytes (%.1f MiB) failed: %s%s",
                        cada_get_rank(), role, capacity_bytes, mib(capacity_bytes), cudaGetErrorString(rc), have);
    }
    a->capacity = capacity_bytes;
    *out = a;
    return CADA_OK;
}

extern "C" void gpu_arena_destroy(cada_gpu_arena *a) {
    if (!a) return;
    cudaFree(a->base);
    free(a->parts);
    free(a);
}

extern "C" cada_status gpu_arena_alloc(cada_gpu_arena *a, void **ptr, size_t bytes, const char *name) {
    if (!a) return CADA_ERR(CADA_ERR_ARG, "gpu_arena_alloc: arena is NULL (part '%s')", name ? name : "?");
    if (!ptr) return CADA_ERR(CADA_ERR_ARG, "gpu arena '%s': ptr is NULL (part '%s')", a->role, name ? name : "?");
    *ptr = NULL;
    if (!name || !name[0]) return CADA_ERR(CADA_ERR_ARG, "gpu arena '%s': a part needs a name", a->role);
    if (bytes == 0) return CADA_ERR(CADA_ERR_ARG, "gpu arena '%s': part '%s' asks for 0 bytes", a->role, name);
    /* the aligned start cannot overflow: used <= capacity, which cudaMalloc accepted */
    size_t offset = (a->used + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    if (offset > a->capacity || bytes > a->capacity - offset)
        return CADA_ERR(CADA_ERR_NOMEM,
                        "gpu arena '%s': part '%s' needs %zu bytes (%.2f MiB) but %zu of %zu bytes (%.2f of %.2f "
                        "MiB) are already used by %d parts: size the arena for it",
                        a->role, name, bytes, mib(bytes), a->used, a->capacity, mib(a->used), mib(a->capacity),
                        a->n_parts);
    if (a->n_parts == a->cap_parts) {
        int cap = a->cap_parts ? 2 * a->cap_parts : 32;
        arena_part *np = (arena_part *)realloc(a->parts, (size_t)cap * sizeof *np);
        if (!np)
            return CADA_ERR(CADA_ERR_NOMEM, "gpu arena '%s': growing the part list to %d entries (part '%s')",
                            a->role, cap, name);
        a->parts = np;
        a->cap_parts = cap;
    }
    arena_part *p = &a->parts[a->n_parts++];
    snprintf(p->name, sizeof p->name, "%s", name);
    p->offset = offset;
    p->bytes = bytes;
    a->used = offset + bytes;
    *ptr = a->base + offset;
    return CADA_OK;
}

extern "C" size_t gpu_arena_used(const cada_gpu_arena *a) { return a ? a->used : 0; }

extern "C" size_t gpu_arena_capacity(const cada_gpu_arena *a) { return a ? a->capacity : 0; }

extern "C" void gpu_arena_report(const cada_gpu_arena *a) {
    if (!a) return;
    const double cap = a->capacity ? (double)a->capacity : 1.0;
    printf("GPU arena '%s': %.2f MiB, %d parts\n", a->role, mib(a->capacity), a->n_parts);
    size_t parts_bytes = 0;
    for (int i = 0; i < a->n_parts; i++) {
        const arena_part *p = &a->parts[i];
        parts_bytes += p->bytes;
        printf("  %-40s %12.2f MiB %6.2f%%\n", p->name, mib(p->bytes), 100.0 * (double)p->bytes / cap);
    }
    printf("  %-40s %12.2f MiB %6.2f%% (%.2f MiB alignment padding, %.2f MiB free)\n", "total used", mib(a->used),
           100.0 * (double)a->used / cap, mib(a->used - parts_bytes), mib(a->capacity - a->used));
}
