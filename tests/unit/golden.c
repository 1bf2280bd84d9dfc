/* tests/unit/golden.c: see golden.h.
 *
 * The whole file is read into memory, parsed with bounds checks against the bytes that
 * are actually there (never trusting a count or a length before checking it), and each
 * tensor's data is copied into its own aligned allocation. On any failure golden_load
 * records a message naming the file, the tensor and the field at fault, frees what it
 * allocated and leaves *g empty. */
#include "golden.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define GOLDEN_MAGIC "CADAGOLD"
#define GOLDEN_VERSION 1u
#define GOLDEN_MAX_NDIM 8
#define GOLDEN_MAX_NAME 4096u
/* A golden file is a test fixture; anything far above this is a corrupt header. */
#define GOLDEN_MAX_BYTES ((int64_t)1 << 34)

typedef struct {
    const unsigned char *p;
    size_t len, pos;
} reader;

static int rd_u32(reader *r, uint32_t *v) {
    if (r->len - r->pos < 4) return 0;
    const unsigned char *b = r->p + r->pos;
    *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    r->pos += 4;
    return 1;
}

static int rd_u64(reader *r, uint64_t *v) {
    if (r->len - r->pos < 8) return 0;
    const unsigned char *b = r->p + r->pos;
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--) x = x << 8 | b[i];
    *v = x;
    r->pos += 8;
    return 1;
}

static cada_status read_whole_file(const char *path, unsigned char **out, size_t *out_len) {
    *out = NULL;
    *out_len = 0;
    FILE *f;
    CADA_FOPEN_TRY(f, path, "rb");
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        int e = errno;
        fclose(f);
        return CADA_ERR(CADA_ERR_IO, "%s: stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        fclose(f);
        return CADA_ERR(CADA_ERR_IO, "%s: not a regular file", path);
    }
    if ((int64_t)st.st_size > GOLDEN_MAX_BYTES) {
        fclose(f);
        return CADA_ERR(CADA_ERR_FORMAT, "%s: %lld bytes, more than a golden file may hold", path,
                        (long long)st.st_size);
    }
    size_t len = (size_t)st.st_size;
    unsigned char *buf = CADA_MALLOC(len ? len : 1, "golden file contents");
    if (!buf) {
        fclose(f);
        return CADA_ERR_NOMEM;
    }
    size_t got = len ? fread(buf, 1, len, f) : 0;
    int read_err = ferror(f);
    fclose(f);
    if (got != len || read_err) {
        free(buf);
        return CADA_ERR(CADA_ERR_IO, "%s: read %zu of %zu bytes", path, got, len);
    }
    *out = buf;
    *out_len = len;
    return CADA_OK;
}

void golden_free(golden_file *g) {
    if (!g) return;
    if (g->t) {
        for (int i = 0; i < g->n; i++) {
            free(g->t[i].name);
            free(g->t[i].data);
        }
        free(g->t);
    }
    g->t = NULL;
    g->n = 0;
}

