/* model/config.c: see config.h. */
#include "model/config.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Caps that no published model reaches; they keep a hostile config from asking for
 * petabytes before anything else can complain. */
#define CAP_DIM (1 << 17)
#define CAP_VOCAB (1 << 22)
#define CAP_LAYERS 1024

const char *cada_arch_name(cada_arch a) {
    return a == CADA_ARCH_QWEN2 ? "Qwen2ForCausalLM" : "LlamaForCausalLM";
}

const char *cada_rope_type_name(cada_rope_type t) {
    switch (t) {
    case CADA_ROPE_LLAMA3: return "llama3";
    case CADA_ROPE_LINEAR: return "linear";
    default: return "default";
    }
}

static void config_defaults(cada_model_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->rms_eps = 1e-6f;
    cfg->rope_theta = 10000.0f;
    cfg->rope_type = CADA_ROPE_DEFAULT;
    cfg->rope_factor = 1.0f;
    cfg->max_position_embeddings = 2048;
    cfg->bos_token_id = -1;
    cfg->eos_token_id = -1;
    snprintf(cfg->dtype, sizeof cfg->dtype, "float32");
}

cada_status cada_config_validate(const cada_model_config *c, const char *name) {
#define POSITIVE_BELOW(field, cap)                                                       \
    if (c->field <= 0 || c->field > (cap))                                               \
        return CADA_ERR(CADA_ERR_CONFIG, "%s: %s = %d is out of range (1..%d)", name, #field, \
                        c->field, (cap));
    POSITIVE_BELOW(vocab_size, CAP_VOCAB)
    POSITIVE_BELOW(hidden_size, CAP_DIM)
    POSITIVE_BELOW(intermediate_size, 4 * CAP_DIM)
    POSITIVE_BELOW(n_layers, CAP_LAYERS)
    POSITIVE_BELOW(n_heads, CAP_DIM)
    POSITIVE_BELOW(n_kv_heads, CAP_DIM)
    POSITIVE_BELOW(head_dim, 4096)
#undef POSITIVE_BELOW
    if (c->n_heads % c->n_kv_heads != 0)
        return CADA_ERR(CADA_ERR_CONFIG, "%s: num_attention_heads (%d) is not a multiple of num_key_value_heads (%d)",
                        name, c->n_heads, c->n_kv_heads);
    if (c->head_dim % 2 != 0)
        return CADA_ERR(CADA_ERR_CONFIG, "%s: head_dim (%d) must be even for RoPE", name, c->head_dim);
    if (!(c->rms_eps > 0.0f) || !(c->rope_theta > 1.0f))
        return CADA_ERR(CADA_ERR_CONFIG, "%s: rms_norm_eps (%g) and rope_theta (%g) must be positive", name,
                        (double)c->rms_eps, (double)c->rope_theta);
    if (c->rope_type != CADA_ROPE_DEFAULT && !(c->rope_factor > 0.0f))
        return CADA_ERR(CADA_ERR_CONFIG, "%s: rope scaling factor (%g) must be positive", name,
                        (double)c->rope_factor);
    if (c->rope_type == CADA_ROPE_LLAMA3 &&
        (c->rope_original_max_pos <= 0 || !(c->rope_high_freq_factor > c->rope_low_freq_factor)))
        return CADA_ERR(CADA_ERR_CONFIG,
                        "%s: llama3 rope scaling needs original_max_position_embeddings > 0 and high_freq_factor > low_freq_factor",
                        name);
    return CADA_OK;
}

/* ---- config.json ------------------------------------------------------------------- */

static cada_status json_int(const cJSON *root, const char *key, int required, int *out, const char *name) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!item || cJSON_IsNull(item)) {
        if (required) return CADA_ERR(CADA_ERR_CONFIG, "%s: missing required key '%s'", name, key);
        return CADA_OK;
    }
    if (!cJSON_IsNumber(item) || item->valuedouble != floor(item->valuedouble) ||
        fabs(item->valuedouble) > 2147483647.0)
        return CADA_ERR(CADA_ERR_CONFIG, "%s: key '%s' must be an integer", name, key);
    *out = (int)item->valuedouble;
    return CADA_OK;
}

