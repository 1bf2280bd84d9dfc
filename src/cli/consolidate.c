/* cli/consolidate.c: `cada consolidate CHECKPOINT --out DIR [--dtype bf16|f32] [--force]`.
 *
 * A training checkpoint holds its weights as one file per learner plus
 * model.safetensors.index.json (sched/checkpoint.h). This writes one Hugging Face
 * folder for serving or publishing: DIR/model.safetensors (every tensor, in the order
 * of the shards), config.json (torch_dtype set to the written dtype), and the tokenizer
 * and generation files of the checkpoint when present. Any Hugging Face folder of
 * safetensors (one file or sharded) is accepted.
 *
 * --dtype bf16 (the default) rounds fp32 to nearest, ties to even (io/dtype.h, as
 * PyTorch): half the bytes, the dtype these models are published in. --dtype f32 keeps
 * the training weights bit for bit. Integer tensors are copied as they are.
 *
 * Memory: the shards stay memory-mapped and the output is written tensor by tensor
 * (io/safetensors.h's cada_safetensors_write_stream): besides the mappings, which the
 * kernel pages in and out, cada holds one tensor in fp32 and one converted, never the
 * model.
 *
 * Refused: a missing or truncated shard, an index that names a tensor its shard lacks
 * (errors name the file); an existing non-empty DIR unless --force (which writes into
 * it and removes an index and shards left there, which would contradict the single
 * file); DIR being the checkpoint itself. */
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"

#include "base/fs.h"
#include "base/log.h"
#include "io/safetensors.h"
#include "model/load.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const USAGE =
    "usage: cada consolidate CHECKPOINT --out DIR [--dtype bf16|f32] [--force]\n"
    "  CHECKPOINT: a checkpoint-N folder of `cada train` (one weights file per learner and\n"
    "              model.safetensors.index.json) or any Hugging Face safetensors folder\n"
    "  --out DIR   gets one model.safetensors, config.json and the tokenizer and\n"
    "              generation files found in CHECKPOINT\n"
    "  --dtype     bf16 (default: rounded to nearest even, half the size) or f32 (the\n"
    "              training weights bit for bit)\n"
    "  --force     write into an existing non-empty DIR\n";

/* Files of a Hugging Face folder that travel with the weights when present. */
static const char *const COPIED[] = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                     "generation_config.json", "vocab.json", "merges.txt", "chat_template.jinja"};

typedef struct {
    const cada_safetensors *st;
    const cada_st_entry *entries;
    float *f32;  /* the largest tensor in fp32 */
    void *out;   /* the largest tensor converted */
} stream_ctx;

/* Tensor i as the output wants it: the mapping itself when the dtype stays, else one
 * conversion through fp32. */
static cada_status next_tensor(void *ctx, int i, const void **data) {
    stream_ctx *c = ctx;
    const cada_st_tensor *t = &c->st->tensors[i];
    cada_dtype to = c->entries[i].dtype;
    if (t->dtype == to) {
        *data = t->data;
        return CADA_OK;
    }
    CADA_TRY(cada_st_tensor_to_f32(c->st, t, c->f32, t->numel));
    if (to == CADA_DTYPE_F32) {
        *data = c->f32;
    } else {
        cada_convert_from_f32(to, c->f32, c->out, (size_t)t->numel);
        *data = c->out;
    }
    return CADA_OK;
}

static int is_float(cada_dtype d) { return d == CADA_DTYPE_F32 || d == CADA_DTYPE_F16 || d == CADA_DTYPE_BF16; }

/* DIR/model.safetensors from the opened checkpoint. */
static cada_status write_weights(const cada_safetensors *st, const char *out, cada_dtype dtype, size_t *bytes) {
    cada_st_entry *entries = CADA_CALLOC((size_t)(st->n_tensors ? st->n_tensors : 1), sizeof *entries, "entries");
    if (!entries) return CADA_ERR_NOMEM;
    int64_t largest = 0;
    *bytes = 0;
    for (int i = 0; i < st->n_tensors; i++) {
        const cada_st_tensor *t = &st->tensors[i];
        cada_st_entry *e = &entries[i];
        e->name = t->name;
        e->dtype = is_float(t->dtype) ? dtype : t->dtype;
        e->ndim = t->ndim;
        memcpy(e->shape, t->shape, sizeof e->shape);
        if (e->dtype != t->dtype && t->numel > largest) largest = t->numel;
        *bytes += (size_t)t->numel * cada_dtype_size(e->dtype);
    }
    stream_ctx c = {st, entries, NULL, NULL};
    cada_status s = CADA_OK;
    if (largest) {
        c.f32 = CADA_MALLOC(sizeof(float) * (size_t)largest, "one tensor in fp32");
        c.out = CADA_MALLOC(cada_dtype_size(dtype) * (size_t)largest, "one converted tensor");
        if (!c.f32 || !c.out) s = CADA_ERR_NOMEM;
    }
    char path[1200];
    snprintf(path, sizeof path, "%s/model.safetensors", out);
    if (s == CADA_OK) s = cada_safetensors_write_stream(path, entries, st->n_tensors, NULL, next_tensor, &c);
    free(c.f32);
    free(c.out);
    free(entries);
    return s;
}

