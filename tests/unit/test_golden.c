/* tests/unit/test_golden.c: the golden-file reader (golden.c) on hand-written good and
 * bad files, golden_close, and the files that tests/ref/make_golden.py wrote. */
#include "golden.h"
#include "test.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- a tiny writer for hand-made files --------------------------------------------- */

typedef struct {
    unsigned char b[1024];
    size_t n;
} gbuf;

static void put_bytes(gbuf *g, const void *p, size_t n) {
    if (g->n + n > sizeof g->b) return; /* the tests stay far below the cap */
    memcpy(g->b + g->n, p, n);
    g->n += n;
}
static void put_u32(gbuf *g, uint32_t v) {
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    put_bytes(g, b, 4);
}
static void put_u64(gbuf *g, uint64_t v) {
    put_u32(g, (uint32_t)v);
    put_u32(g, (uint32_t)(v >> 32));
}
static void put_header(gbuf *g, uint32_t version, uint32_t count) {
    put_bytes(g, "CADAGOLD", 8);
    put_u32(g, version);
    put_u32(g, count);
}
static void put_tensor_head(gbuf *g, const char *name, uint32_t dtype, uint32_t ndim,
                            const uint64_t *dims) {
    put_u32(g, (uint32_t)strlen(name));
    put_bytes(g, name, strlen(name));
    put_u32(g, dtype);
    put_u32(g, ndim);
    for (uint32_t i = 0; i < ndim; i++) put_u64(g, dims[i]);
}

/* The good file: "x" f32 (2,3) = 0.5*i, "ids" i32 (4,) = 10+i, "s" f32 scalar = -1. */
static void make_good(gbuf *g) {
    g->n = 0;
    put_header(g, 1, 3);
    uint64_t d23[2] = {2, 3};
    put_tensor_head(g, "x", 0, 2, d23);
    for (int i = 0; i < 6; i++) {
        float v = 0.5f * (float)i;
        put_bytes(g, &v, 4);
    }
    uint64_t d4[1] = {4};
    put_tensor_head(g, "ids", 1, 1, d4);
    for (int i = 0; i < 4; i++) {
        int32_t v = 10 + i;
        put_bytes(g, &v, 4);
    }
    put_tensor_head(g, "s", 0, 0, NULL);
    float m1 = -1.0f;
    put_bytes(g, &m1, 4);
}

static int write_file(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    size_t w = n ? fwrite(p, 1, n, f) : 0;
    return fclose(f) == 0 && w == n;
}

/* Loads bytes through a file; returns the status and leaves *g as golden_load did. */
static cada_status load_bytes(golden_file *g, const void *p, size_t n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/golden-test.gold", cada_test_tmpdir());
    if (!write_file(path, p, n)) return CADA_ERR(CADA_ERR_IO, "%s: cannot write", path);
    return golden_load(g, path);
}

TEST(golden_reader_loads_good_file) {
    gbuf b;
    make_good(&b);
    golden_file g;
    REQUIRE_OK(load_bytes(&g, b.b, b.n));
    EXPECT(g.n == 3, "n = %d", g.n);
    const golden_tensor *x = golden_find(&g, "x");
    const golden_tensor *ids = golden_find(&g, "ids");
    const golden_tensor *s = golden_find(&g, "s");
    EXPECT(golden_find(&g, "nope") == NULL);
    if (!x || !ids || !s) {
        golden_free(&g);
        REQUIRE(0, "missing tensors");
    }
    EXPECT(x->dtype == 0 && x->ndim == 2 && x->dims[0] == 2 && x->dims[1] == 3 && x->numel == 6);
    for (int i = 0; i < 6; i++) EXPECT(((const float *)x->data)[i] == 0.5f * (float)i, "x[%d]", i);
    EXPECT(ids->dtype == 1 && ids->ndim == 1 && ids->dims[0] == 4 && ids->numel == 4);
    for (int i = 0; i < 4; i++) EXPECT(((const int32_t *)ids->data)[i] == 10 + i, "ids[%d]", i);
    EXPECT(s->ndim == 0 && s->numel == 1 && ((const float *)s->data)[0] == -1.0f);
    golden_free(&g);
    EXPECT(g.n == 0 && g.t == NULL);
    golden_free(&g); /* twice is harmless */
}

