/* tests/unit/golden.h: reader for the golden files written by tests/ref/make_golden.py.
 *
 * File format (little-endian), version 1:
 *   8 bytes  magic "CADAGOLD"
 *   u32      version (1)
 *   u32      tensor count
 *   per tensor:
 *     u32    name length, then the name (UTF-8, no NUL)
 *     u32    dtype: 0 = f32, 1 = i32
 *     u32    ndim (<= 8), then u64 dims[ndim]
 *     data   prod(dims) elements, row-major
 * The reader checks the magic, version, counts and sizes against the file size. */
#ifndef CADA_TEST_GOLDEN_H
#define CADA_TEST_GOLDEN_H

#include "base/error.h"
#include "model/model.h"

#include <stdint.h>

typedef struct {
    char *name;
    int dtype; /* 0 f32, 1 i32 */
    int ndim;
    int64_t dims[8];
    int64_t numel;
    void *data; /* float* or int32_t* */
} golden_tensor;

typedef struct {
    int n;
    golden_tensor *t;
} golden_file;

cada_status golden_load(golden_file *g, const char *path);
const golden_tensor *golden_find(const golden_file *g, const char *name); /* NULL if absent */
void golden_free(golden_file *g);

/* Compares got[0..n) with want: max |got - want| <= atol + rtol * |want| element-wise.
 * Prints the worst element and returns 1 when within tolerance. */
int golden_close(const char *what, const float *got, const float *want, int64_t n, float atol, float rtol);

/* The tensors of p (a model's parameters m->p or gradients m->g) with their Hugging Face
 * names, the names the golden files use (cada_model_tensor_views), in an array the
 * caller frees; *n their count. NULL when out of memory. */
cada_tensor_view *golden_model_views(const cada_model *m, const cada_params *p, int *n);

#endif
