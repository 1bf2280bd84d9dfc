/* io/gguf.c: GGUF v2/v3 reader (mmap) with dequantisation of F32, F16, BF16, Q8_0, Q4_0
 * and Q4_1 to fp32.
 *
 * Sources: the GGUF specification (ggml, docs/gguf.md), ggml's reader (ggml/src/gguf.cpp)
 * for the validity rules we share (counts, n_dims <= 4, unique keys and tensor names,
 * power-of-two general.alignment, offsets aligned and inside the file), and gguf-py's
 * gguf/quants.py and ggml-quants.c (dequantize_row_q8_0 etc.) for the block formats:
 *   Q8_0: 32 values in 34 bytes: f16 d, int8 q[32];           x = d * q
 *   Q4_0: 32 values in 18 bytes: f16 d, u8 qs[16];             x = d * (nibble - 8)
 *   Q4_1: 32 values in 20 bytes: f16 d, f16 m, u8 qs[16];      x = d * nibble + m
 * where element j < 16 is the low nibble of qs[j] and element j + 16 its high nibble.
 *
 * Exactness: values are computed in float32 as gguf-py's numpy code does (d * q, then
 * + m for Q4_1). The product of an f16 scale (11 significant bits) and a quant of at most
 * 8 bits is exact in float32, so the only rounding is the add; whether or not a compiler
 * contracts d * q + m into an FMA, the result is the same bits as gguf-py's. The test
 * tests/unit/test_io.c (test_io_gguf_golden_gguf_py) checks this bit for bit.
 *
 * Every count, length and offset read from the file is checked against the bytes that
 * remain and against caps before it is used; errors name the file and the key/tensor. */
#define _GNU_SOURCE
#include "io/gguf.h"

#include "io/dtype.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GGUF_MAX_COUNT ((uint64_t)1 << 24) /* tensors, kvs */
#define GGUF_MAX_NAME 65535                 /* keys and tensor names (the spec's key cap) */
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_ALIGNMENT ((uint64_t)1 << 30)
#define GGUF_MIN_KV_BYTES 13     /* u64 key length + u32 type + a 1-byte value */
#define GGUF_MIN_TENSOR_BYTES 32 /* u64 name length + u32 n_dims + u64 dim + u32 type + u64 offset */

/* ---- ggml types (ggml.h; sizes from ggml.c type_traits = gguf-py GGML_QUANT_SIZES, except
 * Q8_1: 36 bytes (f16 d, f16 s, 32 int8) where gguf-py still lists an old 40) ------------ */

typedef struct {
    const char *name;
    uint32_t block; /* elements per block */
    uint32_t bytes; /* bytes per block */
} ggml_type_info;

static const ggml_type_info ggml_types[] = {
    [0] = {"F32", 1, 4},        [1] = {"F16", 1, 2},        [2] = {"Q4_0", 32, 18},
    [3] = {"Q4_1", 32, 20},     [6] = {"Q5_0", 32, 22},     [7] = {"Q5_1", 32, 24},
    [8] = {"Q8_0", 32, 34},     [9] = {"Q8_1", 32, 36},     [10] = {"Q2_K", 256, 84},
    [11] = {"Q3_K", 256, 110},  [12] = {"Q4_K", 256, 144},  [13] = {"Q5_K", 256, 176},
    [14] = {"Q6_K", 256, 210},  [15] = {"Q8_K", 256, 292},  [16] = {"IQ2_XXS", 256, 66},
    [17] = {"IQ2_XS", 256, 74}, [18] = {"IQ3_XXS", 256, 98}, [19] = {"IQ1_S", 256, 50},
    [20] = {"IQ4_NL", 32, 18},  [21] = {"IQ3_S", 256, 110}, [22] = {"IQ2_S", 256, 82},
    [23] = {"IQ4_XS", 256, 136}, [24] = {"I8", 1, 1},       [25] = {"I16", 1, 2},
    [26] = {"I32", 1, 4},       [27] = {"I64", 1, 8},       [28] = {"F64", 1, 8},
    [29] = {"IQ1_M", 256, 56},  [30] = {"BF16", 1, 2},      [34] = {"TQ1_0", 256, 54},
    [35] = {"TQ2_0", 256, 66},  [39] = {"MXFP4", 32, 17},   [40] = {"NVFP4", 64, 36},
    [41] = {"Q1_0", 128, 18},
};
#define N_GGML_TYPES (sizeof ggml_types / sizeof ggml_types[0])

