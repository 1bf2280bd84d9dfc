/* io/safetensors.c: Hugging Face safetensors reader (mmap, one file or shards) and writer.
 *
 * Format: https://huggingface.co/docs/safetensors (and the reference reader, the Rust
 * crate safetensors, src/tensor.rs: Metadata::validate). A file is
 *   u64 little-endian N | N bytes of UTF-8 JSON | data section
 * where the JSON maps each tensor name to {"dtype", "shape", "data_offsets": [b, e]}
 * with offsets relative to the start of the data section, plus an optional
 * "__metadata__" object of strings. Sharded checkpoints add model.safetensors.index.json
 * whose "weight_map" names the shard holding each tensor (transformers' convention).
 *
 * Everything read from a file is validated before use, and every error names the file
 * and the tensor or field: the header may come from anywhere. */
#define _GNU_SOURCE
#include "io/safetensors.h"

#include "base/dfile.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define ST_HEADER_CAP ((uint64_t)100 << 20) /* the reference reader's MAX_HEADER_SIZE */
#define ST_INDEX_CAP ((size_t)100 << 20)
#define ST_MAX_SHARDS 65536
#define ST_MAX_EXACT_INT 9007199254740992.0 /* 2^53: JSON numbers are doubles in cJSON */

/* ---- small helpers ------------------------------------------------------------------ */

static uint64_t load_le64(const void *p) {
    uint64_t v;
    memcpy(&v, p, sizeof v); /* little-endian host: checked in dtype.c */
    return v;
}

static char *str_dup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = CADA_MALLOC(n, "string copy");
    if (d) memcpy(d, s, n);
    return d;
}

static char *path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = CADA_MALLOC(a + b + 2, "path");
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t k = a;
    if (k && p[k - 1] != '/') p[k++] = '/';
    memcpy(p + k, name, b + 1);
    return p;
}