static cada_status json_float(const cJSON *root, const char *key, float *out, const char *name) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!item || cJSON_IsNull(item)) return CADA_OK;
    if (!cJSON_IsNumber(item)) return CADA_ERR(CADA_ERR_CONFIG, "%s: key '%s' must be a number", name, key);
    *out = (float)item->valuedouble;
    return CADA_OK;
}

static cada_status json_bool(const cJSON *root, const char *key, int *out, const char *name) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!item || cJSON_IsNull(item)) return CADA_OK;
    if (!cJSON_IsBool(item)) return CADA_ERR(CADA_ERR_CONFIG, "%s: key '%s' must be true or false", name, key);
    *out = cJSON_IsTrue(item);
    return CADA_OK;
}

/* Token ids may be an int or a list (Llama 3.1 lists several EOS ids: take the first). */
static cada_status json_token_id(const cJSON *root, const char *key, int *out, const char *name) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, key);
    if (cJSON_IsArray(item)) item = cJSON_GetArrayItem(item, 0);
    if (!item || cJSON_IsNull(item)) return CADA_OK;
    if (!cJSON_IsNumber(item) || !(item->valuedouble >= -1 && item->valuedouble <= 2147483647.0) ||
        item->valuedouble != floor(item->valuedouble))
        return CADA_ERR(CADA_ERR_CONFIG, "%s: key '%s' must be a token id (an integer in [-1, 2^31))", name, key);
    *out = (int)item->valuedouble;
    return CADA_OK;
}

/* rope_scaling (transformers 4) or rope_parameters (transformers 5). */
static cada_status parse_rope(cada_model_config *cfg, const cJSON *root, const char *name) {
    const cJSON *rope = cJSON_GetObjectItemCaseSensitive(root, "rope_parameters");
    const char *key = "rope_parameters";
    if (!rope || cJSON_IsNull(rope)) {
        rope = cJSON_GetObjectItemCaseSensitive(root, "rope_scaling");
        key = "rope_scaling";
    }
    if (!rope || cJSON_IsNull(rope)) return CADA_OK;
    if (!cJSON_IsObject(rope)) return CADA_ERR(CADA_ERR_CONFIG, "%s: '%s' must be an object", name, key);
    CADA_TRY(json_float(rope, "rope_theta", &cfg->rope_theta, name));
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(rope, "rope_type");
    if (!type) type = cJSON_GetObjectItemCaseSensitive(rope, "type");
    const char *t = cJSON_IsString(type) ? type->valuestring : "default";
    if (!strcmp(t, "default")) {
        cfg->rope_type = CADA_ROPE_DEFAULT;
    } else if (!strcmp(t, "llama3")) {
        cfg->rope_type = CADA_ROPE_LLAMA3;
        CADA_TRY(json_float(rope, "factor", &cfg->rope_factor, name));
        CADA_TRY(json_float(rope, "low_freq_factor", &cfg->rope_low_freq_factor, name));
        CADA_TRY(json_float(rope, "high_freq_factor", &cfg->rope_high_freq_factor, name));
        CADA_TRY(json_int(rope, "original_max_position_embeddings", 1, &cfg->rope_original_max_pos, name));
    } else if (!strcmp(t, "linear")) {
        cfg->rope_type = CADA_ROPE_LINEAR;
        CADA_TRY(json_float(rope, "factor", &cfg->rope_factor, name));
    } else {
        return CADA_ERR(CADA_ERR_UNSUPPORTED, "%s: %s.rope_type '%s' is not supported (default, llama3, linear)",
                        name, key, t);
    }
    return CADA_OK;
}