static const ggml_type_info *ggml_type_lookup(uint32_t t) {
    return t < N_GGML_TYPES && ggml_types[t].name ? &ggml_types[t] : NULL;
}

const char *cada_ggml_type_name(uint32_t t) {
    const ggml_type_info *ti = ggml_type_lookup(t);
    return ti ? ti->name : "unknown";
}

static const char *value_type_name(uint32_t t) {
    static const char *const names[] = {"uint8", "int8", "uint16", "int16", "uint32", "int32",
                                        "float32", "bool", "string", "array", "uint64", "int64",
                                        "float64"};
    return t < sizeof names / sizeof names[0] ? names[t] : "unknown";
}

/* Bytes of a scalar value type; 0 for string, array and unknown types. */
static size_t scalar_size(uint32_t t) {
    static const unsigned char sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return t < sizeof sizes ? sizes[t] : 0;
}

/* ---- a bounds-checked cursor over the mapping ----------------------------------------- */

typedef struct {
    const unsigned char *base;
    size_t size;
    size_t off;
    const char *path;
} cursor;

static size_t remaining(const cursor *c) { return c->size - c->off; }

static cada_status need(const cursor *c, uint64_t n, const char *what) {
    if (n > remaining(c))
        return CADA_ERR(CADA_ERR_FORMAT, "%s: %s: %llu bytes at offset %zu run past the end of the file (%zu bytes)",
                        c->path, what, (unsigned long long)n, c->off, c->size);
    return CADA_OK;
}

static cada_status rd_bytes(cursor *c, void *dst, size_t n, const char *what) {
    CADA_TRY(need(c, n, what));
    memcpy(dst, c->base + c->off, n); /* little-endian host: checked in dtype.c */
    c->off += n;
    return CADA_OK;
}

static cada_status rd_u32(cursor *c, uint32_t *v, const char *what) { return rd_bytes(c, v, 4, what); }
static cada_status rd_u64(cursor *c, uint64_t *v, const char *what) { return rd_bytes(c, v, 8, what); }

static cada_status rd_string(cursor *c, cada_gguf_string *s, const char *what) {
    uint64_t len = 0;
    CADA_TRY(rd_u64(c, &len, what));
    if (len > remaining(c))
        return CADA_ERR(CADA_ERR_FORMAT, "%s: %s: string length %llu at offset %zu runs past the end of the file (%zu bytes)",
                        c->path, what, (unsigned long long)len, c->off - 8, c->size);
    s->str = (const char *)c->base + c->off;
    s->len = len;
    c->off += (size_t)len;
    return CADA_OK;
}

/* A NUL-terminated copy of a key or tensor name, which must be short and NUL-free. */
static cada_status rd_name(cursor *c, char **out, const char *what) {
    cada_gguf_string s = {NULL, 0};
    CADA_TRY(rd_string(c, &s, what));
    if (s.len > GGUF_MAX_NAME || memchr(s.str, 0, (size_t)s.len))
        return CADA_ERR(CADA_ERR_FORMAT, "%s: %s: name of %llu bytes is too long or holds a NUL byte",
                        c->path, what, (unsigned long long)s.len);
    char *p = CADA_MALLOC((size_t)s.len + 1, "GGUF name");
    if (!p) return CADA_ERR_NOMEM;
    memcpy(p, s.str, (size_t)s.len);
    p[s.len] = 0;
    *out = p;
    return CADA_OK;
}

/* ---- key/value section --------------------------------------------------------------- */

