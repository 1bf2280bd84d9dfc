/* model/load.c: see load.h. */
#define _POSIX_C_SOURCE 200809L
#include "model/load.h"

#include "base/fs.h"
#include "base/log.h"
#include "io/gguf.h"
#include "io/safetensors.h"
#include "io/shard_plan.h"
#include "model/tp_slice.h"

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

/* The tensor views of m (its part's shapes and data) and of the whole model (shapes
 * only) that m is rank `rank`'s part of, over P ranks; both lists have the same tensors
 * in the same order. */
typedef struct {
    int n;
    cada_tensor_view *part, *whole;
} part_views;

static void part_views_free(part_views *v) {
    free(v->part);
    free(v->whole);
}

static cada_status part_views_make(part_views *v, cada_model *m, const cada_model_config *whole_cfg) {
    v->n = cada_model_tensor_views(&m->cfg, &m->p, NULL);
    v->part = CADA_MALLOC(sizeof *v->part * (size_t)v->n, "tensor views");
    v->whole = CADA_MALLOC(sizeof *v->whole * (size_t)v->n, "tensor views");
    if (!v->part || !v->whole || cada_model_tensor_views(whole_cfg, NULL, NULL) != v->n) {
        part_views_free(v);
        return v->part && v->whole ? CADA_ERR(CADA_ERR_INTERNAL, "a part and its whole model list different tensors") : CADA_ERR_NOMEM;
    }
    cada_model_tensor_views(&m->cfg, &m->p, v->part);
    cada_model_tensor_views(whole_cfg, NULL, v->whole);
    return CADA_OK;
}

/* Reads a Hugging Face folder's tensors into m, rank `rank`'s part of a model shaped
 * whole_cfg over P ranks (P = 1: m is the whole model). */
static cada_status load_hf_weights(cada_model *m, const char *path, const cada_model_config *whole_cfg, int rank, int P) {
    char dir[1024], cfg_path[1100];
    cada_model_hf_folder(path, dir, sizeof dir);
    snprintf(cfg_path, sizeof cfg_path, "%s/config.json", dir);
    part_views pv;
    CADA_TRY(part_views_make(&pv, m, whole_cfg));
    cada_safetensors st;
    cada_status s = cada_safetensors_open(&st, dir);
    if (s != CADA_OK) {
        part_views_free(&pv);
        return s;
    }
    for (int i = 0; i < pv.n && s == CADA_OK; i++) {
        const cada_tensor_view *v = &pv.whole[i], *part = &pv.part[i];
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
        cada_tp_block b = {0, 0};
        s = cada_tp_view_block(v, part, rank, P, &b);
        if (s == CADA_OK) s = cada_st_tensor_block_to_f32(&st, t, b.row0, part->rows, b.col0, part->cols, part->data);
    }
    if (s == CADA_OK && st.n_tensors > pv.n)
        CADA_DEBUG("%s: %d tensors not used by the model (e.g. rotary buffers, tied lm_head)", dir, st.n_tensors - pv.n);
    part_views_free(&pv);
    cada_safetensors_close(&st);
    return s;
}

cada_status cada_model_load_weights(cada_model *m, const char *path) { return load_hf_weights(m, path, &m->cfg, 0, 1); }

/* GGUF: each tensor dequantised whole (one tensor at a time, and its llama.cpp row
 * permutation undone on the whole tensor), then m's block of it kept (P = 1: all). */
static cada_status load_gguf_weights(cada_model *m, const char *path, const cada_gguf *g, const cada_model_config *whole_cfg,
                                     int rank, int P) {
    part_views pv;
    CADA_TRY(part_views_make(&pv, m, whole_cfg));
    float *tmp = NULL; /* one whole tensor, for a part only */
    cada_status s = CADA_OK;
    if (P > 1) {
        size_t biggest = 0;
        for (int i = 0; i < pv.n; i++)
            if ((size_t)(pv.whole[i].rows * pv.whole[i].cols) > biggest) biggest = (size_t)(pv.whole[i].rows * pv.whole[i].cols);
        tmp = CADA_MALLOC(sizeof *tmp * biggest, "one dequantised tensor");
        if (!tmp) s = CADA_ERR_NOMEM;
    }
    for (int i = 0; i < pv.n && s == CADA_OK; i++) {
        const cada_tensor_view *v = &pv.whole[i], *part = &pv.part[i];
        const cada_gguf_tensor *t = cada_gguf_find_tensor(g, v->gguf_name);
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
        float *whole = P > 1 ? tmp : part->data;
        s = cada_gguf_tensor_to_f32(g, t, whole, (uint64_t)(v->rows * v->cols));
        if (s == CADA_OK && v->rope_permuted) s = cada_unpermute_rope_rows(whole, v->n_rope_heads, whole_cfg->head_dim, v->cols);
        cada_tp_block b = {0, 0};
        if (s == CADA_OK && P > 1 && (s = cada_tp_view_block(v, part, rank, P, &b)) == CADA_OK)
            for (int64_t r = 0; r < part->rows; r++)
                memcpy(part->data + r * part->cols, whole + (b.row0 + r) * v->cols + b.col0, sizeof(float) * (size_t)part->cols);
    }
    free(tmp);
    part_views_free(&pv);
    return s;
}

