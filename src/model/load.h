/* model/load.h: models in and out at the edge of cada, in one internal layout (the
 * Hugging Face layout of model.h's views).
 *
 *   - A Hugging Face folder: config.json + model.safetensors or sharded safetensors with
 *     model.safetensors.index.json, in F32, F16 or BF16 (converted to fp32).
 *   - A GGUF file (llama, qwen2): quantised tensors dequantised to fp32, and the row
 *     permutation that llama.cpp's converter applies to Llama's q_proj and k_proj undone,
 *     as transformers does when it loads a GGUF.
 * Every tensor's shape is checked against the configuration; a missing or misshapen
 * tensor is an error naming the file and the tensor. */
#ifndef CADA_MODEL_LOAD_H
#define CADA_MODEL_LOAD_H

#include "io/dtype.h"
#include "model/model.h"

typedef enum { CADA_SOURCE_HF = 0, CADA_SOURCE_GGUF } cada_source_kind;

/* Which kind of source path is: a .gguf file (by magic) or a folder / config.json. */
cada_status cada_model_source_kind(const char *path, cada_source_kind *kind);

/* The folder of a Hugging Face checkpoint given as the folder or its config.json. */
void cada_model_hf_folder(const char *path, char *dir, size_t cap);

/* Reads only the configuration. */
cada_status cada_model_load_config(const char *path, cada_model_config *cfg);

/* Loads configuration and weights into a freshly initialised model. */
cada_status cada_model_load(cada_model *m, const char *path);

/* Reads a Hugging Face folder's tensors (one file or shards) into the parameters of m,
 * already initialised: each tensor's shape is checked against m's configuration, and
 * no second copy of the model is made (a failure may leave m partly overwritten). */
cada_status cada_model_load_weights(cada_model *m, const char *path);

/* Tensor parallelism (model/tp.h): rank `rank`'s part of the model at path, over P
 * ranks, read without ever holding the whole model. m is initialised with
 * cada_tp_local_config(the file's configuration, P) (its tp pointer left NULL for the
 * caller to bind). A Hugging Face folder gives each tensor's slice straight from the
 * file's mapping (only those bytes are read); a GGUF file dequantises one tensor at a
 * time and keeps the slice (one whole tensor of scratch). P = 1 is cada_model_load.
 * The values are bit for bit those of cada_tp_model_from_full on the whole model. */
cada_status cada_model_load_part(cada_model *m, const char *path, int rank, int P);

/* The same for a Hugging Face folder into m, already initialised as that part of a
 * model shaped whole_cfg (a resumed checkpoint). */
cada_status cada_model_load_weights_part(cada_model *m, const char *path, const cada_model_config *whole_cfg, int rank, int P);

/* Undoes llama.cpp's permutation of one (heads * D, cols) matrix in place:
 * stored row h*D + 2i + s holds published row h*D + s*D/2 + i. */
cada_status cada_unpermute_rope_rows(float *w, int heads, int D, int64_t cols);

/* Writes dir/config.json and dir/model.safetensors (tensors in Hugging Face names and
 * shapes, the given dtype: F32, F16 or BF16). The folder is created; files are written
 * under temporary names and renamed. */
cada_status cada_model_save_hf(const cada_model *m, const char *dir, cada_dtype dtype);

/* The parts of the above, for a checkpoint that several writers share (io/shard_plan.h
 * says which tensors go to which file):
 *   save_config  dir/config.json (torch_dtype from dtype); creates dir.
 *   save_shard   the file of group `shard` when the published tensors are split among
 *                `writers`: model.safetensors for one writer, else
 *                model-<shard+1>-of-<S>.safetensors; nothing when shard >= S (more
 *                writers than tensors). Each writer may call it at the same time.
 *   save_index   dir/model.safetensors.index.json ({"metadata": {"total_size": bytes},
 *                "weight_map": {tensor: file}}, as transformers reads it); nothing for
 *                one group. Needs only the configuration. */
cada_status cada_model_save_config(const cada_model_config *cfg, const char *dir, cada_dtype dtype);

/* The plan behind save_shard and save_index: the published tensors of a model shaped
 * cfg (views; their data NULL when p is NULL) and the file of each (shard_of[i] in
 * [0, n_shards)), for `writers` writers of the given dtype. For writers that assemble
 * files from parts (model/tp_checkpoint.h). */
typedef struct {
    int n, n_shards;
    cada_tensor_view *views;
    int *shard_of;
} cada_shard_layout;
cada_status cada_shard_layout_make(cada_shard_layout *l, const cada_model_config *cfg, const cada_params *p, int writers,
                                   cada_dtype dtype);
void cada_shard_layout_free(cada_shard_layout *l);
cada_status cada_model_save_shard(const cada_model *m, const char *dir, int shard, int writers, cada_dtype dtype);
cada_status cada_model_save_index(const cada_model_config *cfg, const char *dir, int writers, cada_dtype dtype);

#endif