static int is_regular_file(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Maps a whole regular file read-only. A zero-length file yields map NULL, size 0. */
static cada_status map_file(const char *path, void **map, size_t *size) {
    *map = NULL;
    *size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return CADA_ERR(CADA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return CADA_ERR(CADA_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return CADA_ERR(CADA_ERR_IO, "%s: not a regular file", path);
    }
    if (sb.st_size > 0) {
        void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            int e = errno;
            close(fd);
            return CADA_ERR(CADA_ERR_IO, "%s: cannot mmap %lld bytes: %s", path,
                            (long long)sb.st_size, strerror(e));
        }
        *map = m;
        *size = (size_t)sb.st_size;
    }
    close(fd); /* the mapping stays valid */
    return CADA_OK;
}

/* Reads a whole (small) text file into a NUL-terminated buffer. */
static cada_status read_text_file(const char *path, size_t cap, char **out, size_t *len) {
    *out = NULL;
    FILE *f;
    CADA_FOPEN_TRY(f, path, "rb");
    char *buf = NULL;
    size_t n = 0, capacity = 0;
    for (;;) {
        if (n + 65536 + 1 > capacity) {
            capacity = capacity ? capacity * 2 : 65536 * 2;
            char *nb = realloc(buf, capacity);
            if (!nb) {
                free(buf);
                fclose(f);
                return CADA_ERR(CADA_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, capacity);
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, 65536, f);
        n += got;
        if (n > cap) {
            free(buf);
            fclose(f);
            return CADA_ERR(CADA_ERR_FORMAT, "%s: larger than the cap of %zu bytes", path, cap);
        }
        if (got < 65536) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return CADA_ERR(CADA_ERR_IO, "%s: read failed", path);
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return CADA_OK;
}

/* A JSON number that is an integer in [0, 2^53] (exact as a double). */
static int json_uint(const cJSON *item, uint64_t *out) {
    if (!cJSON_IsNumber(item)) return 0;
    double d = item->valuedouble;
    if (!(d >= 0.0 && d <= ST_MAX_EXACT_INT) || d != (double)(uint64_t)d) return 0;
    *out = (uint64_t)d;
    return 1;
}

/* dtypes that safetensors defines but cada does not read: "unsupported", not "unknown". */
static int is_other_safetensors_dtype(const char *s) {
    static const char *const names[] = {"BOOL", "U8", "I8", "I16", "U16", "U32", "U64",
                                        "F64", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F4",
                                        "F6_E2M3", "F6_E3M2", "C64"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i]) == 0) return 1;
    return 0;
}

/* ---- header parsing ----------------------------------------------------------------- */

typedef struct {
    const char *path;
    const unsigned char *data; /* start of the data section */
    uint64_t data_size;
    int shard;
} shard_ctx;

static cada_status parse_shape(const shard_ctx *c, const char *name, const cJSON *shape,
                               cada_st_tensor *t) {
    if (!cJSON_IsArray(shape))
        return CADA_ERR(CADA_ERR_FORMAT, "%s: tensor '%s': field 'shape' is missing or not an array",
                        c->path, name);
    int nd = cJSON_GetArraySize(shape);
    if (nd > CADA_MAX_DIMS)
        return CADA_ERR(CADA_ERR_FORMAT, "%s: tensor '%s': shape has %d dims, more than %d",
                        c->path, name, nd, CADA_MAX_DIMS);
    t->ndim = nd;
    int64_t numel = 1;
    int i = 0;
    for (const cJSON *d = shape->child; d; d = d->next, i++) {
        uint64_t v;
        if (!json_uint(d, &v))
            return CADA_ERR(CADA_ERR_FORMAT, "%s: tensor '%s': shape[%d] is not a non-negative integer",
                            c->path, name, i);
        if (v > 0 && (uint64_t)numel > (uint64_t)INT64_MAX / v)
            return CADA_ERR(CADA_ERR_FORMAT, "%s: tensor '%s': shape element count overflows",
                            c->path, name);
        t->shape[i] = (int64_t)v;
        numel *= (int64_t)v;
    }
    t->numel = numel;
    return CADA_OK;
}

static cada_status parse_dtype(const shard_ctx *c, const char *name, const cJSON *dtype,
                               cada_st_tensor *t) {
    if (!cJSON_IsString(dtype) || !dtype->valuestring)
        return CADA_ERR(CADA_ERR_FORMAT, "%s: tensor '%s': field 'dtype' is missing or not a string",
                        c->path, name);
    int dt = cada_dtype_from_name(dtype->valuestring);
    if (dt < 0) {
        if (is_other_safetensors_dtype(dtype->valuestring))
            return CADA_ERR(CADA_ERR_UNSUPPORTED,
                            "%s: tensor '%s': dtype '%s' is not supported (cada reads F32, F16, BF16, I32, I64)",
                            c->path, name, dtype->valuestring);
        return CADA_ERR(CADA_ERR_FORMAT, "%s: tensor '%s': unknown dtype '%s'", c->path, name,
                        dtype->valuestring);
    }
    t->dtype = (cada_dtype)dt;
    return CADA_OK;
}

static cada_status parse_offsets(const shard_ctx *c, const char *name, const cJSON *offs,
                                 cada_st_tensor *t) {
    uint64_t b = 0, e = 0;
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 || !json_uint(offs->child, &b) ||
        !json_uint(offs->child->next, &e))
        return CADA_ERR(CADA_ERR_FORMAT,
                        "%s: tensor '%s': field 'data_offsets' is not a pair of non-negative integers",
                        c->path, name);
    if (b > e)
        return CADA_ERR(CADA_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] decrease",
                        c->path, name, (unsigned long long)b, (unsigned long long)e);
    if (e > c->data_size)
        return CADA_ERR(CADA_ERR_FORMAT,
                        "%s: tensor '%s': data_offsets [%llu, %llu] run past the end of the data section (%llu bytes)",
                        c->path, name, (unsigned long long)b, (unsigned long long)e,
                        (unsigned long long)c->data_size);
    uint64_t esize = cada_dtype_size(t->dtype);
    if ((uint64_t)t->numel > UINT64_MAX / esize || (uint64_t)t->numel * esize != e - b)
        return CADA_ERR(CADA_ERR_FORMAT,
                        "%s: tensor '%s': shape has %lld elements of %s (%llu bytes) but data_offsets [%llu, %llu] span %llu bytes",
                        c->path, name, (long long)t->numel, cada_dtype_name(t->dtype),
                        (unsigned long long)((uint64_t)t->numel * esize), (unsigned long long)b,
                        (unsigned long long)e, (unsigned long long)(e - b));
    t->data = c->data + b;
    t->nbytes = (size_t)(e - b);
    return CADA_OK;
}

static cada_status parse_tensor(const shard_ctx *c, const cJSON *entry, cada_st_tensor *t) {
    const char *name = entry->string;
    memset(t, 0, sizeof *t);
    if (!cJSON_IsObject(entry))
        return CADA_ERR(CADA_ERR_FORMAT, "%s: tensor '%s': entry is not a JSON object", c->path, name);
    CADA_TRY(parse_dtype(c, name, cJSON_GetObjectItemCaseSensitive(entry, "dtype"), t));
    CADA_TRY(parse_shape(c, name, cJSON_GetObjectItemCaseSensitive(entry, "shape"), t));
    CADA_TRY(parse_offsets(c, name, cJSON_GetObjectItemCaseSensitive(entry, "data_offsets"), t));
    t->shard = c->shard;
    t->name = str_dup(name);
    return t->name ? CADA_OK : CADA_ERR_NOMEM;
}