static void store_scalar(cada_gguf_kv *kv, uint32_t type, const unsigned char *p) {
    uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32; float f32;
    switch (type) {
    case CADA_GGUF_UINT8: case CADA_GGUF_BOOL: memcpy(&u8, p, 1); kv->v.u64 = u8; break;
    case CADA_GGUF_INT8: memcpy(&i8, p, 1); kv->v.i64 = i8; break;
    case CADA_GGUF_UINT16: memcpy(&u16, p, 2); kv->v.u64 = u16; break;
    case CADA_GGUF_INT16: memcpy(&i16, p, 2); kv->v.i64 = i16; break;
    case CADA_GGUF_UINT32: memcpy(&u32, p, 4); kv->v.u64 = u32; break;
    case CADA_GGUF_INT32: memcpy(&i32, p, 4); kv->v.i64 = i32; break;
    case CADA_GGUF_FLOAT32: memcpy(&f32, p, 4); kv->v.f64 = f32; break;
    case CADA_GGUF_UINT64: memcpy(&kv->v.u64, p, 8); break;
    case CADA_GGUF_INT64: memcpy(&kv->v.i64, p, 8); break;
    case CADA_GGUF_FLOAT64: memcpy(&kv->v.f64, p, 8); break;
    default: break;
    }
}

static cada_status read_array(cursor *c, cada_gguf_kv *kv) {
    char what[512]; /* context for messages; names past 400 bytes are cut */
    snprintf(what, sizeof what, "key '%.400s'", kv->key);
    uint32_t at = 0;
    CADA_TRY(rd_u32(c, &at, what));
    uint64_t n = 0;
    CADA_TRY(rd_u64(c, &n, what));
    kv->arr_type = (cada_gguf_type)at;
    kv->arr_len = n;
    if (at == CADA_GGUF_ARRAY)
        return CADA_ERR(CADA_ERR_UNSUPPORTED, "%s: key '%s': nested arrays are not supported", c->path, kv->key);
    if (at == CADA_GGUF_STRING) {
        /* Each string takes at least its 8-byte length: bounds the allocation by the file. */
        if (n > remaining(c) / 8)
            return CADA_ERR(CADA_ERR_FORMAT, "%s: key '%s': string array length %llu runs past the end of the file",
                            c->path, kv->key, (unsigned long long)n);
        kv->arr_strs = CADA_CALLOC((size_t)n, sizeof *kv->arr_strs, "GGUF string array");
        if (!kv->arr_strs) return CADA_ERR_NOMEM;
        for (uint64_t i = 0; i < n; i++) CADA_TRY(rd_string(c, &kv->arr_strs[i], what));
        return CADA_OK;
    }
    size_t es = scalar_size(at);
    if (!es)
        return CADA_ERR(CADA_ERR_FORMAT, "%s: key '%s': unknown array element type %u", c->path, kv->key, at);
    if (n > remaining(c) / es)
        return CADA_ERR(CADA_ERR_FORMAT, "%s: key '%s': array of %llu %s runs past the end of the file",
                        c->path, kv->key, (unsigned long long)n, value_type_name(at));
    kv->arr_data = c->base + c->off;
    c->off += (size_t)(n * es);
    return CADA_OK;
}

static cada_status read_kv(cursor *c, uint64_t i, cada_gguf_kv *kv) {
    char what[512]; /* context for messages; names past 400 bytes are cut */
    snprintf(what, sizeof what, "key #%llu", (unsigned long long)i);
    CADA_TRY(rd_name(c, &kv->key, what));
    snprintf(what, sizeof what, "key '%.400s'", kv->key);
    uint32_t type = 0;
    CADA_TRY(rd_u32(c, &type, what));
    kv->type = (cada_gguf_type)type;
    if (type == CADA_GGUF_ARRAY) return read_array(c, kv);
    if (type == CADA_GGUF_STRING) return rd_string(c, &kv->v.str, what);
    size_t es = scalar_size(type);
    if (!es) return CADA_ERR(CADA_ERR_FORMAT, "%s: key '%s': unknown value type %u", c->path, kv->key, type);
    CADA_TRY(need(c, es, what));
    store_scalar(kv, type, c->base + c->off);
    c->off += es;
    return CADA_OK;
}

static int kv_by_key(const void *a, const void *b, void *ctx) {
    const cada_gguf_kv *kv = ctx;
    return strcmp(kv[*(const uint64_t *)a].key, kv[*(const uint64_t *)b].key);
}

static int tensor_by_name(const void *a, const void *b, void *ctx) {
    const cada_gguf_tensor *t = ctx;
    return strcmp(t[*(const uint64_t *)a].name, t[*(const uint64_t *)b].name);
}

