/* model/load.c: see load.h. */
#define _POSIX_C_SOURCE 200809L
#include "model/load.h"

#include "base/fs.h"
#include "base/log.h"
#include "io/gguf.h"
#include "io/safetensors.h"
#include "io/shard_plan.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int is_dir(const char *path) {
    struct stat s;
    return stat(path, &s) == 0 && S_ISDIR(s.st_mode);
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* The folder of a Hugging Face checkpoint given as a folder or as its config.json. */
void cada_model_hf_folder(const char *path, char *dir, size_t cap) {
    snprintf(dir, cap, "%s", path);
    if (ends_with(dir, "config.json")) {
        char *slash = strrchr(dir, '/');
        if (slash) *slash = 0;
        else snprintf(dir, cap, ".");
    }
}

cada_status cada_model_source_kind(const char *path, cada_source_kind *kind) {
    if (is_dir(path) || ends_with(path, "config.json")) {
        *kind = CADA_SOURCE_HF;
        return CADA_OK;
    }
    FILE *f = fopen(path, "rb");
    if (!f) return CADA_ERR(CADA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char magic[4] = {0};
    size_t got = fread(magic, 1, 4, f);
    fclose(f);
    if (got == 4 && !memcmp(magic, "GGUF", 4)) {
        *kind = CADA_SOURCE_GGUF;
        return CADA_OK;
    }
    return CADA_ERR(CADA_ERR_FORMAT,
                    "%s: neither a GGUF file (magic 'GGUF') nor a Hugging Face folder or config.json", path);
}

cada_status cada_model_load_config(const char *path, cada_model_config *cfg) {
    cada_source_kind kind;
    CADA_TRY(cada_model_source_kind(path, &kind));
    if (kind == CADA_SOURCE_GGUF) {
        cada_gguf g;
        CADA_TRY(cada_gguf_open(&g, path));
        cada_status st = cada_config_from_gguf(cfg, &g);
        cada_gguf_close(&g);
        return st;
    }
    char dir[1024], cfg_path[1100];
    cada_model_hf_folder(path, dir, sizeof dir);
    snprintf(cfg_path, sizeof cfg_path, "%s/config.json", dir);
    return cada_config_from_json_file(cfg, cfg_path);
}

cada_status cada_unpermute_rope_rows(float *w, int heads, int D, int64_t cols) {
    float *tmp = CADA_MALLOC(sizeof(float) * (size_t)D * (size_t)cols, "RoPE row permutation");
    if (!tmp) return CADA_ERR_NOMEM;
    const int half = D / 2;
    for (int h = 0; h < heads; h++) {
        float *head = w + (int64_t)h * D * cols;
        memcpy(tmp, head, sizeof(float) * (size_t)D * (size_t)cols);
        for (int i = 0; i < half; i++)
            for (int s = 0; s < 2; s++)
                memcpy(head + (int64_t)(s * half + i) * cols, tmp + (int64_t)(2 * i + s) * cols,
                       sizeof(float) * (size_t)cols);
    }
    free(tmp);
    return CADA_OK;
}

cada_status cada_model_load_weights(cada_model *m, const char *path) {
    char dir[1024], cfg_path[1100];
    cada_model_hf_folder(path, dir, sizeof dir);
    snprintf(cfg_path, sizeof cfg_path, "%s/config.json", dir);
    const cada_model_config *cfg = &m->cfg;
    cada_safetensors st;
    cada_status s = cada_safetensors_open(&st, dir);
    if (s != CADA_OK) return s;
    int n = cada_model_tensor_views(cfg, &m->p, NULL);
    cada_tensor_view *views = CADA_MALLOC(sizeof *views * (size_t)n, "tensor views");
    if (!views) {
        cada_safetensors_close(&st);
        return CADA_ERR_NOMEM;
    }
    cada_model_tensor_views(cfg, &m->p, views);
    for (int i = 0; i < n && s == CADA_OK; i++) {
        const cada_tensor_view *v = &views[i];
        const cada_st_tensor *t = cada_safetensors_find(&st, v->hf_name);
        if (!t) {
            s = CADA_ERR(CADA_ERR_FORMAT, "%s: tensor '%s' is missing (%s expects it)", dir, v->hf_name, cfg_path);
            break;
        }
        int shape_ok = t->ndim == v->ndim && t->shape[0] == v->rows && (v->ndim == 1 || t->shape[1] == v->cols);
        if (!shape_ok) {
            s = CADA_ERR(CADA_ERR_FORMAT, "%s: tensor '%s' has shape [%lld%s%lld], config.json implies [%lld%s%lld]",
                         st.shard_paths[t->shard], v->hf_name, (long long)t->shape[0], t->ndim > 1 ? ", " : "",
                         t->ndim > 1 ? (long long)t->shape[1] : 0LL, (long long)v->rows, v->ndim > 1 ? ", " : "",
                         v->ndim > 1 ? (long long)v->cols : 0LL);
            break;
        }
        s = cada_st_tensor_to_f32(&st, t, v->data, v->rows * v->cols);
    }
    if (s == CADA_OK && st.n_tensors > n)
        CADA_DEBUG("%s: %d tensors not used by the model (e.g. rotary buffers, tied lm_head)", dir, st.n_tensors - n);
    free(views);
    cada_safetensors_close(&st);
    return s;
}

static cada_status load_hf(cada_model *m, const char *path) {
    char dir[1024], cfg_path[1100];
    cada_model_hf_folder(path, dir, sizeof dir);
    snprintf(cfg_path, sizeof cfg_path, "%s/config.json", dir);
    cada_model_config cfg;
    CADA_TRY(cada_config_from_json_file(&cfg, cfg_path));
    CADA_TRY(cada_model_init(m, &cfg));
    return cada_model_load_weights(m, dir);
}

static cada_status load_gguf(cada_model *m, const char *path) {
    cada_gguf g;
    CADA_TRY(cada_gguf_open(&g, path));
    cada_model_config cfg;
    cada_status s = cada_config_from_gguf(&cfg, &g);
    if (s == CADA_OK) s = cada_model_init(m, &cfg);
    int n = s == CADA_OK ? cada_model_tensor_views(&cfg, &m->p, NULL) : 0;
    cada_tensor_view *views = NULL;
    if (s == CADA_OK) {
        views = CADA_MALLOC(sizeof *views * (size_t)n, "tensor views");
        if (!views) s = CADA_ERR_NOMEM;
        else cada_model_tensor_views(&cfg, &m->p, views);
    }
    for (int i = 0; i < n && s == CADA_OK; i++) {
        const cada_tensor_view *v = &views[i];
        const cada_gguf_tensor *t = cada_gguf_find_tensor(&g, v->gguf_name);
        if (!t) {
            s = CADA_ERR(CADA_ERR_FORMAT, "%s: tensor '%s' is missing", path, v->gguf_name);
            break;
        }
        /* GGUF lists dims fastest first: an (out, in) weight is {in, out}. */
        int shape_ok = t->ndim == v->ndim &&
                       (v->ndim == 1 ? t->dims[0] == (uint64_t)v->rows
                                     : t->dims[0] == (uint64_t)v->cols && t->dims[1] == (uint64_t)v->rows);
        if (!shape_ok) {
            s = CADA_ERR(CADA_ERR_FORMAT, "%s: tensor '%s' has dims {%llu%s%llu}, the metadata implies {%lld%s%lld}", path,
                         v->gguf_name, (unsigned long long)t->dims[0], t->ndim > 1 ? ", " : "",
                         t->ndim > 1 ? (unsigned long long)t->dims[1] : 0ULL, (long long)(v->ndim == 1 ? v->rows : v->cols),
                         v->ndim > 1 ? ", " : "", v->ndim > 1 ? (long long)v->rows : 0LL);
            break;
        }
        s = cada_gguf_tensor_to_f32(&g, t, v->data, (uint64_t)(v->rows * v->cols));
        if (s == CADA_OK && v->rope_permuted) s = cada_unpermute_rope_rows(v->data, v->n_rope_heads, cfg.head_dim, v->cols);
    }
    free(views);
    cada_gguf_close(&g);
    return s;
}

cada_status cada_model_load(cada_model *m, const char *path) {
    memset(m, 0, sizeof *m);
    cada_source_kind kind;
    CADA_TRY(cada_model_source_kind(path, &kind));
    cada_status s = kind == CADA_SOURCE_GGUF ? load_gguf(m, path) : load_hf(m, path);
    if (s != CADA_OK) {
        cada_model_free(m);
        return s;
    }
    snprintf(m->source, sizeof m->source, "%s", path);
    return CADA_OK;
}

static cada_status write_text_file(const char *path, const char *text) {
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return CADA_ERR(CADA_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    size_t n = strlen(text);
    int ok = fwrite(text, 1, n, f) == n && fputc('\n', f) != EOF;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) return CADA_ERR(CADA_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return CADA_OK;
}

cada_status cada_model_save_config(const cada_model_config *cfg, const char *dir, cada_dtype dtype) {
    if (dtype != CADA_DTYPE_F32 && dtype != CADA_DTYPE_F16 && dtype != CADA_DTYPE_BF16)
        return CADA_ERR(CADA_ERR_ARG, "save: dtype %s is not a float type", cada_dtype_name(dtype));
    CADA_TRY(cada_mkdir_p(dir));
    cada_model_config c = *cfg;
    char path[1100];
    char *json = cada_config_to_json(&c);
    if (!json) return CADA_ERR(CADA_ERR_NOMEM, "config.json text");
    if (dtype != CADA_DTYPE_F32) {
        /* record the stored precision like transformers does */
        const char *name = dtype == CADA_DTYPE_BF16 ? "bfloat16" : "float16";
        char *at = strstr(json, "\"float32\"");
        if (at) {
            size_t len = strlen(json) + 16;
            char *fixed = malloc(len);
            if (fixed) {
                snprintf(fixed, len, "%.*s\"%s\"%s", (int)(at - json), json, name, at + strlen("\"float32\""));
                free(json);
                json = fixed;
            }
        }
    }
    snprintf(path, sizeof path, "%s/config.json", dir);
    cada_status s = write_text_file(path, json);
    free(json);
    return s;
}

/* The published tensors of m (views, NULL data when m is NULL) and their shard plan. */
typedef struct {
    int n, n_shards;
    cada_tensor_view *views;
    int *shard_of;
} shard_layout;

static void shard_layout_free(shard_layout *l) {
    free(l->views);
    free(l->shard_of);
}

static cada_status shard_layout_make(shard_layout *l, const cada_model_config *cfg, const cada_params *p, int writers,
                                     cada_dtype dtype) {
    memset(l, 0, sizeof *l);
    l->n = cada_model_tensor_views(cfg, p, NULL);
    l->views = CADA_MALLOC(sizeof *l->views * (size_t)l->n, "tensor views");
    l->shard_of = CADA_MALLOC(sizeof *l->shard_of * (size_t)l->n, "shard plan");
    uint64_t *bytes = CADA_MALLOC(sizeof *bytes * (size_t)l->n, "tensor sizes");
    cada_status s = l->views && l->shard_of && bytes ? CADA_OK : CADA_ERR_NOMEM;
    if (s == CADA_OK) {
        cada_model_tensor_views(cfg, p, l->views);
        for (int i = 0; i < l->n; i++) bytes[i] = (uint64_t)(l->views[i].rows * l->views[i].cols) * cada_dtype_size(dtype);
        s = cada_shard_plan(bytes, l->n, writers, l->shard_of, &l->n_shards);
    }
    free(bytes);
    if (s != CADA_OK) shard_layout_free(l);
    return s;
}

cada_status cada_model_save_shard(const cada_model *m, const char *dir, int shard, int writers, cada_dtype dtype) {
    if (dtype != CADA_DTYPE_F32 && dtype != CADA_DTYPE_F16 && dtype != CADA_DTYPE_BF16)
        return CADA_ERR(CADA_ERR_ARG, "save: dtype %s is not a float type", cada_dtype_name(dtype));
    shard_layout l;
    CADA_TRY(shard_layout_make(&l, &m->cfg, &m->p, writers, dtype));
    if (shard < 0 || shard >= l.n_shards) { /* more writers than tensors: this one has none */
        shard_layout_free(&l);
        return CADA_OK;
    }
    cada_st_entry *entries = CADA_CALLOC((size_t)l.n, sizeof *entries, "safetensors entries");
    size_t halves = 0; /* F16/BF16: one half-size copy of this shard's tensors */
    for (int i = 0; i < l.n; i++)
        if (l.shard_of[i] == shard) halves += (size_t)(l.views[i].rows * l.views[i].cols);
    void *converted = dtype != CADA_DTYPE_F32 ? CADA_MALLOC(halves * 2 + 2, "converted weights") : NULL;
    if (!entries || (dtype != CADA_DTYPE_F32 && !converted)) {
        free(entries);
        free(converted);
        shard_layout_free(&l);
        return CADA_ERR_NOMEM;
    }
    size_t off = 0;
    int k = 0;
    for (int i = 0; i < l.n; i++) {
        if (l.shard_of[i] != shard) continue;
        cada_st_entry *e = &entries[k++];
        e->name = l.views[i].hf_name;
        e->dtype = dtype;
        e->ndim = l.views[i].ndim;
        e->shape[0] = l.views[i].rows;
        e->shape[1] = l.views[i].cols;
        size_t count = (size_t)(l.views[i].rows * l.views[i].cols);
        if (dtype == CADA_DTYPE_F32) {
            e->data = l.views[i].data;
        } else {
            uint16_t *dst = (uint16_t *)converted + off;
            cada_convert_from_f32(dtype, l.views[i].data, dst, count);
            e->data = dst;
            off += count;
        }
    }
    char name[64], path[1100];
    cada_shard_file_name(shard, l.n_shards, name, sizeof name);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    cada_status s = cada_safetensors_write(path, entries, k, NULL);
    free(converted);
    free(entries);
    shard_layout_free(&l);
    return s;
}

cada_status cada_model_save_index(const cada_model_config *cfg, const char *dir, int writers, cada_dtype dtype) {
    shard_layout l;
    CADA_TRY(shard_layout_make(&l, cfg, NULL, writers, dtype));
    if (l.n_shards == 1) {
        shard_layout_free(&l);
        return CADA_OK;
    }
    uint64_t total = 0;
    for (int i = 0; i < l.n; i++) total += (uint64_t)(l.views[i].rows * l.views[i].cols) * cada_dtype_size(dtype);
    char num[32], name[64], path[1100];
    snprintf(num, sizeof num, "%llu", (unsigned long long)total); /* exact: cJSON's numbers are doubles */
    cJSON *root = cJSON_CreateObject(), *meta = cJSON_AddObjectToObject(root, "metadata"),
          *wm = cJSON_AddObjectToObject(root, "weight_map");
    int ok = root && meta && wm && cJSON_AddItemToObject(meta, "total_size", cJSON_CreateRaw(num));
    for (int i = 0; ok && i < l.n; i++) {
        cada_shard_file_name(l.shard_of[i], l.n_shards, name, sizeof name);
        ok = cJSON_AddStringToObject(wm, l.views[i].hf_name, name) != NULL;
    }
    char *text = ok ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    shard_layout_free(&l);
    if (!text) return CADA_ERR(CADA_ERR_NOMEM, "model.safetensors.index.json text");
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    cada_status s = write_text_file(path, text);
    cJSON_free(text);
    return s;
}

cada_status cada_model_save_hf(const cada_model *m, const char *dir, cada_dtype dtype) {
    CADA_TRY(cada_model_save_config(&m->cfg, dir, dtype));
    return cada_model_save_shard(m, dir, 0, 1, dtype);
}