/* Grows st->tensors to hold at least need entries. */
static cada_status reserve_tensors(cada_safetensors *st, int *cap, int need) {
    if (need <= *cap) return CADA_OK;
    int nc = *cap ? *cap : 64;
    while (nc < need) nc *= 2;
    cada_st_tensor *nt = realloc(st->tensors, (size_t)nc * sizeof *nt);
    if (!nt) return CADA_ERR(CADA_ERR_NOMEM, "cannot allocate %d tensor entries", nc);
    st->tensors = nt;
    *cap = nc;
    return CADA_OK;
}

/* Comparators for qsort_r (glibc's argument order): the context is the tensor array. */
static int by_offset(const void *a, const void *b, void *ctx) {
    const cada_st_tensor *ts = ctx;
    const cada_st_tensor *x = &ts[*(const int *)a], *y = &ts[*(const int *)b];
    const unsigned char *xb = x->data, *yb = y->data;
    if (xb != yb) return xb < yb ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

static int by_name(const void *a, const void *b, void *ctx) {
    const cada_st_tensor *ts = ctx;
    return strcmp(ts[*(const int *)a].name, ts[*(const int *)b].name);
}

/* Indices of tensors [first, first + n) sorted with cmp. */
static int *sorted_indices(const cada_st_tensor *ts, int first, int n,
                           int (*cmp)(const void *, const void *, void *)) {
    int *idx = CADA_MALLOC((size_t)(n ? n : 1) * sizeof *idx, "tensor index");
    if (!idx) return NULL;
    for (int i = 0; i < n; i++) idx[i] = first + i;
    qsort_r(idx, (size_t)n, sizeof *idx, cmp, (void *)ts);
    return idx;
}

/* No two non-empty tensors of one shard may share bytes (the reference reader requires
 * them to be contiguous; we only require them to be disjoint). */
static cada_status check_overlap(const cada_safetensors *st, int first, int n, const shard_ctx *c) {
    int *idx = sorted_indices(st->tensors, first, n, by_offset);
    if (!idx) return CADA_ERR_NOMEM;
    const cada_st_tensor *prev = NULL;
    cada_status s = CADA_OK;
    for (int i = 0; i < n && s == CADA_OK; i++) {
        const cada_st_tensor *t = &st->tensors[idx[i]];
        if (t->nbytes == 0) continue;
        if (prev && (const unsigned char *)t->data < (const unsigned char *)prev->data + prev->nbytes) {
            long long pb = (const unsigned char *)prev->data - c->data;
            long long tb = (const unsigned char *)t->data - c->data;
            s = CADA_ERR(CADA_ERR_FORMAT,
                         "%s: tensors '%s' (data_offsets [%lld, %lld]) and '%s' (data_offsets [%lld, %lld]) overlap",
                         c->path, prev->name, pb, pb + (long long)prev->nbytes, t->name, tb,
                         tb + (long long)t->nbytes);
        }
        if (!prev || (const unsigned char *)t->data + t->nbytes >
                         (const unsigned char *)prev->data + prev->nbytes)
            prev = t;
    }
    free(idx);
    return s;
}

/* Only JSON whitespace may follow the header object (serde_json, which the reference
 * reader uses, rejects anything else; writers pad with spaces). */
static int only_whitespace(const char *p, const char *end) {
    for (; p < end; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') return 0;
    return 1;
}

static cada_status parse_json_header(cada_safetensors *st, int *cap, const shard_ctx *c,
                                     const char *json, uint64_t n) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, (size_t)n, &end, 0);
    if (!root) {
        size_t at = end && end >= json ? (size_t)(end - json) : 0;
        return CADA_ERR(CADA_ERR_FORMAT, "%s: header JSON is malformed near byte %zu of its %llu",
                        c->path, at, (unsigned long long)n);
    }
    cada_status s = CADA_OK;
    if (!cJSON_IsObject(root))
        s = CADA_ERR(CADA_ERR_FORMAT, "%s: header JSON is not an object", c->path);
    else if (!end || !only_whitespace(end, json + n))
        s = CADA_ERR(CADA_ERR_FORMAT, "%s: header has bytes other than whitespace after the JSON object",
                     c->path);
    for (const cJSON *e = s == CADA_OK ? root->child : NULL; e && s == CADA_OK; e = e->next) {
        if (!e->string) {
            s = CADA_ERR(CADA_ERR_FORMAT, "%s: header entry without a name", c->path);
        } else if (strcmp(e->string, "__metadata__") == 0) {
            if (!cJSON_IsObject(e))
                s = CADA_ERR(CADA_ERR_FORMAT, "%s: field '__metadata__' is not an object", c->path);
        } else if (st->n_tensors >= INT32_MAX / 2) {
            s = CADA_ERR(CADA_ERR_FORMAT, "%s: too many tensors", c->path);
        } else if ((s = reserve_tensors(st, cap, st->n_tensors + 1)) == CADA_OK) {
            s = parse_tensor(c, e, &st->tensors[st->n_tensors]);
            if (s == CADA_OK) st->n_tensors++;
            else free(st->tensors[st->n_tensors].name);
        }
    }
    cJSON_Delete(root);
    return s;
}