TEST(golden_reader_rejects_bad_files) {
    gbuf good, b;
    make_good(&good);
    golden_file g;

    /* Every truncation of the good file fails with a format error and leaves g empty. */
    for (size_t len = 0; len < good.n; len++) {
        cada_status s = load_bytes(&g, good.b, len);
        EXPECT(s == CADA_ERR_FORMAT, "truncated to %zu bytes: status %d", len, (int)s);
        EXPECT(g.n == 0 && g.t == NULL, "truncated to %zu bytes left tensors behind", len);
        if (s == CADA_OK) golden_free(&g);
    }

    /* Trailing bytes. */
    b = good;
    put_u32(&b, 0);
    EXPECT(load_bytes(&g, b.b, b.n) == CADA_ERR_FORMAT);
    EXPECT(strstr(cada_error_message(), "trailing") != NULL, "message: %s", cada_error_message());

    /* Bad magic. */
    b = good;
    b.b[0] = 'X';
    EXPECT(load_bytes(&g, b.b, b.n) == CADA_ERR_FORMAT);
    EXPECT(strstr(cada_error_message(), "magic") != NULL, "message: %s", cada_error_message());

    /* Wrong version. */
    b = good;
    b.b[8] = 2;
    EXPECT(load_bytes(&g, b.b, b.n) == CADA_ERR_FORMAT);
    EXPECT(strstr(cada_error_message(), "version") != NULL, "message: %s", cada_error_message());

    /* A count far above what the bytes can hold, and one merely one too many. */
    b = good;
    b.b[12] = 0xff, b.b[13] = 0xff, b.b[14] = 0xff, b.b[15] = 0x7f;
    EXPECT(load_bytes(&g, b.b, b.n) == CADA_ERR_FORMAT);
    b = good;
    b.b[12] = 4;
    EXPECT(load_bytes(&g, b.b, b.n) == CADA_ERR_FORMAT);
    EXPECT(g.n == 0 && g.t == NULL);

    /* Bad dtype: the first tensor's dtype sits after header(16) + len(4) + "x"(1). */
    b = good;
    b.b[21] = 7;
    EXPECT(load_bytes(&g, b.b, b.n) == CADA_ERR_FORMAT);
    EXPECT(strstr(cada_error_message(), "dtype") != NULL, "message: %s", cada_error_message());

    /* ndim above 8. */
    b = good;
    b.b[25] = 9;
    EXPECT(load_bytes(&g, b.b, b.n) == CADA_ERR_FORMAT);
    EXPECT(strstr(cada_error_message(), "ndim") != NULL, "message: %s", cada_error_message());

    /* A huge dim (overflow bait) and a dim one too big for the data. */
    b = good;
    for (int i = 0; i < 8; i++) b.b[29 + i] = 0xff;
    EXPECT(load_bytes(&g, b.b, b.n) == CADA_ERR_FORMAT);
    b = good;
    b.b[29] = 3; /* x becomes (3,3): its data now eats into the next record */
    EXPECT(load_bytes(&g, b.b, b.n) == CADA_ERR_FORMAT);
    EXPECT(g.n == 0 && g.t == NULL);

    /* A name length running past the end, a zero name length, a duplicate name. */
    b = good;
    b.b[16] = 0xff, b.b[17] = 0x0f;
    EXPECT(load_bytes(&g, b.b, b.n) == CADA_ERR_FORMAT);
    b = good;
    b.b[16] = 0;
    EXPECT(load_bytes(&g, b.b, b.n) == CADA_ERR_FORMAT);
    b.n = 0;
    put_header(&b, 1, 2);
    put_tensor_head(&b, "a", 0, 0, NULL);
    put_u32(&b, 0);
    put_tensor_head(&b, "a", 0, 0, NULL);
    put_u32(&b, 0);
    EXPECT(load_bytes(&g, b.b, b.n) == CADA_ERR_FORMAT);
    EXPECT(strstr(cada_error_message(), "twice") != NULL, "message: %s", cada_error_message());
    EXPECT(g.n == 0 && g.t == NULL);

    /* A file that is not there. */
    char path[1024];
    snprintf(path, sizeof path, "%s/does-not-exist.gold", cada_test_tmpdir());
    EXPECT(golden_load(&g, path) == CADA_ERR_IO);
}

TEST(golden_close_tolerance) {
    float want[4] = {1.0f, -2.0f, 100.0f, 0.0f};
    float same[4] = {1.0f, -2.0f, 100.0f, 0.0f};
    float near[4] = {1.0f + 5e-6f, -2.0f, 100.0f + 5e-3f, 0.0f};
    float far[4] = {1.0f, -2.1f, 100.0f, 0.0f};
    float nan4[4] = {1.0f, NAN, 100.0f, 0.0f};
    EXPECT(golden_close("same", same, want, 4, 0.0f, 0.0f) == 1);
    EXPECT(golden_close("near", near, want, 4, 1e-5f, 1e-4f) == 1);
    EXPECT(golden_close("near-tight", near, want, 4, 1e-5f, 0.0f) == 0);
    EXPECT(golden_close("far", far, want, 4, 1e-3f, 1e-3f) == 0);
    EXPECT(golden_close("nan", nan4, want, 4, 1.0f, 1.0f) == 0);
    float winf[1] = {INFINITY}, ginf[1] = {INFINITY}, gbig[1] = {1e30f};
    EXPECT(golden_close("inf-same", ginf, winf, 1, 0.0f, 0.0f) == 1);
    EXPECT(golden_close("inf-vs-finite", gbig, winf, 1, 1.0f, 1.0f) == 0);
}

/* ---- the files make_golden.py wrote ------------------------------------------------ */