cada_status cada_config_from_json(cada_model_config *cfg, const char *text, const char *name) {
    config_defaults(cfg);
    cJSON *root = cJSON_Parse(text);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return CADA_ERR(CADA_ERR_FORMAT, "%s: not a JSON object", name);
    }
    cada_status st = CADA_OK;
    const cJSON *archs = cJSON_GetObjectItemCaseSensitive(root, "architectures");
    const cJSON *mtype = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    const char *arch = NULL;
    if (cJSON_IsArray(archs) && cJSON_IsString(cJSON_GetArrayItem(archs, 0)))
        arch = cJSON_GetArrayItem(archs, 0)->valuestring;
    if (arch && !strcmp(arch, "LlamaForCausalLM")) cfg->arch = CADA_ARCH_LLAMA;
    else if (arch && !strcmp(arch, "Qwen2ForCausalLM")) cfg->arch = CADA_ARCH_QWEN2;
    else if (!arch && cJSON_IsString(mtype) && !strcmp(mtype->valuestring, "llama")) cfg->arch = CADA_ARCH_LLAMA;
    else if (!arch && cJSON_IsString(mtype) && !strcmp(mtype->valuestring, "qwen2")) cfg->arch = CADA_ARCH_QWEN2;
    else {
        st = CADA_ERR(arch || cJSON_IsString(mtype) ? CADA_ERR_UNSUPPORTED : CADA_ERR_CONFIG,
                      "%s: architectures[0] '%s' / model_type '%s' is not supported (LlamaForCausalLM, Qwen2ForCausalLM)",
                      name, arch ? arch : "(missing)", cJSON_IsString(mtype) ? mtype->valuestring : "(missing)");
        goto done;
    }
    cfg->qkv_bias = cfg->arch == CADA_ARCH_QWEN2;
#define TRY_GOTO(expr)                                                                   \
    do {                                                                                 \
        st = (expr);                                                                     \
        if (st != CADA_OK) goto done;                                                    \
    } while (0)
    TRY_GOTO(json_int(root, "hidden_size", 1, &cfg->hidden_size, name));
    TRY_GOTO(json_int(root, "intermediate_size", 1, &cfg->intermediate_size, name));
    TRY_GOTO(json_int(root, "num_hidden_layers", 1, &cfg->n_layers, name));
    TRY_GOTO(json_int(root, "num_attention_heads", 1, &cfg->n_heads, name));
    TRY_GOTO(json_int(root, "vocab_size", 1, &cfg->vocab_size, name));
    cfg->n_kv_heads = cfg->n_heads;
    TRY_GOTO(json_int(root, "num_key_value_heads", 0, &cfg->n_kv_heads, name));
    cfg->head_dim = cfg->n_heads > 0 ? cfg->hidden_size / cfg->n_heads : 0;
    TRY_GOTO(json_int(root, "head_dim", 0, &cfg->head_dim, name));
    TRY_GOTO(json_int(root, "max_position_embeddings", 0, &cfg->max_position_embeddings, name));
    TRY_GOTO(json_float(root, "rms_norm_eps", &cfg->rms_eps, name));
    TRY_GOTO(json_float(root, "rope_theta", &cfg->rope_theta, name));
    TRY_GOTO(parse_rope(cfg, root, name));
    TRY_GOTO(json_bool(root, "tie_word_embeddings", &cfg->tie_embeddings, name));
    TRY_GOTO(json_token_id(root, "bos_token_id", &cfg->bos_token_id, name));
    TRY_GOTO(json_token_id(root, "eos_token_id", &cfg->eos_token_id, name));
    if (cfg->arch == CADA_ARCH_LLAMA) {
        int attention_bias = 0, mlp_bias = 0;
        TRY_GOTO(json_bool(root, "attention_bias", &attention_bias, name));
        TRY_GOTO(json_bool(root, "mlp_bias", &mlp_bias, name));
        if (attention_bias || mlp_bias) {
            st = CADA_ERR(CADA_ERR_UNSUPPORTED, "%s: %s = true is not supported", name,
                          mlp_bias ? "mlp_bias" : "attention_bias");
            goto done;
        }
    } else {
        int sliding = 0;
        TRY_GOTO(json_bool(root, "use_sliding_window", &sliding, name));
        if (sliding) {
            st = CADA_ERR(CADA_ERR_UNSUPPORTED, "%s: use_sliding_window = true is not supported", name);
            goto done;
        }
    }
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(root, "hidden_act");
    if (act && !(cJSON_IsString(act) && !strcmp(act->valuestring, "silu"))) {
        st = CADA_ERR(CADA_ERR_UNSUPPORTED, "%s: hidden_act must be \"silu\"", name);
        goto done;
    }
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(root, "torch_dtype");
    if (!dt) dt = cJSON_GetObjectItemCaseSensitive(root, "dtype");
    if (cJSON_IsString(dt)) snprintf(cfg->dtype, sizeof cfg->dtype, "%s", dt->valuestring);