/* Maps shard k and appends its tensors. */
static cada_status open_shard(cada_safetensors *st, int k, int *cap) {
    const char *path = st->shard_paths[k];
    CADA_TRY(map_file(path, &st->shard_maps[k], &st->shard_sizes[k]));
    const unsigned char *map = st->shard_maps[k];
    size_t size = st->shard_sizes[k];
    if (size < 8)
        return CADA_ERR(CADA_ERR_FORMAT, "%s: file is %zu bytes, too short for the 8-byte header length",
                        path, size);
    uint64_t n = load_le64(map);
    if (n > ST_HEADER_CAP)
        return CADA_ERR(CADA_ERR_FORMAT, "%s: header length %llu exceeds the cap of %llu bytes", path,
                        (unsigned long long)n, (unsigned long long)ST_HEADER_CAP);
    if (n > size - 8)
        return CADA_ERR(CADA_ERR_FORMAT, "%s: header length %llu runs past the end of the file (%zu bytes)",
                        path, (unsigned long long)n, size);
    shard_ctx c = {path, map + 8 + n, size - 8 - n, k};
    int first = st->n_tensors;
    CADA_TRY(parse_json_header(st, cap, &c, (const char *)map + 8, n));
    return check_overlap(st, first, st->n_tensors - first, &c);
}

/* Tensor names must be unique across the whole checkpoint. */
static cada_status check_unique_names(const cada_safetensors *st) {
    int *idx = sorted_indices(st->tensors, 0, st->n_tensors, by_name);
    if (!idx) return CADA_ERR_NOMEM;
    cada_status s = CADA_OK;
    for (int i = 1; i < st->n_tensors && s == CADA_OK; i++) {
        const cada_st_tensor *a = &st->tensors[idx[i - 1]], *b = &st->tensors[idx[i]];
        if (strcmp(a->name, b->name) == 0)
            s = CADA_ERR(CADA_ERR_FORMAT, "%s: tensor '%s' appears twice (also in %s)",
                         st->shard_paths[b->shard], b->name, st->shard_paths[a->shard]);
    }
    free(idx);
    return s;
}

/* Takes ownership of paths[0..n) (each malloc'd) and opens every shard. */
static cada_status open_shards(cada_safetensors *st, char **paths, int n) {
    st->shard_paths = paths;
    st->n_shards = n;
    st->shard_maps = CADA_CALLOC((size_t)n, sizeof *st->shard_maps, "shard maps");
    st->shard_sizes = CADA_CALLOC((size_t)n, sizeof *st->shard_sizes, "shard sizes");
    if (!st->shard_maps || !st->shard_sizes) return CADA_ERR_NOMEM;
    int cap = 0;
    for (int k = 0; k < n; k++) CADA_TRY(open_shard(st, k, &cap));
    return check_unique_names(st);
}

/* ---- the index (sharded checkpoints) ------------------------------------------------- */

typedef struct {
    const char *tensor;
    const char *file;
    int shard;
} wm_entry;

static int wm_by_file(const void *a, const void *b) {
    return strcmp(((const wm_entry *)a)->file, ((const wm_entry *)b)->file);
}

