/* model/config.h: the shape of a Llama-family model, from config.json or GGUF metadata.
 *
 * Supported: LlamaForCausalLM (Llama 2/3/3.1/3.2, SmolLM2) and Qwen2ForCausalLM
 * (Qwen2/2.5: QKV bias). Keys read from config.json (Hugging Face names):
 *   required: hidden_size, intermediate_size, num_hidden_layers, num_attention_heads,
 *             vocab_size, and architectures[0] or model_type;
 *   optional: num_key_value_heads (= heads), head_dim (= hidden/heads), rms_norm_eps
 *             (1e-6), rope_theta (10000), rope_scaling {rope_type|type: "llama3" | "linear"
 *             | "default"}, also the transformers-5 form rope_parameters {...},
 *             tie_word_embeddings (false), attention_bias (llama; false),
 *             max_position_embeddings, bos_token_id, eos_token_id, torch_dtype|dtype.
 * Anything the model code does not implement (mlp_bias, sliding windows, other RoPE
 * types) is refused with an error naming the key, never ignored. */
#ifndef CADA_MODEL_CONFIG_H
#define CADA_MODEL_CONFIG_H

#include "base/error.h"
#include "io/gguf.h"

typedef enum { CADA_ARCH_LLAMA = 0, CADA_ARCH_QWEN2 } cada_arch;
typedef enum { CADA_ROPE_DEFAULT = 0, CADA_ROPE_LLAMA3, CADA_ROPE_LINEAR } cada_rope_type;

typedef struct {
    cada_arch arch;
    int vocab_size;        /* V */
    int hidden_size;       /* C */
    int intermediate_size; /* I */
    int n_layers;          /* L */
    int n_heads;           /* H */
    int n_kv_heads;        /* KVH */
    int head_dim;          /* D */
    float rms_eps;
    float rope_theta;
    cada_rope_type rope_type;
    float rope_factor;          /* llama3, linear */
    float rope_low_freq_factor; /* llama3 */
    float rope_high_freq_factor;
    int rope_original_max_pos;
    int max_position_embeddings;
    int tie_embeddings;
    int qkv_bias;
    int bos_token_id, eos_token_id; /* -1 when unknown */
    char dtype[16];                 /* as published: "bfloat16", "float32", ... */
} cada_model_config;

const char *cada_arch_name(cada_arch a);       /* "LlamaForCausalLM", ... */
const char *cada_rope_type_name(cada_rope_type t);

/* path: a config.json file. Errors name the file and the key. */
cada_status cada_config_from_json_file(cada_model_config *cfg, const char *path);
/* Parses the text of a config.json (name is used in error messages). */
cada_status cada_config_from_json(cada_model_config *cfg, const char *text, const char *name);
/* From GGUF metadata (<arch>.block_count, ...); tie_embeddings from the absence of
 * output.weight; qkv_bias from blk.0.attn_q.bias. */
cada_status cada_config_from_gguf(cada_model_config *cfg, const cada_gguf *g);
/* Checks the dimensions agree (heads divide, head_dim even, sizes positive and below
 * sane caps). Called by both parsers. */
cada_status cada_config_validate(const cada_model_config *cfg, const char *name);

/* Writes a config.json that Hugging Face transformers loads (cJSON text, malloc'd). */
char *cada_config_to_json(const cada_model_config *cfg);

/* RoPE inverse frequencies (D/2 floats) with the configured scaling, computed in fp32
 * in the same order as transformers' rope initialisers. */
void cada_config_rope_inv_freq(const cada_model_config *cfg, float *inv_freq);

/* Parameter count (embeddings counted once when tied). */
long long cada_config_param_count(const cada_model_config *cfg);
/* KV-cache bytes per token at the given element size (2 for bf16, 4 for fp32). */
long long cada_config_kv_bytes_per_token(const cada_model_config *cfg, int elem_bytes);

#endif