static int tensor_by_offset(const void *a, const void *b, void *ctx) {
    const cada_gguf_tensor *t = ctx;
    const unsigned char *x = t[*(const uint64_t *)a].data, *y = t[*(const uint64_t *)b].data;
    return x < y ? -1 : x > y;
}

static uint64_t *sorted_indices(uint64_t n, void *items, int (*cmp)(const void *, const void *, void *)) {
    uint64_t *idx = CADA_MALLOC((size_t)(n ? n : 1) * sizeof *idx, "GGUF index");
    if (!idx) return NULL;
    for (uint64_t i = 0; i < n; i++) idx[i] = i;
    qsort_r(idx, (size_t)n, sizeof *idx, cmp, items);
    return idx;
}

static cada_status check_unique_keys(const cada_gguf *g) {
    uint64_t *idx = sorted_indices(g->n_kv, g->kv, kv_by_key);
    if (!idx) return CADA_ERR_NOMEM;
    cada_status s = CADA_OK;
    for (uint64_t i = 1; i < g->n_kv && s == CADA_OK; i++)
        if (strcmp(g->kv[idx[i - 1]].key, g->kv[idx[i]].key) == 0)
            s = CADA_ERR(CADA_ERR_FORMAT, "%s: key '%s' appears twice", g->path, g->kv[idx[i]].key);
    free(idx);
    return s;
}

static cada_status read_alignment(cada_gguf *g) {
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    if (!cada_gguf_find(g, "general.alignment")) return CADA_OK;
    uint64_t a = 0;
    CADA_TRY(cada_gguf_get_u64(g, "general.alignment", &a));
    if (a == 0 || (a & (a - 1)) || a > GGUF_MAX_ALIGNMENT)
        return CADA_ERR(CADA_ERR_FORMAT, "%s: key 'general.alignment': %llu is not a power of two up to %llu",
                        g->path, (unsigned long long)a, (unsigned long long)GGUF_MAX_ALIGNMENT);
    g->alignment = a;
    return CADA_OK;
}

/* ---- tensor infos -------------------------------------------------------------------- */

/* Reads dims, type and offset; sets numel and nbytes (data is set later). */
static cada_status read_tensor_info(cursor *c, uint64_t i, cada_gguf_tensor *t, uint64_t *offset) {
    char what[512]; /* context for messages; names past 400 bytes are cut */
    snprintf(what, sizeof what, "tensor #%llu", (unsigned long long)i);
    CADA_TRY(rd_name(c, &t->name, what));
    snprintf(what, sizeof what, "tensor '%.400s'", t->name);
    uint32_t nd = 0;
    CADA_TRY(rd_u32(c, &nd, what));
    if (nd < 1 || nd > 4)
        return CADA_ERR(CADA_ERR_FORMAT, "%s: tensor '%s': n_dims %u is not in 1..4", c->path, t->name, nd);
    t->ndim = (int)nd;
    uint64_t numel = 1;
    for (uint32_t d = 0; d < nd; d++) {
        CADA_TRY(rd_u64(c, &t->dims[d], what));
        /* ggml holds element counts in int64_t. */
        if (t->dims[d] > (uint64_t)INT64_MAX || (t->dims[d] && numel > (uint64_t)INT64_MAX / t->dims[d]))
            return CADA_ERR(CADA_ERR_FORMAT, "%s: tensor '%s': dims overflow (dims[%u] = %llu)", c->path,
                            t->name, d, (unsigned long long)t->dims[d]);
        numel *= t->dims[d];
    }
    for (int d = t->ndim; d < 4; d++) t->dims[d] = 1;
    t->numel = numel;
    CADA_TRY(rd_u32(c, &t->ggml_type, what));
    CADA_TRY(rd_u64(c, offset, what));
    const ggml_type_info *ti = ggml_type_lookup(t->ggml_type);
    if (!ti) return CADA_ERR(CADA_ERR_FORMAT, "%s: tensor '%s': unknown ggml type %u", c->path, t->name, t->ggml_type);
    if (t->dims[0] % ti->block)
        return CADA_ERR(CADA_ERR_FORMAT, "%s: tensor '%s': dims[0] = %llu is not a multiple of the %s block size %u",
                        c->path, t->name, (unsigned long long)t->dims[0], ti->name, ti->block);
    uint64_t blocks = numel / ti->block;
    if (blocks > UINT64_MAX / ti->bytes)
        return CADA_ERR(CADA_ERR_FORMAT, "%s: tensor '%s': byte size overflows", c->path, t->name);
    t->nbytes = blocks * ti->bytes;
    return CADA_OK;
}