/* A shard file name must stay inside the checkpoint directory. */
static int safe_shard_name(const char *s) {
    if (!s[0] || s[0] == '/') return 0;
    for (const char *p = s; *p;) {
        const char *q = strchr(p, '/');
        size_t len = q ? (size_t)(q - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.') return 0;
        if (!q) break;
        p = q + 1;
    }
    return 1;
}

/* Reads the weight map into entries (pointing into root) and the sorted unique files. */
static cada_status read_weight_map(const char *index_path, const cJSON *root, wm_entry **out, int *n_out) {
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(wm))
        return CADA_ERR(CADA_ERR_FORMAT, "%s: field 'weight_map' is missing or not an object", index_path);
    int n = cJSON_GetArraySize(wm);
    wm_entry *ents = CADA_MALLOC((size_t)(n ? n : 1) * sizeof *ents, "weight map");
    if (!ents) return CADA_ERR_NOMEM;
    int i = 0;
    for (const cJSON *e = wm->child; e; e = e->next, i++) {
        if (!cJSON_IsString(e) || !e->valuestring || !safe_shard_name(e->valuestring)) {
            free(ents);
            return CADA_ERR(CADA_ERR_FORMAT,
                            "%s: weight_map: tensor '%s': shard is not a relative file name inside the directory",
                            index_path, e->string ? e->string : "?");
        }
        ents[i] = (wm_entry){e->string, e->valuestring, -1};
    }
    qsort(ents, (size_t)n, sizeof *ents, wm_by_file);
    *out = ents;
    *n_out = n;
    return CADA_OK;
}

/* Builds the shard path list from the sorted weight map, numbering entries by shard. */
static cada_status shard_list(const char *index_path, wm_entry *ents, int n, char ***paths_out, int *n_shards) {
    char *dir = str_dup(index_path);
    if (!dir) return CADA_ERR_NOMEM;
    char *slash = strrchr(dir, '/');
    if (slash) slash[1] = 0;
    else strcpy(dir, ".");
    int ns = 0;
    for (int i = 0; i < n; i++)
        if (i == 0 || strcmp(ents[i].file, ents[i - 1].file) != 0) ns++;
    if (ns > ST_MAX_SHARDS) {
        free(dir);
        return CADA_ERR(CADA_ERR_FORMAT, "%s: weight_map names %d shard files, more than %d", index_path,
                        ns, ST_MAX_SHARDS);
    }
    char **paths = CADA_CALLOC((size_t)(ns ? ns : 1), sizeof *paths, "shard paths");
    cada_status s = paths ? CADA_OK : CADA_ERR_NOMEM;
    for (int i = 0, k = -1; i < n && s == CADA_OK; i++) {
        if (i == 0 || strcmp(ents[i].file, ents[i - 1].file) != 0) {
            paths[++k] = path_join(dir, ents[i].file);
            if (!paths[k]) s = CADA_ERR_NOMEM;
            else if (!is_regular_file(paths[k]))
                s = CADA_ERR(CADA_ERR_IO, "%s: weight_map: tensor '%s': shard file %s is missing",
                             index_path, ents[i].tensor, paths[k]);
        }
        ents[i].shard = k;
    }
    free(dir);
    if (s != CADA_OK && paths) {
        for (int k = 0; k < ns; k++) free(paths[k]);
        free(paths);
        return s;
    }
    *paths_out = paths;
    *n_shards = ns;
    return CADA_OK;
}

static cada_status check_weight_map(const cada_safetensors *st, const char *index_path,
                                    const wm_entry *ents, int n) {
    int *idx = sorted_indices(st->tensors, 0, st->n_tensors, by_name);
    if (!idx) return CADA_ERR_NOMEM;
    cada_status s = CADA_OK;
    for (int i = 0; i < n && s == CADA_OK; i++) {
        int lo = 0, hi = st->n_tensors - 1, found = -1;
        while (lo <= hi) {
            int mid = lo + (hi - lo) / 2;
            int c = strcmp(st->tensors[idx[mid]].name, ents[i].tensor);
            if (c == 0) { found = idx[mid]; break; }
            if (c < 0) lo = mid + 1;
            else hi = mid - 1;
        }
        if (found < 0)
            s = CADA_ERR(CADA_ERR_FORMAT, "%s: weight_map: tensor '%s' is not in its shard %s", index_path,
                         ents[i].tensor, st->shard_paths[ents[i].shard]);
        else if (st->tensors[found].shard != ents[i].shard)
            s = CADA_ERR(CADA_ERR_FORMAT, "%s: weight_map: tensor '%s' is listed in %s but found in %s",
                         index_path, ents[i].tensor, st->shard_paths[ents[i].shard],
                         st->shard_paths[st->tensors[found].shard]);
    }
    free(idx);
    return s;
}