#undef TRY_GOTO
    st = cada_config_validate(cfg, name);
done:
    cJSON_Delete(root);
    return st;
}

cada_status cada_config_from_json_file(cada_model_config *cfg, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return CADA_ERR(CADA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *text = NULL;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (size < 0 || size > (16 << 20) || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return CADA_ERR(CADA_ERR_FORMAT, "%s: unreadable or larger than 16 MiB", path);
    }
    text = CADA_MALLOC((size_t)size + 1, "config.json text");
    if (!text) {
        fclose(f);
        return CADA_ERR_NOMEM;
    }
    size_t got = fread(text, 1, (size_t)size, f);
    fclose(f);
    text[got] = 0;
    cada_status st = cada_config_from_json(cfg, text, path);
    free(text);
    return st;
}

/* ---- GGUF ---------------------------------------------------------------------------- */

static cada_status gguf_int(const cada_gguf *g, const char *arch, const char *suffix, int required, int *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    if (!cada_gguf_find(g, key)) {
        if (required) return CADA_ERR(CADA_ERR_CONFIG, "%s: missing metadata key '%s'", g->path, key);
        return CADA_OK;
    }
    uint64_t v = 0;
    CADA_TRY(cada_gguf_get_u64(g, key, &v));
    if (v > 0x7fffffff) return CADA_ERR(CADA_ERR_CONFIG, "%s: '%s' = %llu is out of range", g->path, key, (unsigned long long)v);
    *out = (int)v;
    return CADA_OK;
}

static cada_status gguf_float(const cada_gguf *g, const char *arch, const char *suffix, float *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    if (!cada_gguf_find(g, key)) return CADA_OK;
    double v = 0;
    CADA_TRY(cada_gguf_get_f64(g, key, &v));
    *out = (float)v;
    return CADA_OK;
}

cada_status cada_config_from_gguf(cada_model_config *cfg, const cada_gguf *g) {
    config_defaults(cfg);
    char *arch = NULL;
    CADA_TRY(cada_gguf_get_string(g, "general.architecture", &arch));
    cada_status st = CADA_OK;
    if (!strcmp(arch, "llama")) cfg->arch = CADA_ARCH_LLAMA;
    else if (!strcmp(arch, "qwen2")) cfg->arch = CADA_ARCH_QWEN2;
    else {
        st = CADA_ERR(CADA_ERR_UNSUPPORTED, "%s: general.architecture '%s' is not supported (llama, qwen2)", g->path, arch);
        free(arch);
        return st;
    }
#define TRY_FREE(expr)                                                                   \
    do {                                                                                 \
        st = (expr);                                                                     \
        if (st != CADA_OK) { free(arch); return st; }                                    \
    } while (0)
    TRY_FREE(gguf_int(g, arch, "block_count", 1, &cfg->n_layers));
    TRY_FREE(gguf_int(g, arch, "embedding_length", 1, &cfg->hidden_size));
    TRY_FREE(gguf_int(g, arch, "feed_forward_length", 1, &cfg->intermediate_size));
    TRY_FREE(gguf_int(g, arch, "attention.head_count", 1, &cfg->n_heads));
    cfg->n_kv_heads = cfg->n_heads;
    TRY_FREE(gguf_int(g, arch, "attention.head_count_kv", 0, &cfg->n_kv_heads));
    cfg->head_dim = cfg->n_heads > 0 ? cfg->hidden_size / cfg->n_heads : 0;
    TRY_FREE(gguf_int(g, arch, "rope.dimension_count", 0, &cfg->head_dim));
    TRY_FREE(gguf_int(g, arch, "context_length", 0, &cfg->max_position_embeddings));
    TRY_FREE(gguf_float(g, arch, "rope.freq_base", &cfg->rope_theta));
    TRY_FREE(gguf_float(g, arch, "attention.layer_norm_rms_epsilon", &cfg->rms_eps));
    /* The vocabulary size: <arch>.vocab_size, else the token list, else the embedding. */
    cfg->vocab_size = 0;
    TRY_FREE(gguf_int(g, arch, "vocab_size", 0, &cfg->vocab_size));
    const cada_gguf_kv *tokens = cada_gguf_find(g, "tokenizer.ggml.tokens");
    if (!cfg->vocab_size && tokens && tokens->type == CADA_GGUF_ARRAY) cfg->vocab_size = (int)tokens->arr_len;
    const cada_gguf_tensor *emb = cada_gguf_find_tensor(g, "token_embd.weight");
    if (!emb) {
        free(arch);
        return CADA_ERR(CADA_ERR_FORMAT, "%s: tensor 'token_embd.weight' is missing", g->path);
    }
    if (!cfg->vocab_size && emb->ndim == 2) cfg->vocab_size = (int)emb->dims[1];
    if (cada_gguf_find(g, "llama.rope.scaling.type") || cada_gguf_find_tensor(g, "rope_freqs.weight")) {
        free(arch);
        return CADA_ERR(CADA_ERR_UNSUPPORTED,
                        "%s: RoPE scaling stored in GGUF (rope_freqs.weight / rope.scaling.*) is not read yet; load the Hugging Face checkpoint instead",
                        g->path);
    }
    cfg->tie_embeddings = cada_gguf_find_tensor(g, "output.weight") == NULL;
    cfg->qkv_bias = cada_gguf_find_tensor(g, "blk.0.attn_q.bias") != NULL;
    uint64_t id; /* an id past int's range is no token: left unknown */
    if (cada_gguf_find(g, "tokenizer.ggml.bos_token_id") && cada_gguf_get_u64(g, "tokenizer.ggml.bos_token_id", &id) == CADA_OK &&
        id <= INT32_MAX)
        cfg->bos_token_id = (int)id;
    if (cada_gguf_find(g, "tokenizer.ggml.eos_token_id") && cada_gguf_get_u64(g, "tokenizer.ggml.eos_token_id", &id) == CADA_OK &&
        id <= INT32_MAX)
        cfg->eos_token_id = (int)id;
#undef TRY_FREE
    free(arch);
    return cada_config_validate(cfg, g->path);
}

/* ---- derived quantities ---------------------------------------------------------------- */

void cada_config_rope_inv_freq(const cada_model_config *cfg, float *inv_freq) {
    const int half = cfg->head_dim / 2;
    for (int i = 0; i < half; i++) {
        /* transformers: 1.0 / (base ** (arange(0, dim, 2).float() / dim)), all fp32 */
        float e = (float)(2 * i) / (float)cfg->head_dim;
        inv_freq[i] = 1.0f / powf(cfg->rope_theta, e);
    }
    if (cfg->rope_type == CADA_ROPE_LINEAR) {
        for (int i = 0; i < half; i++) inv_freq[i] /= cfg->rope_factor;
    } else if (cfg->rope_type == CADA_ROPE_LLAMA3) {
        /* transformers' _compute_llama3_parameters, step by step in fp32: frequencies
         * whose wavelength exceeds the original context are divided by the factor, short
         * ones are kept, and the band between is interpolated. */
        const float factor = cfg->rope_factor, lo = cfg->rope_low_freq_factor, hi = cfg->rope_high_freq_factor;
        const float old_ctx = (float)cfg->rope_original_max_pos;
        const float low_freq_wavelen = old_ctx / lo, high_freq_wavelen = old_ctx / hi;
        for (int i = 0; i < half; i++) {
            float wavelen = (float)(2.0 * M_PI) / inv_freq[i];
            float f = wavelen > low_freq_wavelen ? inv_freq[i] / factor : inv_freq[i];
            float smooth = (old_ctx / wavelen - lo) / (hi - lo);
            float smoothed = (1.0f - smooth) * f / factor + smooth * f;
            int medium = !(wavelen < high_freq_wavelen) && !(wavelen > low_freq_wavelen);
            inv_freq[i] = medium ? smoothed : f;
        }
    }
}

long long cada_config_param_count(const cada_model_config *c) {
    long long C = c->hidden_size, I = c->intermediate_size, V = c->vocab_size, D = c->head_dim;
    long long qkv = (long long)(c->n_heads + 2 * c->n_kv_heads) * D;
    long long per_layer = 2 * C + qkv * C + (c->qkv_bias ? qkv : 0) + C * c->n_heads * D + 3 * C * I;
    return V * C * (c->tie_embeddings ? 1 : 2) + c->n_layers * per_layer + C;
}

long long cada_config_kv_bytes_per_token(const cada_model_config *c, int elem_bytes) {
    return 2LL * c->n_layers * c->n_kv_heads * c->head_dim * elem_bytes;
}

/* The shortest decimal that reads back as the same float: 1e-5f is written as 1e-05,
 * not 9.99999974737875e-06, so the config.json we write reads like a published one. */
static double short_decimal(float f) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.7g", (double)f);
    return strtod(buf, NULL);
}