/* Places every tensor's data: aligned offsets, inside the file, not overlapping. */
static cada_status place_tensors(cada_gguf *g, size_t data_start, const uint64_t *offsets) {
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        cada_gguf_tensor *t = &g->tensors[i];
        uint64_t off = offsets[i];
        if (off % g->alignment)
            return CADA_ERR(CADA_ERR_FORMAT, "%s: tensor '%s': offset %llu is not a multiple of the alignment %llu",
                            g->path, t->name, (unsigned long long)off, (unsigned long long)g->alignment);
        if (data_start > g->size || off > g->size - data_start || t->nbytes > g->size - data_start - off)
            return CADA_ERR(CADA_ERR_FORMAT,
                            "%s: tensor '%s': data (offset %llu, %llu bytes, data section at %zu) runs past the end of the file (%zu bytes)",
                            g->path, t->name, (unsigned long long)off, (unsigned long long)t->nbytes, data_start,
                            g->size);
        t->data = (const unsigned char *)g->map + data_start + off;
    }
    uint64_t *idx = sorted_indices(g->n_tensors, g->tensors, tensor_by_offset);
    if (!idx) return CADA_ERR_NOMEM;
    cada_status s = CADA_OK;
    const cada_gguf_tensor *prev = NULL;
    for (uint64_t i = 0; i < g->n_tensors && s == CADA_OK; i++) {
        const cada_gguf_tensor *t = &g->tensors[idx[i]];
        if (t->nbytes == 0) continue;
        const unsigned char *pe = prev ? (const unsigned char *)prev->data + prev->nbytes : NULL;
        if (prev && (const unsigned char *)t->data < pe)
            s = CADA_ERR(CADA_ERR_FORMAT, "%s: tensors '%s' and '%s' overlap", g->path, prev->name, t->name);
        if (!prev || (const unsigned char *)t->data + t->nbytes > pe) prev = t;
    }
    free(idx);
    if (s != CADA_OK) return s;
    idx = sorted_indices(g->n_tensors, g->tensors, tensor_by_name);
    if (!idx) return CADA_ERR_NOMEM;
    for (uint64_t i = 1; i < g->n_tensors && s == CADA_OK; i++)
        if (strcmp(g->tensors[idx[i - 1]].name, g->tensors[idx[i]].name) == 0)
            s = CADA_ERR(CADA_ERR_FORMAT, "%s: tensor '%s' appears twice", g->path, g->tensors[idx[i]].name);
    free(idx);
    return s;
}

static cada_status read_tensors(cada_gguf *g, cursor *c) {
    uint64_t *offsets = CADA_MALLOC((size_t)(g->n_tensors ? g->n_tensors : 1) * sizeof *offsets, "GGUF offsets");
    if (!offsets) return CADA_ERR_NOMEM;
    cada_status s = CADA_OK;
    for (uint64_t i = 0; i < g->n_tensors && s == CADA_OK; i++)
        s = read_tensor_info(c, i, &g->tensors[i], &offsets[i]);
    if (s == CADA_OK) {
        /* The data section starts at the next multiple of the alignment. */
        size_t data_start = c->off + (size_t)((g->alignment - c->off % g->alignment) % g->alignment);
        s = place_tensors(g, data_start, offsets);
    }
    free(offsets);
    return s;
}

/* ---- file header and open/close ------------------------------------------------------ */

static cada_status map_file(cada_gguf *g) {
    int fd = open(g->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return CADA_ERR(CADA_ERR_IO, "%s: cannot open: %s", g->path, strerror(errno));
    struct stat sb;
    cada_status s = CADA_OK;
    if (fstat(fd, &sb) != 0) s = CADA_ERR(CADA_ERR_IO, "%s: cannot stat: %s", g->path, strerror(errno));
    else if (!S_ISREG(sb.st_mode)) s = CADA_ERR(CADA_ERR_IO, "%s: not a regular file", g->path);
    else if (sb.st_size < 24)
        s = CADA_ERR(CADA_ERR_FORMAT, "%s: file is %lld bytes, too short for a GGUF header (24 bytes)", g->path,
                     (long long)sb.st_size);
    if (s == CADA_OK) {
        void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) s = CADA_ERR(CADA_ERR_IO, "%s: cannot mmap: %s", g->path, strerror(errno));
        else {
            g->map = m;
            g->size = (size_t)sb.st_size;
        }
    }
    close(fd);
    return s;
}