static cada_status open_index(cada_safetensors *st, const char *index_path) {
    char *text = NULL;
    size_t len = 0;
    CADA_TRY(read_text_file(index_path, ST_INDEX_CAP, &text, &len));
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root || !cJSON_IsObject(root)) {
        size_t at = end && end >= text ? (size_t)(end - text) : 0;
        free(text);
        cJSON_Delete(root);
        return CADA_ERR(CADA_ERR_FORMAT, "%s: not a JSON object (malformed near byte %zu)", index_path, at);
    }
    free(text);
    wm_entry *ents = NULL;
    int n = 0, ns = 0;
    char **paths = NULL;
    cada_status s = read_weight_map(index_path, root, &ents, &n);
    if (s == CADA_OK) s = shard_list(index_path, ents, n, &paths, &ns);
    if (s == CADA_OK) s = open_shards(st, paths, ns);
    if (s == CADA_OK) s = check_weight_map(st, index_path, ents, n);
    free(ents);
    cJSON_Delete(root);
    return s;
}

/* ---- public reader API -------------------------------------------------------------- */

cada_status cada_safetensors_open(cada_safetensors *st, const char *path) {
    if (!st || !path) return CADA_ERR(CADA_ERR_ARG, "cada_safetensors_open: NULL argument");
    memset(st, 0, sizeof *st);
    struct stat sb;
    if (stat(path, &sb) != 0) return CADA_ERR(CADA_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    char *file = NULL;
    int is_index;
    if (S_ISDIR(sb.st_mode)) {
        /* transformers looks for the single file first, then the index. */
        file = path_join(path, "model.safetensors");
        if (!file) return CADA_ERR_NOMEM;
        is_index = 0;
        if (!is_regular_file(file)) {
            free(file);
            file = path_join(path, "model.safetensors.index.json");
            if (!file) return CADA_ERR_NOMEM;
            is_index = 1;
            if (!is_regular_file(file)) {
                free(file);
                return CADA_ERR(CADA_ERR_IO,
                                "%s: directory holds neither model.safetensors nor model.safetensors.index.json",
                                path);
            }
        }
    } else {
        file = str_dup(path);
        if (!file) return CADA_ERR_NOMEM;
        is_index = ends_with(path, ".json");
    }
    cada_status s;
    if (is_index) {
        s = open_index(st, file);
        free(file);
    } else {
        char **paths = CADA_MALLOC(sizeof *paths, "shard paths");
        if (!paths) {
            free(file);
            return CADA_ERR_NOMEM;
        }
        paths[0] = file;
        s = open_shards(st, paths, 1);
    }
    if (s != CADA_OK) cada_safetensors_close(st);
    return s;
}

void cada_safetensors_close(cada_safetensors *st) {
    if (!st) return;
    for (int i = 0; i < st->n_tensors; i++) free(st->tensors[i].name);
    free(st->tensors);
    for (int k = 0; k < st->n_shards; k++) {
        if (st->shard_maps && st->shard_maps[k]) munmap(st->shard_maps[k], st->shard_sizes[k]);
        if (st->shard_paths) free(st->shard_paths[k]);
    }
    free(st->shard_paths);
    free(st->shard_maps);
    free(st->shard_sizes);
    memset(st, 0, sizeof *st);
}

const cada_st_tensor *cada_safetensors_find(const cada_safetensors *st, const char *name) {
    if (!st || !name) return NULL;
    for (int i = 0; i < st->n_tensors; i++)
        if (strcmp(st->tensors[i].name, name) == 0) return &st->tensors[i];
    return NULL;
}

cada_status cada_st_tensor_to_f32(const cada_safetensors *st, const cada_st_tensor *t, float *out, int64_t n) {
    if (!st || !t || (!out && n > 0)) return CADA_ERR(CADA_ERR_ARG, "cada_st_tensor_to_f32: NULL argument");
    const char *file = t->shard >= 0 && t->shard < st->n_shards ? st->shard_paths[t->shard] : "?";
    if (n != t->numel)
        return CADA_ERR(CADA_ERR_FORMAT, "%s: tensor '%s': %lld elements requested but it has %lld", file,
                        t->name, (long long)n, (long long)t->numel);
    /* Conversion is memory-bound; threads pay only for big tensors (a million values). */
    const int64_t chunk = 1 << 16;
    const int64_t n_chunks = (n + chunk - 1) / chunk;
    const size_t esize = cada_dtype_size(t->dtype);
    const unsigned char *src = t->data;
#pragma omp parallel for schedule(static) if (n_chunks >= 16)
    for (int64_t c = 0; c < n_chunks; c++) {
        int64_t lo = c * chunk, len = n - lo < chunk ? n - lo : chunk;
        cada_convert_to_f32(t->dtype, src + (size_t)lo * esize, out + lo, (size_t)len);
    }
    return CADA_OK;
}

cada_status cada_st_tensor_block_to_f32(const cada_safetensors *st, const cada_st_tensor *t, int64_t row0, int64_t rows,
                                        int64_t col0, int64_t cols, float *out) {
    if (!st || !t || (!out && rows * cols > 0)) return CADA_ERR(CADA_ERR_ARG, "cada_st_tensor_block_to_f32: NULL argument");
    const char *file = t->shard >= 0 && t->shard < st->n_shards ? st->shard_paths[t->shard] : "?";
    const int64_t R = t->ndim > 0 ? t->shape[0] : 1, K = R > 0 ? t->numel / R : 0;
    if (row0 < 0 || rows < 0 || col0 < 0 || cols < 0 || row0 + rows > R || col0 + cols > K)
        return CADA_ERR(CADA_ERR_FORMAT, "%s: tensor '%s' is (%lld, %lld): rows [%lld, %lld) x columns [%lld, %lld) are outside it",
                        file, t->name, (long long)R, (long long)K, (long long)row0, (long long)(row0 + rows), (long long)col0,
                        (long long)(col0 + cols));
    const size_t esize = cada_dtype_size(t->dtype);
    const unsigned char *src = t->data;
    /* row by row: each row's segment is contiguous in the file; threads for big blocks */
#pragma omp parallel for schedule(static) if (rows * cols >= (1 << 20))
    for (int64_t r = 0; r < rows; r++)
        cada_convert_to_f32(t->dtype, src + ((size_t)(row0 + r) * (size_t)K + (size_t)col0) * esize, out + (size_t)r * (size_t)cols,
                            (size_t)cols);
    return CADA_OK;
}

/* ---- writer ------------------------------------------------------------------------- */

typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 1024;
        while (nc < b->len + n + 1) nc *= 2;
        char *np = realloc(b->p, nc);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void sb_puts(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) sb_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* A JSON string literal (RFC 8259 section 7): quote, backslash and controls escaped. */
static void sb_json_string(sbuf *b, const char *s) {
    sb_puts(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"') sb_puts(b, "\\\"");
        else if (*p == '\\') sb_puts(b, "\\\\");
        else if (*p < 0x20) sb_printf(b, "\\u%04x", *p);
        else sb_put(b, (const char *)p, 1);
    }
    sb_puts(b, "\"");
}

