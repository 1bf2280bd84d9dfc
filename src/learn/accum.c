/* learn/accum.c: see accum.h. */
#include "learn/accum.h"

#include <stdlib.h>
#include <string.h>

void cada_accum_init(cada_accum *a, size_t n) {
    memset(a, 0, sizeof *a);
    a->n = n;
}

void cada_accum_free(cada_accum *a) {
    for (int i = 0; i < a->depth; i++) free(a->stack[i]);
    for (int i = 0; i < a->n_spare; i++) free(a->spare[i]);
    memset(a, 0, sizeof *a);
}

static float *take(cada_accum *a) {
    if (a->n_spare) return a->spare[--a->n_spare];
    float *b = CADA_MALLOC(sizeof(float) * (a->n ? a->n : 1), "gradient accumulator");
    if (b) a->allocated++;
    return b;
}

static void give(cada_accum *a, float *b) { a->spare[a->n_spare++] = b; }

static void add_into(float *left, const float *right, size_t n) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) left[i] += right[i];
}

/* Merges the two top entries while they sit at the same level. */
static void cascade(cada_accum *a) {
    while (a->depth > 1 && a->level[a->depth - 1] == a->level[a->depth - 2]) {
        float *right = a->stack[--a->depth];
        add_into(a->stack[a->depth - 1], right, a->n);
        a->level[a->depth - 1]++;
        give(a, right);
    }
}

cada_status cada_accum_push(cada_accum *a, const float *x) {
    if (a->depth >= CADA_ACCUM_MAX_LEVELS - 1) return CADA_ERR(CADA_ERR_ARG, "accumulator: more than 2^%d leaves", CADA_ACCUM_MAX_LEVELS - 2);
    a->pushed++;
    if (a->depth > 0 && a->level[a->depth - 1] == 0) {
        /* x is the right sibling of the top leaf: add it in place, no copy kept */
        add_into(a->stack[a->depth - 1], x, a->n);
        a->level[a->depth - 1] = 1;
        cascade(a);
        return CADA_OK;
    }
    float *b = take(a);
    if (!b) return CADA_ERR_NOMEM;
    memcpy(b, x, sizeof(float) * a->n);
    a->stack[a->depth] = b;
    a->level[a->depth] = 0;
    a->depth++;
    return CADA_OK;
}

void cada_accum_finish(cada_accum *a, float *out) {
    if (a->depth == 0) {
        memset(out, 0, sizeof(float) * a->n);
        return;
    }
    while (a->depth > 1) {
        float *right = a->stack[--a->depth];
        add_into(a->stack[a->depth - 1], right, a->n);
        give(a, right);
    }
    memcpy(out, a->stack[0], sizeof(float) * a->n);
    give(a, a->stack[0]);
    a->depth = 0;
    a->pushed = 0;
}

size_t cada_accum_bytes(const cada_accum *a) { return (size_t)a->allocated * a->n * sizeof(float); }