/* m initialised as rank `rank`'s part (of P) of the model at path, and its weights read:
 * P = 1 is the whole model. */
static cada_status load_model(cada_model *m, const char *path, int rank, int P) {
    memset(m, 0, sizeof *m);
    if (P < 1 || rank < 0 || rank >= P) return CADA_ERR(CADA_ERR_ARG, "%s: part %d of %d ranks", path, rank, P);
    cada_source_kind kind;
    CADA_TRY(cada_model_source_kind(path, &kind));
    cada_model_config whole, local;
    cada_gguf g;
    int have_gguf = 0;
    cada_status s;
    if (kind == CADA_SOURCE_GGUF) {
        s = cada_gguf_open(&g, path);
        have_gguf = s == CADA_OK;
        if (s == CADA_OK) s = cada_config_from_gguf(&whole, &g);
    } else {
        s = cada_model_load_config(path, &whole);
    }
    if (s == CADA_OK) s = cada_tp_local_config(&whole, P, &local);
    if (s == CADA_OK) s = cada_model_init(m, &local);
    if (s == CADA_OK)
        s = have_gguf ? load_gguf_weights(m, path, &g, &whole, rank, P) : load_hf_weights(m, path, &whole, rank, P);
    if (have_gguf) cada_gguf_close(&g);
    if (s != CADA_OK) {
        cada_model_free(m);
        return s;
    }
    snprintf(m->source, sizeof m->source, "%s", path);
    return CADA_OK;
}

cada_status cada_model_load(cada_model *m, const char *path) { return load_model(m, path, 0, 1); }

cada_status cada_model_load_part(cada_model *m, const char *path, int rank, int P) { return load_model(m, path, rank, P); }

cada_status cada_model_load_weights_part(cada_model *m, const char *path, const cada_model_config *whole_cfg, int rank, int P) {
    return load_hf_weights(m, path, whole_cfg, rank, P);
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

void cada_shard_layout_free(cada_shard_layout *l) {
    free(l->views);
    free(l->shard_of);
    memset(l, 0, sizeof *l);
}

cada_status cada_shard_layout_make(cada_shard_layout *l, const cada_model_config *cfg, const cada_params *p, int writers,
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
    if (s != CADA_OK) cada_shard_layout_free(l);
    return s;
}

cada_status cada_model_save_shard(const cada_model *m, const char *dir, int shard, int writers, cada_dtype dtype) {
    if (dtype != CADA_DTYPE_F32 && dtype != CADA_DTYPE_F16 && dtype != CADA_DTYPE_BF16)
        return CADA_ERR(CADA_ERR_ARG, "save: dtype %s is not a float type", cada_dtype_name(dtype));
    cada_shard_layout l;
    CADA_TRY(cada_shard_layout_make(&l, &m->cfg, &m->p, writers, dtype));
    if (shard < 0 || shard >= l.n_shards) { /* more writers than tensors: this one has none */
        cada_shard_layout_free(&l);
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
        cada_shard_layout_free(&l);
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
    cada_shard_layout_free(&l);
    return s;
}

cada_status cada_model_save_index(const cada_model_config *cfg, const char *dir, int writers, cada_dtype dtype) {
    cada_shard_layout l;
    CADA_TRY(cada_shard_layout_make(&l, cfg, NULL, writers, dtype));
    if (l.n_shards == 1) {
        cada_shard_layout_free(&l);
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
    cada_shard_layout_free(&l);
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