/* Parses one tensor record at r->pos into *t (t->name and t->data owned by t). */
static cada_status parse_tensor(reader *r, const char *path, uint32_t index, golden_tensor *t) {
    uint32_t name_len;
    size_t at = r->pos;
    if (!rd_u32(r, &name_len))
        return CADA_ERR(CADA_ERR_FORMAT, "%s: tensor %u: truncated name length at byte %zu", path,
                        index, at);
    if (name_len == 0 || name_len > GOLDEN_MAX_NAME)
        return CADA_ERR(CADA_ERR_FORMAT, "%s: tensor %u: name length %u at byte %zu (want 1..%u)",
                        path, index, name_len, at, GOLDEN_MAX_NAME);
    if (r->len - r->pos < name_len)
        return CADA_ERR(CADA_ERR_FORMAT,
                        "%s: tensor %u: name of %u bytes runs past the end of the file (%zu bytes)",
                        path, index, name_len, r->len);
    if (memchr(r->p + r->pos, 0, name_len))
        return CADA_ERR(CADA_ERR_FORMAT, "%s: tensor %u: name contains a NUL byte", path, index);
    t->name = CADA_MALLOC((size_t)name_len + 1, "golden tensor name");
    if (!t->name) return CADA_ERR_NOMEM;
    memcpy(t->name, r->p + r->pos, name_len);
    t->name[name_len] = 0;
    r->pos += name_len;

    uint32_t dtype, ndim;
    if (!rd_u32(r, &dtype) || !rd_u32(r, &ndim))
        return CADA_ERR(CADA_ERR_FORMAT, "%s: tensor '%s': truncated dtype/ndim", path, t->name);
    if (dtype > 1)
        return CADA_ERR(CADA_ERR_FORMAT, "%s: tensor '%s': dtype %u (want 0 = f32 or 1 = i32)", path,
                        t->name, dtype);
    if (ndim > GOLDEN_MAX_NDIM)
        return CADA_ERR(CADA_ERR_FORMAT, "%s: tensor '%s': ndim %u (at most %d)", path, t->name,
                        ndim, GOLDEN_MAX_NDIM);
    t->dtype = (int)dtype;
    t->ndim = (int)ndim;
    /* numel is bounded by the bytes left in the file, so the product cannot overflow:
     * each factor is checked against that bound before multiplying. */
    uint64_t max_numel = (uint64_t)(r->len - r->pos) / 4;
    uint64_t numel = 1;
    int has_zero = 0;
    for (uint32_t d = 0; d < ndim; d++) {
        uint64_t dim;
        if (!rd_u64(r, &dim))
            return CADA_ERR(CADA_ERR_FORMAT, "%s: tensor '%s': truncated dims", path, t->name);
        if (dim > (uint64_t)INT64_MAX)
            return CADA_ERR(CADA_ERR_FORMAT, "%s: tensor '%s': dim %u = %llu is too large", path,
                            t->name, d, (unsigned long long)dim);
        t->dims[d] = (int64_t)dim;
        if (dim == 0) has_zero = 1;
        if (has_zero) continue;
        if (dim > max_numel || numel > max_numel / dim)
            return CADA_ERR(CADA_ERR_FORMAT,
                            "%s: tensor '%s': shape needs more data than the file has (%zu bytes)",
                            path, t->name, r->len);
        numel *= dim;
    }
    if (has_zero) numel = 0;
    uint64_t bytes = numel * 4;
    if (bytes > (uint64_t)(r->len - r->pos))
        return CADA_ERR(CADA_ERR_FORMAT,
                        "%s: tensor '%s': %llu data bytes at byte %zu run past the end of the file "
                        "(%zu bytes)",
                        path, t->name, (unsigned long long)bytes, r->pos, r->len);
    t->numel = (int64_t)numel;
    t->data = CADA_MALLOC(bytes ? (size_t)bytes : 4, "golden tensor data");
    if (!t->data) return CADA_ERR_NOMEM;
    /* The format is little-endian; so is every machine cada runs on. */
    if (bytes) memcpy(t->data, r->p + r->pos, (size_t)bytes);
    r->pos += (size_t)bytes;
    return CADA_OK;
}

static cada_status parse(golden_file *g, const unsigned char *buf, size_t len, const char *path) {
    reader r = {buf, len, 0};
    if (len < 16)
        return CADA_ERR(CADA_ERR_FORMAT, "%s: %zu bytes, shorter than the 16-byte header", path, len);
    if (memcmp(buf, GOLDEN_MAGIC, 8) != 0)
        return CADA_ERR(CADA_ERR_FORMAT, "%s: bad magic (want \"%s\"): not a golden file", path,
                        GOLDEN_MAGIC);
    r.pos = 8;
    uint32_t version, count;
    rd_u32(&r, &version);
    rd_u32(&r, &count);
    if (version != GOLDEN_VERSION)
        return CADA_ERR(CADA_ERR_FORMAT, "%s: version %u (this reader handles %u)", path, version,
                        GOLDEN_VERSION);
    /* The smallest record (1-byte name, ndim 0, one element) takes 4+1+4+4+4 = 17 bytes. */
    if (count > (len - r.pos) / 17 || count > (uint32_t)(INT32_MAX / 2))
        return CADA_ERR(CADA_ERR_FORMAT, "%s: tensor count %u cannot fit in %zu bytes", path, count,
                        len);
    g->t = CADA_CALLOC(count ? count : 1, sizeof *g->t, "golden tensor table");
    if (!g->t) return CADA_ERR_NOMEM;
    for (uint32_t i = 0; i < count; i++) {
        g->n = (int)i + 1; /* so golden_free releases a half-parsed record too */
        CADA_TRY(parse_tensor(&r, path, i, &g->t[i]));
        for (uint32_t j = 0; j < i; j++)
            if (strcmp(g->t[j].name, g->t[i].name) == 0)
                return CADA_ERR(CADA_ERR_FORMAT, "%s: tensor '%s' appears twice", path,
                                g->t[i].name);
    }
    if (r.pos != len)
        return CADA_ERR(CADA_ERR_FORMAT, "%s: %zu trailing bytes after the last of %u tensors", path,
                        len - r.pos, count);
    return CADA_OK;
}