static const golden_tensor *need(const golden_file *g, const char *name, int dtype, int ndim) {
    const golden_tensor *t = golden_find(g, name);
    if (!t) {
        cada_test_fail(__FILE__, __LINE__, "tensor '%s' missing", name);
        return NULL;
    }
    if (t->dtype != dtype || t->ndim != ndim) {
        cada_test_fail(__FILE__, __LINE__, "tensor '%s': dtype %d ndim %d, want %d %d", name,
                       t->dtype, t->ndim, dtype, ndim);
        return NULL;
    }
    return t;
}

/* The packed-batch invariants shared by every golden file, and log p(target) recomputed
 * from the logits (when the full logits are there) against the stored logprobs. */
static void check_packed(const golden_file *g, int64_t vocab) {
    const golden_tensor *tok = need(g, "tokens", 1, 2), *pos = need(g, "positions", 1, 2);
    const golden_tensor *tgt = need(g, "targets", 1, 2), *lp = need(g, "logprobs", 0, 2);
    const golden_tensor *loss = need(g, "loss", 0, 1);
    if (!tok || !pos || !tgt || !lp || !loss) return;
    int64_t B = tok->dims[0], T = tok->dims[1];
    EXPECT(pos->numel == B * T && tgt->numel == B * T && lp->numel == B * T);
    const int32_t *ti = tok->data, *pi = pos->data, *gi = tgt->data;
    double sum = 0;
    int64_t count = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++) {
            int64_t i = b * T + t;
            EXPECT(ti[i] >= 0 && ti[i] < vocab, "token %d at %lld", ti[i], (long long)i);
            /* positions restart at 0 at a document start; targets are the next token of
             * the same document, -1 at a document's end. */
            int doc_end = (t == T - 1) || pi[i + 1] == 0;
            if (t > 0) EXPECT(pi[i] == 0 || pi[i] == pi[i - 1] + 1, "position at %lld", (long long)i);
            if (gi[i] != -1) {
                EXPECT(!doc_end && gi[i] == ti[i + 1], "target at %lld", (long long)i);
                sum += ((const float *)lp->data)[i];
                count++;
            } else {
                EXPECT(((const float *)lp->data)[i] == 0.0f, "logprob at masked %lld", (long long)i);
            }
        }
    REQUIRE(count > 0);
    float mean_nll = (float)(-sum / (double)count);
    EXPECT(golden_close("loss vs mean logprobs", &mean_nll, loss->data, 1, 1e-5f, 1e-5f));

    const golden_tensor *logits = golden_find(g, "logits");
    if (!logits) return;
    REQUIRE(logits->ndim == 3 && logits->dims[2] == vocab && logits->numel == B * T * vocab);
    float *mine = calloc((size_t)(B * T), sizeof *mine);
    REQUIRE(mine);
    for (int64_t i = 0; i < B * T; i++) {
        if (gi[i] == -1) continue;
        const float *row = (const float *)logits->data + i * vocab;
        double mx = row[0], s = 0;
        for (int64_t v = 1; v < vocab; v++) mx = row[v] > mx ? row[v] : mx;
        for (int64_t v = 0; v < vocab; v++) s += exp(row[v] - mx);
        mine[i] = (float)(row[gi[i]] - mx - log(s));
    }
    EXPECT(golden_close("logprobs from logits", mine, lp->data, B * T, 1e-5f, 1e-5f));
    free(mine);
}

static int open_golden(golden_file *g, const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/ref/golden/%s", cada_test_root(), name);
    cada_status s = golden_load(g, path);
    if (s != CADA_OK) cada_test_fail(__FILE__, __LINE__, "%s", cada_error_message());
    return s == CADA_OK;
}

TEST(golden_files_tiny_consistent) {
    const char *names[2] = {"tiny_llama.gold", "tiny_qwen2.gold"};
    for (int k = 0; k < 2; k++) {
        golden_file g;
        if (!open_golden(&g, names[k])) continue;
        check_packed(&g, 128);
        EXPECT(golden_find(&g, "grad.model.embed_tokens.weight") != NULL, "%s", names[k]);
        EXPECT(golden_find(&g, "grad.model.layers.1.mlp.down_proj.weight") != NULL, "%s", names[k]);
        golden_free(&g);
    }
}

TEST(golden_file_smollm2_consistent) {
    golden_file g;
    if (!open_golden(&g, "smollm2.gold")) return;
    check_packed(&g, 49152);
    const golden_tensor *head = need(&g, "logits_head", 0, 3), *lse = need(&g, "logsumexp", 0, 2);
    const golden_tensor *emb = need(&g, "weight.model.embed_tokens.weight.rows", 0, 2);
    const golden_tensor *norm = need(&g, "weight.model.norm.weight", 0, 1);
    EXPECT(head && head->dims[2] == 512);
    EXPECT(lse != NULL);
    EXPECT(emb && emb->dims[0] == 4 && emb->dims[1] == 576);
    EXPECT(norm && norm->dims[0] == 576);
    golden_free(&g);
}