static cada_status read_header(cada_gguf *g, cursor *c) {
    char magic[4];
    CADA_TRY(rd_bytes(c, magic, 4, "magic"));
    if (memcmp(magic, "GGUF", 4) != 0)
        return CADA_ERR(CADA_ERR_FORMAT, "%s: bad magic (expected \"GGUF\"): not a GGUF file", g->path);
    CADA_TRY(rd_u32(c, &g->version, "version"));
    if (g->version != 2 && g->version != 3)
        return CADA_ERR(CADA_ERR_UNSUPPORTED,
                        "%s: GGUF version %u is not supported (cada reads versions 2 and 3, little-endian)",
                        g->path, g->version);
    uint64_t nt = 0, nkv = 0;
    CADA_TRY(rd_u64(c, &nt, "tensor count"));
    CADA_TRY(rd_u64(c, &nkv, "kv count"));
    /* Each tensor info and each kv takes a minimum number of bytes: counts that cannot
     * fit in what remains are corrupt (or the file is truncated), whatever the cap. */
    if (nt > GGUF_MAX_COUNT || nt > remaining(c) / GGUF_MIN_TENSOR_BYTES)
        return CADA_ERR(CADA_ERR_FORMAT,
                        "%s: tensor count %llu cannot fit in the %zu bytes left (at least %d each; cap %llu)",
                        g->path, (unsigned long long)nt, remaining(c), GGUF_MIN_TENSOR_BYTES,
                        (unsigned long long)GGUF_MAX_COUNT);
    if (nkv > GGUF_MAX_COUNT || nkv > (remaining(c) - nt * GGUF_MIN_TENSOR_BYTES) / GGUF_MIN_KV_BYTES)
        return CADA_ERR(CADA_ERR_FORMAT,
                        "%s: kv count %llu cannot fit in the %zu bytes left (at least %d each; cap %llu)",
                        g->path, (unsigned long long)nkv, remaining(c), GGUF_MIN_KV_BYTES,
                        (unsigned long long)GGUF_MAX_COUNT);
    g->kv = CADA_CALLOC((size_t)(nkv ? nkv : 1), sizeof *g->kv, "GGUF kvs");
    g->tensors = CADA_CALLOC((size_t)(nt ? nt : 1), sizeof *g->tensors, "GGUF tensors");
    if (!g->kv || !g->tensors) return CADA_ERR_NOMEM;
    g->n_kv = nkv;
    g->n_tensors = nt;
    return CADA_OK;
}

cada_status cada_gguf_open(cada_gguf *g, const char *path) {
    if (!g || !path) return CADA_ERR(CADA_ERR_ARG, "cada_gguf_open: NULL argument");
    memset(g, 0, sizeof *g);
    g->path = CADA_MALLOC(strlen(path) + 1, "path");
    if (!g->path) return CADA_ERR_NOMEM;
    strcpy(g->path, path);
    cada_status s = map_file(g);
    cursor c = {g->map, g->size, 0, g->path};
    if (s == CADA_OK) s = read_header(g, &c);
    for (uint64_t i = 0; i < g->n_kv && s == CADA_OK; i++) s = read_kv(&c, i, &g->kv[i]);
    if (s == CADA_OK) s = check_unique_keys(g);
    if (s == CADA_OK) s = read_alignment(g);
    if (s == CADA_OK) s = read_tensors(g, &c);
    if (s != CADA_OK) cada_gguf_close(g);
    return s;
}

void cada_gguf_close(cada_gguf *g) {
    if (!g) return;
    if (g->kv)
        for (uint64_t i = 0; i < g->n_kv; i++) {
            free(g->kv[i].key);
            free(g->kv[i].arr_strs);
        }
    if (g->tensors)
        for (uint64_t i = 0; i < g->n_tensors; i++) free(g->tensors[i].name);
    free(g->kv);
    free(g->tensors);
    if (g->map) munmap(g->map, g->size);
    free(g->path);
    memset(g, 0, sizeof *g);
}

