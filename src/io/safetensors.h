/* io/safetensors.h: Hugging Face safetensors, read (mmap) and write.
 *
 * Format (https://huggingface.co/docs/safetensors): u64 little-endian header length N,
 * N bytes of JSON {"name": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]},
 * "__metadata__": {...}}, then the data; offsets are relative to the end of the header.
 *
 * Reading checks, with real checks (never assert), and reports the file and tensor:
 * header length within the file and below a cap (100 MB); JSON well-formed; each dtype
 * known; shape non-negative and its element count times the dtype size equal to the
 * offsets' span; offsets inside the data section; no two tensors overlapping.
 *
 * A checkpoint may be one file or shards listed by model.safetensors.index.json
 * ({"weight_map": {"name": "model-00001-of-00002.safetensors", ...}}); opening a
 * directory finds either form. Tensor data stays in the mapping: no copy is made. */
#ifndef CADA_IO_SAFETENSORS_H
#define CADA_IO_SAFETENSORS_H

#include "base/error.h"
#include "io/dtype.h"

#include <stddef.h>
#include <stdint.h>

#define CADA_MAX_DIMS 8

typedef struct {
    char *name;
    cada_dtype dtype;
    int ndim;
    int64_t shape[CADA_MAX_DIMS];
    int64_t numel;
    const void *data; /* inside the shard's mapping */
    size_t nbytes;
    int shard;        /* index into cada_safetensors.shard_paths */
} cada_st_tensor;

typedef struct {
    int n_tensors;
    cada_st_tensor *tensors;
    int n_shards;
    char **shard_paths;
    void **shard_maps;
    size_t *shard_sizes;
} cada_safetensors;

/* path: a .safetensors file, a model.safetensors.index.json, or a directory holding one
 * of model.safetensors / model.safetensors.index.json. */
cada_status cada_safetensors_open(cada_safetensors *st, const char *path);
void cada_safetensors_close(cada_safetensors *st);
const cada_st_tensor *cada_safetensors_find(const cada_safetensors *st, const char *name);

/* Copies tensor t into out as fp32; n must equal t->numel (else a format error naming
 * the tensor). */
cada_status cada_st_tensor_to_f32(const cada_safetensors *st, const cada_st_tensor *t, float *out, int64_t n);

/* Copies the block rows [row0, row0 + rows) x columns [col0, col0 + cols) of tensor t,
 * seen as a (shape[0], numel / shape[0]) matrix (a 1-D tensor: (n, 1)), into out as
 * fp32, row-major (rows x cols). Only the block's bytes of the mapping are read: a
 * tensor-parallel rank loads its slice without the rest (model/load.h). A block outside
 * the tensor is a format error naming the tensor. */
cada_status cada_st_tensor_block_to_f32(const cada_safetensors *st, const cada_st_tensor *t, int64_t row0, int64_t rows,
                                        int64_t col0, int64_t cols, float *out);

typedef struct {
    const char *name;
    cada_dtype dtype; /* the dtype of data, written as is */
    int ndim;
    int64_t shape[CADA_MAX_DIMS];
    const void *data;
} cada_st_entry;

/* Writes one file (to path + ".tmp", fsynced, then renamed). metadata_json: a JSON
 * object of string values for "__metadata__", or NULL for {"format": "pt"}. Tensors are
 * laid out in the given order, back to back: the reference reader (Python safetensors)
 * rejects any gap between tensors. The header is padded with spaces to a multiple of 8,
 * so the data section starts 8-byte aligned and each tensor is 8-byte aligned whenever
 * the byte sizes of the tensors before it are multiples of 8 (as LLM weights are). */
cada_status cada_safetensors_write(const char *path, const cada_st_entry *entries, int n,
                                   const char *metadata_json);

/* Supplies tensor i's bytes (entries[i]'s dtype and shape) when the writer reaches it;
 * *data must stay valid until the next call. */
typedef cada_status (*cada_st_source)(void *ctx, int i, const void **data);
/* The same file, but the data comes tensor by tensor from source (entries' data may be
 * NULL): a converter then holds one tensor at a time, never the whole model. */
cada_status cada_safetensors_write_stream(const char *path, const cada_st_entry *entries, int n,
                                          const char *metadata_json, cada_st_source source, void *ctx);

#endif