cada_status golden_load(golden_file *g, const char *path) {
    if (!g || !path) return CADA_ERR(CADA_ERR_ARG, "golden_load: NULL argument");
    g->n = 0;
    g->t = NULL;
    unsigned char *buf;
    size_t len;
    CADA_TRY(read_whole_file(path, &buf, &len));
    cada_status s = parse(g, buf, len, path);
    free(buf);
    if (s != CADA_OK) golden_free(g);
    return s;
}

const golden_tensor *golden_find(const golden_file *g, const char *name) {
    if (!g || !name) return NULL;
    for (int i = 0; i < g->n; i++)
        if (strcmp(g->t[i].name, name) == 0) return &g->t[i];
    return NULL;
}

int golden_close(const char *what, const float *got, const float *want, int64_t n, float atol,
                 float rtol) {
    if (n <= 0) {
        fprintf(stderr, "    %s: no elements to compare\n", what);
        return n == 0;
    }
    /* Worst by |diff| (reported always) and worst by excess over the allowed error
     * (reported when something is out of tolerance). NaN or inf where want is finite
     * counts as an infinite difference; equal infinities count as equal. */
    double max_diff = -1.0, worst_excess = -INFINITY, worst_diff = 0.0, worst_allowed = 0.0;
    int64_t at_max = 0, at_excess = 0, bad = 0;
    for (int64_t i = 0; i < n; i++) {
        double gv = got[i], wv = want[i];
        double diff, allowed;
        if (isfinite(wv)) {
            diff = fabs(gv - wv); /* NaN when got is NaN */
            if (isnan(diff)) diff = INFINITY;
            allowed = (double)atol + (double)rtol * fabs(wv);
        } else {
            /* want is inf or NaN: only the identical infinity matches. */
            diff = (gv == wv) ? 0.0 : INFINITY;
            allowed = 0.0;
        }
        if (diff > max_diff) {
            max_diff = diff;
            at_max = i;
        }
        if (diff > allowed) {
            double excess = diff - allowed;
            if (isnan(excess)) excess = INFINITY;
            if (bad == 0 || excess > worst_excess) {
                worst_excess = excess;
                worst_diff = diff;
                worst_allowed = allowed;
                at_excess = i;
            }
            bad++;
        }
    }
    fprintf(stderr, "    %s: max|diff| %.3g at %lld (got %.9g, want %.9g) tol atol %.3g rtol %.3g: %s\n",
            what, max_diff, (long long)at_max, (double)got[at_max], (double)want[at_max],
            (double)atol, (double)rtol, bad ? "out of tolerance" : "ok");
    if (bad) {
        fprintf(stderr,
                "    %s: %lld of %lld elements out of tolerance; worst at %lld (got %.9g, want %.9g, "
                "|diff| %.3g, allowed %.3g)\n",
                what, (long long)bad, (long long)n, (long long)at_excess, (double)got[at_excess],
                (double)want[at_excess], worst_diff, worst_allowed);
    }
    return bad == 0;
}

cada_tensor_view *golden_model_views(const cada_model *m, const cada_params *p, int *n) {
    *n = cada_model_tensor_views(&m->cfg, p, NULL);
    cada_tensor_view *views = malloc(sizeof *views * (size_t)*n);
    if (views) cada_model_tensor_views(&m->cfg, p, views);
    return views;
}