/* ---- lookups and typed getters ------------------------------------------------------- */

const cada_gguf_kv *cada_gguf_find(const cada_gguf *g, const char *key) {
    if (!g || !key || !g->kv) return NULL;
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (g->kv[i].key && strcmp(g->kv[i].key, key) == 0) return &g->kv[i];
    return NULL;
}

const cada_gguf_tensor *cada_gguf_find_tensor(const cada_gguf *g, const char *name) {
    if (!g || !name || !g->tensors) return NULL;
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (g->tensors[i].name && strcmp(g->tensors[i].name, name) == 0) return &g->tensors[i];
    return NULL;
}

static int is_unsigned_type(cada_gguf_type t) {
    return t == CADA_GGUF_UINT8 || t == CADA_GGUF_UINT16 || t == CADA_GGUF_UINT32 || t == CADA_GGUF_UINT64;
}

static int is_signed_type(cada_gguf_type t) {
    return t == CADA_GGUF_INT8 || t == CADA_GGUF_INT16 || t == CADA_GGUF_INT32 || t == CADA_GGUF_INT64;
}

static cada_status find_kv(const cada_gguf *g, const char *key, const cada_gguf_kv **kv) {
    if (!g || !key) return CADA_ERR(CADA_ERR_ARG, "cada_gguf_get: NULL argument");
    *kv = cada_gguf_find(g, key);
    if (!*kv) return CADA_ERR(CADA_ERR_CONFIG, "%s: key '%s' is missing", g->path, key);
    return CADA_OK;
}

cada_status cada_gguf_get_u64(const cada_gguf *g, const char *key, uint64_t *out) {
    const cada_gguf_kv *kv;
    CADA_TRY(find_kv(g, key, &kv));
    if (is_unsigned_type(kv->type)) {
        *out = kv->v.u64;
        return CADA_OK;
    }
    if (is_signed_type(kv->type)) {
        if (kv->v.i64 < 0)
            return CADA_ERR(CADA_ERR_CONFIG, "%s: key '%s' = %lld is negative", g->path, key, (long long)kv->v.i64);
        *out = (uint64_t)kv->v.i64;
        return CADA_OK;
    }
    return CADA_ERR(CADA_ERR_CONFIG, "%s: key '%s' has type %s, not an integer", g->path, key,
                    value_type_name(kv->type));
}

cada_status cada_gguf_get_f64(const cada_gguf *g, const char *key, double *out) {
    const cada_gguf_kv *kv;
    CADA_TRY(find_kv(g, key, &kv));
    if (kv->type == CADA_GGUF_FLOAT32 || kv->type == CADA_GGUF_FLOAT64) *out = kv->v.f64;
    else if (is_unsigned_type(kv->type)) *out = (double)kv->v.u64;
    else if (is_signed_type(kv->type)) *out = (double)kv->v.i64;
    else
        return CADA_ERR(CADA_ERR_CONFIG, "%s: key '%s' has type %s, not a number", g->path, key,
                        value_type_name(kv->type));
    return CADA_OK;
}

cada_status cada_gguf_get_string(const cada_gguf *g, const char *key, char **out) {
    const cada_gguf_kv *kv;
    CADA_TRY(find_kv(g, key, &kv));
    if (kv->type != CADA_GGUF_STRING)
        return CADA_ERR(CADA_ERR_CONFIG, "%s: key '%s' has type %s, not a string", g->path, key,
                        value_type_name(kv->type));
    char *s = CADA_MALLOC((size_t)kv->v.str.len + 1, "GGUF string");
    if (!s) return CADA_ERR_NOMEM;
    memcpy(s, kv->v.str.str, (size_t)kv->v.str.len);
    s[kv->v.str.len] = 0;
    *out = s;
    return CADA_OK;
}

/* ---- dequantisation ------------------------------------------------------------------ */

static inline float load_f16(const unsigned char *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return cada_f16_to_f32(h);
}