static cada_status write_metadata(sbuf *b, const char *path, const char *metadata_json) {
    sb_puts(b, "\"__metadata__\":{");
    if (!metadata_json) {
        sb_puts(b, "\"format\":\"pt\"}");
        return CADA_OK;
    }
    cJSON *m = cJSON_Parse(metadata_json);
    if (!cJSON_IsObject(m)) {
        cJSON_Delete(m);
        return CADA_ERR(CADA_ERR_ARG, "%s: metadata_json is not a JSON object", path);
    }
    int first = 1;
    for (const cJSON *e = m->child; e; e = e->next) {
        if (!cJSON_IsString(e) || !e->string) {
            cada_status s = CADA_ERR(CADA_ERR_ARG, "%s: metadata_json: value of '%s' is not a string",
                                     path, e->string ? e->string : "?");
            cJSON_Delete(m); /* after the message: it owns e->string */
            return s;
        }
        if (!first) sb_puts(b, ",");
        first = 0;
        sb_json_string(b, e->string);
        sb_puts(b, ":");
        sb_json_string(b, e->valuestring);
    }
    cJSON_Delete(m);
    sb_puts(b, "}");
    return CADA_OK;
}

/* need_data: the entry must carry its data (not so when a source supplies it later). */
static cada_status entry_bytes(const char *path, const cada_st_entry *e, int need_data, uint64_t *bytes) {
    if (!e->name || !e->name[0] || strcmp(e->name, "__metadata__") == 0)
        return CADA_ERR(CADA_ERR_ARG, "%s: tensor name '%s' is empty or reserved", path, e->name ? e->name : "");
    if ((unsigned)e->dtype >= CADA_DTYPE_COUNT || e->ndim < 0 || e->ndim > CADA_MAX_DIMS)
        return CADA_ERR(CADA_ERR_ARG, "%s: tensor '%s': bad dtype %d or ndim %d", path, e->name,
                        (int)e->dtype, e->ndim);
    uint64_t numel = 1;
    for (int d = 0; d < e->ndim; d++) {
        if (e->shape[d] < 0 || (e->shape[d] > 0 && numel > (uint64_t)INT64_MAX / (uint64_t)e->shape[d]))
            return CADA_ERR(CADA_ERR_ARG, "%s: tensor '%s': bad shape[%d] = %lld", path, e->name, d,
                            (long long)e->shape[d]);
        numel *= (uint64_t)e->shape[d];
    }
    uint64_t esize = cada_dtype_size(e->dtype);
    if (numel > (uint64_t)INT64_MAX / esize)
        return CADA_ERR(CADA_ERR_ARG, "%s: tensor '%s': too large", path, e->name);
    if (need_data && numel && !e->data) return CADA_ERR(CADA_ERR_ARG, "%s: tensor '%s': data is NULL", path, e->name);
    *bytes = numel * esize;
    return CADA_OK;
}