/* DIR may be written: absent, empty, or --force; never the checkpoint itself. With
 * --force an index and the shards it could name are removed. */
static cada_status check_out(const char *ck, const char *out, int force) {
    char a[PATH_MAX], b[PATH_MAX];
    if (realpath(ck, a) && realpath(out, b) && !strcmp(a, b))
        return CADA_ERR(CADA_ERR_ARG, "--out %s is the checkpoint itself", out);
    DIR *d = opendir(out);
    if (!d) {
        if (errno == ENOENT) return cada_mkdir_p(out);
        return CADA_ERR(CADA_ERR_IO, "--out %s: cannot open as a folder: %s", out, strerror(errno));
    }
    int non_empty = 0;
    cada_status s = CADA_OK;
    for (struct dirent *e; (e = readdir(d)) && s == CADA_OK;) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        non_empty = 1;
        if (!force) break;
        int n1, n2, len = 0;
        if (!strcmp(e->d_name, "model.safetensors.index.json") ||
            (sscanf(e->d_name, "model-%5d-of-%5d.safetensors%n", &n1, &n2, &len) == 2 && len == (int)strlen(e->d_name))) {
            char path[1200];
            snprintf(path, sizeof path, "%s/%s", out, e->d_name);
            if (unlink(path) != 0) s = CADA_ERR(CADA_ERR_IO, "%s: cannot remove: %s", path, strerror(errno));
        }
    }
    closedir(d);
    if (s == CADA_OK && non_empty && !force)
        s = CADA_ERR(CADA_ERR_ARG, "--out %s exists and is not empty (--force writes into it)", out);
    return s;
}

int cada_cmd_consolidate(int argc, char **argv) {
    const char *ck = NULL, *out = NULL, *dtype_name = "bf16";
    int force = 0, bad = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(USAGE, stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "--dtype") && i + 1 < argc) dtype_name = argv[++i];
        else if (!strcmp(argv[i], "--force")) force = 1;
        else if (!ck && argv[i][0] != '-') ck = argv[i];
        else bad = 1;
    }
    cada_dtype dtype = !strcasecmp(dtype_name, "bf16") ? CADA_DTYPE_BF16 : CADA_DTYPE_F32;
    if (bad || !ck || !out || (strcasecmp(dtype_name, "bf16") && strcasecmp(dtype_name, "f32"))) {
        fputs(USAGE, stderr);
        return 2;
    }
    double t0 = cada_now();
    cada_model_config cfg;
    if (cada_model_load_config(ck, &cfg) != CADA_OK) return cada_cli_fail("consolidate");
    cada_safetensors st;
    if (cada_safetensors_open(&st, ck) != CADA_OK) return cada_cli_fail("consolidate");
    size_t bytes = 0;
    cada_status s = check_out(ck, out, force);
    if (s == CADA_OK) s = write_weights(&st, out, dtype, &bytes);
    if (s == CADA_OK) s = cada_model_save_config(&cfg, out, dtype);
    int n_shards = st.n_shards, n_tensors = st.n_tensors;
    cada_safetensors_close(&st);
    char copied[512] = "config.json";
    for (size_t i = 0; s == CADA_OK && i < sizeof COPIED / sizeof *COPIED; i++) {
        char from[1200], to[1200], dir[1024];
        cada_model_hf_folder(ck, dir, sizeof dir);
        snprintf(from, sizeof from, "%s/%s", dir, COPIED[i]);
        snprintf(to, sizeof to, "%s/%s", out, COPIED[i]);
        if (access(from, R_OK) != 0) continue;
        s = cada_copy_file(from, to);
        size_t len = strlen(copied);
        snprintf(copied + len, sizeof copied - len, ", %s", COPIED[i]);
    }
    if (s != CADA_OK) return cada_cli_fail("consolidate");
    printf("consolidated %s (%d tensors in %d file%s) -> %s/model.safetensors (%s, %.1f MiB, %.2f s); with %s\n", ck, n_tensors,
           n_shards, n_shards == 1 ? "" : "s", out, cada_dtype_name(dtype), (double)bytes / (1 << 20), cada_now() - t0, copied);
    return 0;
}
