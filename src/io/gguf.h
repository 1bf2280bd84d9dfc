/* io/gguf.h: GGUF (version 2 and 3) reader with dequantisation to fp32.
 *
 * Format (ggml's docs/gguf.md): "GGUF" magic, u32 version, u64 tensor count, u64 kv
 * count, kvs (string key, u32 type, value), tensor infos (string name, u32 n_dims,
 * u64 dims[n_dims], u32 ggml type, u64 offset), padding to general.alignment (default
 * 32), tensor data. dims[0] is the fastest-varying axis, so a Hugging Face weight of
 * shape (out, in) is stored with dims = {in, out}.
 *
 * The whole file is mmapped; every count, length and offset is checked against the
 * file size and against caps before use, and errors name the file and the key or
 * tensor. Quantised types supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1 (others are an
 * "unsupported" error naming the type).
 *
 * Layout note: llama.cpp's converter permutes the rows of Llama's Q and K projections
 * for its interleaved RoPE. This reader returns tensors exactly as stored; the model
 * loader undoes that permutation (model/load.c). */
#ifndef CADA_IO_GGUF_H
#define CADA_IO_GGUF_H

#include "base/error.h"

#include <stddef.h>
#include <stdint.h>

typedef enum {
    CADA_GGUF_UINT8 = 0, CADA_GGUF_INT8 = 1, CADA_GGUF_UINT16 = 2, CADA_GGUF_INT16 = 3,
    CADA_GGUF_UINT32 = 4, CADA_GGUF_INT32 = 5, CADA_GGUF_FLOAT32 = 6, CADA_GGUF_BOOL = 7,
    CADA_GGUF_STRING = 8, CADA_GGUF_ARRAY = 9, CADA_GGUF_UINT64 = 10, CADA_GGUF_INT64 = 11,
    CADA_GGUF_FLOAT64 = 12
} cada_gguf_type;

/* ggml tensor types that cada reads (values as in ggml.h). */
enum {
    CADA_GGML_F32 = 0, CADA_GGML_F16 = 1, CADA_GGML_Q4_0 = 2, CADA_GGML_Q4_1 = 3,
    CADA_GGML_Q8_0 = 8, CADA_GGML_BF16 = 30
};

typedef struct {
    const char *str; /* not NUL-terminated: use len */
    uint64_t len;
} cada_gguf_string;

typedef struct {
    char *key;              /* NUL-terminated copy */
    cada_gguf_type type;
    /* Scalars: */
    union {
        uint64_t u64;       /* any unsigned integer type, and bool */
        int64_t i64;        /* any signed integer type */
        double f64;         /* FLOAT32 and FLOAT64 */
        cada_gguf_string str;
    } v;
    /* Arrays (type == CADA_GGUF_ARRAY): */
    cada_gguf_type arr_type;
    uint64_t arr_len;
    const void *arr_data;        /* numeric arrays: elements in the mapping */
    cada_gguf_string *arr_strs;  /* string arrays: one entry per element */
} cada_gguf_kv;

typedef struct {
    char *name;
    int ndim;
    uint64_t dims[4];    /* dims[0] fastest */
    uint32_t ggml_type;
    uint64_t numel;
    const void *data;    /* inside the mapping */
    uint64_t nbytes;
} cada_gguf_tensor;

typedef struct {
    char *path;
    void *map;
    size_t size;
    uint32_t version;
    uint64_t n_kv;
    cada_gguf_kv *kv;
    uint64_t n_tensors;
    cada_gguf_tensor *tensors;
    uint64_t alignment;
} cada_gguf;

cada_status cada_gguf_open(cada_gguf *g, const char *path);
void cada_gguf_close(cada_gguf *g);

const cada_gguf_kv *cada_gguf_find(const cada_gguf *g, const char *key);
/* Typed getters: a missing key or a type that cannot hold the value is a config error
 * naming the file and key. Integers accept any integer type whose value fits. */
cada_status cada_gguf_get_u64(const cada_gguf *g, const char *key, uint64_t *out);
cada_status cada_gguf_get_f64(const cada_gguf *g, const char *key, double *out);
/* Returns a malloc'd NUL-terminated copy. */
cada_status cada_gguf_get_string(const cada_gguf *g, const char *key, char **out);

const cada_gguf_tensor *cada_gguf_find_tensor(const cada_gguf *g, const char *name);
const char *cada_ggml_type_name(uint32_t ggml_type);

/* Dequantises t into out (t->numel floats; n must equal it). */
cada_status cada_gguf_tensor_to_f32(const cada_gguf *g, const cada_gguf_tensor *t, float *out, uint64_t n);

#endif