/* The JSON header, padded with spaces so the data section starts 8-byte aligned. */
static cada_status build_header(sbuf *b, const char *path, const cada_st_entry *entries, int n,
                                const char *metadata_json, int need_data) {
    sb_puts(b, "{");
    CADA_TRY(write_metadata(b, path, metadata_json));
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        const cada_st_entry *e = &entries[i];
        uint64_t bytes;
        CADA_TRY(entry_bytes(path, e, need_data, &bytes));
        for (int j = 0; j < i; j++)
            if (strcmp(entries[j].name, e->name) == 0)
                return CADA_ERR(CADA_ERR_ARG, "%s: tensor '%s' given twice", path, e->name);
        sb_puts(b, ",");
        sb_json_string(b, e->name);
        sb_printf(b, ":{\"dtype\":\"%s\",\"shape\":[", cada_dtype_name(e->dtype));
        for (int d = 0; d < e->ndim; d++) sb_printf(b, "%s%lld", d ? "," : "", (long long)e->shape[d]);
        sb_printf(b, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                  (unsigned long long)(off + bytes));
        off += bytes;
    }
    sb_puts(b, "}");
    while (b->len % 8) sb_puts(b, " ");
    return b->oom ? CADA_ERR(CADA_ERR_NOMEM, "%s: cannot allocate the header", path) : CADA_OK;
}

/* The file's bytes (base/dfile.h writes them straight to the disk where it can). */
static cada_status write_file(cada_dfile *f, const char *tmp, const sbuf *hdr, const cada_st_entry *entries, int n,
                              cada_st_source source, void *ctx) {
    uint64_t hlen = hdr->len;
    CADA_TRY(cada_dfile_write(f, &hlen, 8));
    CADA_TRY(cada_dfile_write(f, hdr->p, hdr->len));
    for (int i = 0; i < n; i++) {
        uint64_t bytes = 0;
        CADA_TRY(entry_bytes(tmp, &entries[i], !source, &bytes));
        const void *data = entries[i].data;
        if (source) CADA_TRY(source(ctx, i, &data));
        if (bytes && !data) return CADA_ERR(CADA_ERR_ARG, "%s: tensor '%s': no data", tmp, entries[i].name);
        CADA_TRY(cada_dfile_write(f, data, (size_t)bytes));
    }
    return CADA_OK;
}

/* Layout: tensors in the given order, back to back. The reference reader rejects any gap
 * between tensors ("invalid offset"), so a tensor is 8-byte aligned exactly when the
 * byte sizes of those before it are multiples of 8 (true of usual LLM weights). */
cada_status cada_safetensors_write(const char *path, const cada_st_entry *entries, int n,
                                   const char *metadata_json) {
    return cada_safetensors_write_stream(path, entries, n, metadata_json, NULL, NULL);
}

cada_status cada_safetensors_write_stream(const char *path, const cada_st_entry *entries, int n,
                                          const char *metadata_json, cada_st_source source, void *ctx) {
    if (!path || (n > 0 && !entries) || n < 0)
        return CADA_ERR(CADA_ERR_ARG, "cada_safetensors_write: bad arguments");
    sbuf hdr = {0};
    cada_status s = build_header(&hdr, path, entries, n, metadata_json, !source);
    if (s != CADA_OK) {
        free(hdr.p);
        return s;
    }
    char *tmp = CADA_MALLOC(strlen(path) + 5, "temporary path");
    if (!tmp) {
        free(hdr.p);
        return CADA_ERR_NOMEM;
    }
    sprintf(tmp, "%s.tmp", path);
    cada_dfile *f = NULL;
    s = cada_dfile_create(&f, tmp);
    if (s == CADA_OK) {
        s = write_file(f, tmp, &hdr, entries, n, source, ctx);
        if (s == CADA_OK) s = cada_dfile_close(f); /* synced before the rename */
        else cada_dfile_abort(f);
        if (s == CADA_OK && rename(tmp, path) != 0)
            s = CADA_ERR(CADA_ERR_IO, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
        if (s != CADA_OK) unlink(tmp);
    }
    free(tmp);
    free(hdr.p);
    return s;
}