char *cada_config_to_json(const cada_model_config *c) {
    cJSON *root = cJSON_CreateObject();
    cJSON *archs = cJSON_AddArrayToObject(root, "architectures");
    cJSON_AddItemToArray(archs, cJSON_CreateString(cada_arch_name(c->arch)));
    cJSON_AddStringToObject(root, "model_type", c->arch == CADA_ARCH_QWEN2 ? "qwen2" : "llama");
    cJSON_AddNumberToObject(root, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(root, "hidden_size", c->hidden_size);
    cJSON_AddNumberToObject(root, "intermediate_size", c->intermediate_size);
    cJSON_AddNumberToObject(root, "num_hidden_layers", c->n_layers);
    cJSON_AddNumberToObject(root, "num_attention_heads", c->n_heads);
    cJSON_AddNumberToObject(root, "num_key_value_heads", c->n_kv_heads);
    cJSON_AddNumberToObject(root, "head_dim", c->head_dim);
    cJSON_AddStringToObject(root, "hidden_act", "silu");
    cJSON_AddNumberToObject(root, "max_position_embeddings", c->max_position_embeddings);
    cJSON_AddNumberToObject(root, "rms_norm_eps", short_decimal(c->rms_eps));
    cJSON_AddNumberToObject(root, "rope_theta", short_decimal(c->rope_theta));
    if (c->rope_type == CADA_ROPE_DEFAULT) {
        cJSON_AddNullToObject(root, "rope_scaling");
    } else {
        cJSON *rs = cJSON_AddObjectToObject(root, "rope_scaling");
        cJSON_AddStringToObject(rs, "rope_type", cada_rope_type_name(c->rope_type));
        cJSON_AddNumberToObject(rs, "factor", short_decimal(c->rope_factor));
        if (c->rope_type == CADA_ROPE_LLAMA3) {
            cJSON_AddNumberToObject(rs, "low_freq_factor", short_decimal(c->rope_low_freq_factor));
            cJSON_AddNumberToObject(rs, "high_freq_factor", short_decimal(c->rope_high_freq_factor));
            cJSON_AddNumberToObject(rs, "original_max_position_embeddings", c->rope_original_max_pos);
        }
    }
    cJSON_AddBoolToObject(root, "tie_word_embeddings", c->tie_embeddings);
    if (c->arch == CADA_ARCH_LLAMA) {
        cJSON_AddBoolToObject(root, "attention_bias", 0);
        cJSON_AddBoolToObject(root, "mlp_bias", 0);
    }
    if (c->bos_token_id >= 0) cJSON_AddNumberToObject(root, "bos_token_id", c->bos_token_id);
    if (c->eos_token_id >= 0) cJSON_AddNumberToObject(root, "eos_token_id", c->eos_token_id);
    cJSON_AddStringToObject(root, "torch_dtype", "float32");
    cJSON_AddBoolToObject(root, "use_cache", 1);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    return text;
}