static void deq_q8_0(const unsigned char *src, float *dst, size_t nblocks) {
    for (size_t b = 0; b < nblocks; b++, src += 34, dst += 32) {
        const float d = load_f16(src);
        const int8_t *q = (const int8_t *)(src + 2);
        for (int j = 0; j < 32; j++) dst[j] = d * (float)q[j];
    }
}

static void deq_q4_0(const unsigned char *src, float *dst, size_t nblocks) {
    for (size_t b = 0; b < nblocks; b++, src += 18, dst += 32) {
        const float d = load_f16(src);
        const unsigned char *qs = src + 2;
        for (int j = 0; j < 16; j++) {
            dst[j] = d * (float)((int)(qs[j] & 0x0f) - 8);
            dst[j + 16] = d * (float)((int)(qs[j] >> 4) - 8);
        }
    }
}

static void deq_q4_1(const unsigned char *src, float *dst, size_t nblocks) {
    for (size_t b = 0; b < nblocks; b++, src += 20, dst += 32) {
        const float d = load_f16(src), m = load_f16(src + 2);
        const unsigned char *qs = src + 4;
        for (int j = 0; j < 16; j++) {
            dst[j] = d * (float)(qs[j] & 0x0f) + m; /* d * q is exact: one rounding (see top) */
            dst[j + 16] = d * (float)(qs[j] >> 4) + m;
        }
    }
}

/* Dequantises n elements (a whole number of blocks) starting at src. */
static void deq_run(uint32_t type, const unsigned char *src, float *dst, size_t n) {
    switch (type) {
    case CADA_GGML_F32: cada_convert_to_f32(CADA_DTYPE_F32, src, dst, n); break;
    case CADA_GGML_F16: cada_convert_to_f32(CADA_DTYPE_F16, src, dst, n); break;
    case CADA_GGML_BF16: cada_convert_to_f32(CADA_DTYPE_BF16, src, dst, n); break;
    case CADA_GGML_Q8_0: deq_q8_0(src, dst, n / 32); break;
    case CADA_GGML_Q4_0: deq_q4_0(src, dst, n / 32); break;
    case CADA_GGML_Q4_1: deq_q4_1(src, dst, n / 32); break;
    default: break;
    }
}

cada_status cada_gguf_tensor_to_f32(const cada_gguf *g, const cada_gguf_tensor *t, float *out, uint64_t n) {
    if (!g || !t || (!out && n > 0)) return CADA_ERR(CADA_ERR_ARG, "cada_gguf_tensor_to_f32: NULL argument");
    if (n != t->numel)
        return CADA_ERR(CADA_ERR_FORMAT, "%s: tensor '%s': %llu elements requested but it has %llu", g->path,
                        t->name, (unsigned long long)n, (unsigned long long)t->numel);
    switch (t->ggml_type) {
    case CADA_GGML_F32: case CADA_GGML_F16: case CADA_GGML_BF16:
    case CADA_GGML_Q8_0: case CADA_GGML_Q4_0: case CADA_GGML_Q4_1: break;
    default:
        return CADA_ERR(CADA_ERR_UNSUPPORTED,
                        "%s: tensor '%s': ggml type %s (%u) cannot be dequantised (cada reads F32, F16, BF16, Q8_0, Q4_0, Q4_1)",
                        g->path, t->name, cada_ggml_type_name(t->ggml_type), t->ggml_type);
    }
    const ggml_type_info *ti = ggml_type_lookup(t->ggml_type);
    /* Blocks are contiguous across rows (dims[0] is a whole number of blocks), so the
     * work splits into equal chunks of whole blocks regardless of the shape. One thread
     * dequantises about 1e9 values/s, so a parallel region (and its barrier, costly when
     * the cores are shared) only pays from about a million values up. */
    const uint64_t chunk = 1 << 16; /* elements; a multiple of every block size here */
    const int64_t n_chunks = (int64_t)((n + chunk - 1) / chunk);
    const unsigned char *src = t->data;
#pragma omp parallel for schedule(static) if (n_chunks >= 16)
    for (int64_t k = 0; k < n_chunks; k++) {
        uint64_t lo = (uint64_t)k * chunk, len = n - lo < chunk ? n - lo : chunk;
        deq_run(t->ggml_type, src + lo / ti->block * ti->bytes, out + lo, (size_t)len);
    }
    return CADA_OK;
}
