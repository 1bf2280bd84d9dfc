/* tests/unit/test_io.c: the io layer (src/io): dtype conversions, safetensors read/write
 * (single file and sharded, and hostile headers), and GGUF (the real SmolLM2 file, a
 * fixture written by gguf-py with its own dequantised values, and hostile files built
 * here byte by byte). Every bad-input case checks that the status is an error and that
 * the message names the file and the offending field, key or tensor. */
#define _GNU_SOURCE
#include "base/error.h"
#include "base/log.h"
#include "golden.h"
#include "io/dtype.h"
#include "io/gguf.h"
#include "io/safetensors.h"
#include "test.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------------------- */

static void tmp_path(char *out, size_t n, const char *name) {
    snprintf(out, n, "%s/%s", cada_test_tmpdir(), name);
}

static int write_file(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int ok = fwrite(p, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* The call failed, and its message names the file and each of the needles. */
static int failed_naming(cada_status s, const char *path, const char *n1, const char *n2) {
    const char *m = cada_error_message();
    int ok = s != CADA_OK && strstr(m, path) && (!n1 || strstr(m, n1)) && (!n2 || strstr(m, n2));
    if (!ok) fprintf(stderr, "    status %s, message: %s\n", cada_status_name(s), m);
    return ok;
}

/* ---- 1. dtype conversions ------------------------------------------------------------ */

TEST(test_io_dtype_names) {
    EXPECT(cada_dtype_size(CADA_DTYPE_F32) == 4 && cada_dtype_size(CADA_DTYPE_BF16) == 2);
    EXPECT(cada_dtype_size(CADA_DTYPE_I64) == 8 && cada_dtype_size(CADA_DTYPE_COUNT) == 0);
    for (int t = 0; t < CADA_DTYPE_COUNT; t++)
        EXPECT(cada_dtype_from_name(cada_dtype_name((cada_dtype)t)) == t, "%d", t);
    EXPECT(strcmp(cada_dtype_name(CADA_DTYPE_BF16), "BF16") == 0);
    EXPECT(cada_dtype_from_name("F64") == -1 && cada_dtype_from_name("") == -1);
}

TEST(test_io_dtype_f16) {
    /* Decoding: known bit patterns (IEEE 754 binary16). */
    EXPECT(cada_f16_to_f32(0x3c00) == 1.0f);
    EXPECT(cada_f16_to_f32(0xc000) == -2.0f);
    EXPECT(cada_f16_to_f32(0x7bff) == 65504.0f);
    EXPECT(cada_f16_to_f32(0x0400) == 0x1p-14f);           /* smallest normal */
    EXPECT(cada_f16_to_f32(0x0001) == 0x1p-24f);           /* smallest subnormal */
    EXPECT(cada_f16_to_f32(0x03ff) == 1023 * 0x1p-24f);    /* largest subnormal */
    EXPECT(cada_f16_to_f32(0x8001) == -0x1p-24f);
    EXPECT(f32_bits(cada_f16_to_f32(0x8000)) == 0x80000000u); /* -0 */
    EXPECT(isinf(cada_f16_to_f32(0x7c00)) && cada_f16_to_f32(0x7c00) > 0);
    EXPECT(isinf(cada_f16_to_f32(0xfc00)) && cada_f16_to_f32(0xfc00) < 0);
    EXPECT(isnan(cada_f16_to_f32(0x7e00)) && isnan(cada_f16_to_f32(0x7c01)) && isnan(cada_f16_to_f32(0xfe00)));

    /* Encoding: round to nearest, ties to even; overflow to inf; subnormals. */
    EXPECT(cada_f32_to_f16(1.0f) == 0x3c00);
    EXPECT(cada_f32_to_f16(-0.0f) == 0x8000);
    EXPECT(cada_f32_to_f16(65504.0f) == 0x7bff);
    EXPECT(cada_f32_to_f16(65519.99f) == 0x7bff);          /* below the midpoint to 2^16 */
    EXPECT(cada_f32_to_f16(65520.0f) == 0x7c00);           /* the midpoint: ties to even = inf */
    EXPECT(cada_f32_to_f16(1e10f) == 0x7c00 && cada_f32_to_f16(-1e10f) == 0xfc00);
    EXPECT(cada_f32_to_f16(INFINITY) == 0x7c00 && cada_f32_to_f16(-INFINITY) == 0xfc00);
    uint16_t hn = cada_f32_to_f16(NAN);
    EXPECT((hn & 0x7c00) == 0x7c00 && (hn & 0x03ff) != 0, "0x%04x", hn);
    EXPECT(cada_f32_to_f16(1.0f + 0x1p-11f) == 0x3c00);     /* tie: down to even */
    EXPECT(cada_f32_to_f16(1.0f + 3 * 0x1p-11f) == 0x3c02); /* tie: up to even */
    EXPECT(cada_f32_to_f16(1.0f + 0x1p-11f + 0x1p-20f) == 0x3c01);
    EXPECT(cada_f32_to_f16(0x1p-24f) == 0x0001);
    EXPECT(cada_f32_to_f16(0x1p-25f) == 0x0000);            /* tie between 0 and 1 ulp: 0 */
    EXPECT(cada_f32_to_f16(0x1.8p-25f) == 0x0001);
    EXPECT(cada_f32_to_f16(3 * 0x1p-25f) == 0x0002);        /* 1.5 ulp: tie to even 2 */
    EXPECT(cada_f32_to_f16(5 * 0x1p-25f) == 0x0002);        /* 2.5 ulp: tie to even 2 */
    EXPECT(cada_f32_to_f16(0x1p-14f - 0x1p-25f) == 0x0400); /* rounds up into the normals */
    EXPECT(cada_f32_to_f16(0x1p-30f) == 0x0000 && cada_f32_to_f16(-0x1p-30f) == 0x8000);
    EXPECT(cada_f32_to_f16(0x1p-149f) == 0x0000);           /* f32 subnormal input */

    /* Every f16 value survives f16 -> f32 -> f16 (NaNs stay NaN). */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = cada_f16_to_f32((uint16_t)h);
        uint16_t back = cada_f32_to_f16(f);
        if (isnan(f) ? !((back & 0x7c00) == 0x7c00 && (back & 0x3ff)) : back != h) bad++;
    }
    EXPECT(bad == 0, "%d f16 values did not round-trip", bad);
}

TEST(test_io_dtype_bf16) {
    EXPECT(cada_bf16_to_f32(0x3f80) == 1.0f);
    EXPECT(cada_bf16_to_f32(0xc0a0) == -5.0f);
    EXPECT(cada_f32_to_bf16(1.0f) == 0x3f80);
    EXPECT(cada_f32_to_bf16(bits_f32(0x3f808000u)) == 0x3f80); /* tie: down to even */
    EXPECT(cada_f32_to_bf16(bits_f32(0x3f818000u)) == 0x3f82); /* tie: up to even */
    EXPECT(cada_f32_to_bf16(bits_f32(0x3f808001u)) == 0x3f81); /* above the tie */
    EXPECT(cada_f32_to_bf16(bits_f32(0x3f807fffu)) == 0x3f80); /* below the tie */
    EXPECT(cada_f32_to_bf16(bits_f32(0x7f7fffffu)) == 0x7f80); /* FLT_MAX rounds to inf */
    EXPECT(cada_f32_to_bf16(INFINITY) == 0x7f80 && cada_f32_to_bf16(-INFINITY) == 0xff80);
    EXPECT(cada_f32_to_bf16(NAN) == 0x7fc0);
    EXPECT(cada_f32_to_bf16(bits_f32(0xffc00001u)) == 0xffc0);
    EXPECT(cada_f32_to_bf16(bits_f32(0x7f800001u)) == 0x7fc0); /* signalling NaN stays NaN */
    EXPECT(cada_f32_to_bf16(bits_f32(0x00000001u)) == 0x0000); /* f32 subnormal */
    EXPECT(cada_f32_to_bf16(-0.0f) == 0x8000);
    int bad = 0;
    for (uint32_t b = 0; b < 65536; b++) {
        float f = cada_bf16_to_f32((uint16_t)b);
        if (!isnan(f) && cada_f32_to_bf16(f) != b) bad++;
    }
    EXPECT(bad == 0, "%d bf16 values did not round-trip", bad);
}

TEST(test_io_dtype_convert_buffers) {
    /* Misaligned sources and destinations: conversions must not assume alignment. */
    unsigned char raw[1 + 8 * 5];
    float src[5] = {1.0f, -2.5f, 0x1p-20f, 65504.0f, 3.0f}, out[5];
    cada_convert_from_f32(CADA_DTYPE_F16, src, raw + 1, 5);
    cada_convert_to_f32(CADA_DTYPE_F16, raw + 1, out, 5);
    for (int i = 0; i < 5; i++) EXPECT(out[i] == cada_f16_to_f32(cada_f32_to_f16(src[i])), "%d", i);
    cada_convert_from_f32(CADA_DTYPE_BF16, src, raw + 1, 5);
    cada_convert_to_f32(CADA_DTYPE_BF16, raw + 1, out, 5);
    EXPECT(out[0] == 1.0f && out[1] == -2.5f && out[4] == 3.0f);
    cada_convert_from_f32(CADA_DTYPE_F32, src, raw + 1, 5);
    cada_convert_to_f32(CADA_DTYPE_F32, raw + 1, out, 5);
    EXPECT(memcmp(out, src, sizeof src) == 0);
    int32_t i32[3] = {-7, 0, 1 << 24};
    int64_t i64[2] = {-3, (int64_t)1 << 40};
    memcpy(raw + 1, i32, sizeof i32);
    cada_convert_to_f32(CADA_DTYPE_I32, raw + 1, out, 3);
    EXPECT(out[0] == -7.0f && out[1] == 0.0f && out[2] == 16777216.0f);
    memcpy(raw + 1, i64, sizeof i64);
    cada_convert_to_f32(CADA_DTYPE_I64, raw + 1, out, 2);
    EXPECT(out[0] == -3.0f && out[1] == 0x1p40f);
}

/* ---- 2. safetensors round trips ------------------------------------------------------ */

typedef struct {
    float a[6];      /* F32 (2, 3) */
    uint16_t b[5];   /* F16 (5): 10 bytes, so what follows is not 8-aligned */
    uint16_t c[6];   /* BF16 (3, 2) */
    int32_t d[2];    /* I32 (2) */
    float s;         /* F32 scalar, ndim 0 */
} st_sample;

static void fill_sample(st_sample *x, int variant) {
    for (int i = 0; i < 6; i++) x->a[i] = (float)(i * 1.5 - 2 + variant);
    float fb[5] = {1.0f, -0.5f, 0x1p-24f, 65504.0f, (float)variant};
    cada_convert_from_f32(CADA_DTYPE_F16, fb, x->b, 5);
    float fc[6] = {3.0f, -1e30f, 0.15625f, 1.0f + 0x1p-7f, -2.0f, (float)variant};
    cada_convert_from_f32(CADA_DTYPE_BF16, fc, x->c, 6);
    x->d[0] = -1;
    x->d[1] = 123456 + variant;
    x->s = 42.0f + (float)variant;
}

static int sample_entries(const st_sample *x, cada_st_entry e[5], char names[5][64], const char *prefix) {
    const char *base[5] = {"a.weight", "b.half", "c.brain", "d.int", "s.scalar"};
    for (int i = 0; i < 5; i++) snprintf(names[i], sizeof names[i], "%s%s", prefix, base[i]);
    e[0] = (cada_st_entry){names[0], CADA_DTYPE_F32, 2, {2, 3}, x->a};
    e[1] = (cada_st_entry){names[1], CADA_DTYPE_F16, 1, {5}, x->b};
    e[2] = (cada_st_entry){names[2], CADA_DTYPE_BF16, 2, {3, 2}, x->c};
    e[3] = (cada_st_entry){names[3], CADA_DTYPE_I32, 1, {2}, x->d};
    e[4] = (cada_st_entry){names[4], CADA_DTYPE_F32, 0, {0}, &x->s};
    return 5;
}

/* Checks that st holds the entries e[0..n) with identical bytes, and their f32 values. */
static void check_entries(const cada_safetensors *st, const cada_st_entry *e, int n) {
    for (int i = 0; i < n; i++) {
        const cada_st_tensor *t = cada_safetensors_find(st, e[i].name);
        EXPECT(t != NULL, "tensor %s", e[i].name);
        if (!t) continue;
        EXPECT(t->dtype == e[i].dtype && t->ndim == e[i].ndim, "%s", e[i].name);
        int64_t numel = 1;
        for (int d = 0; d < e[i].ndim; d++) {
            EXPECT(t->shape[d] == e[i].shape[d], "%s dim %d", e[i].name, d);
            numel *= e[i].shape[d];
        }
        EXPECT(t->numel == numel && t->nbytes == (size_t)numel * cada_dtype_size(e[i].dtype), "%s", e[i].name);
        EXPECT(memcmp(t->data, e[i].data, t->nbytes) == 0, "%s bytes", e[i].name);
        float got[8], want[8];
        if (cada_st_tensor_to_f32(st, t, got, numel) != CADA_OK) {
            EXPECT(0, "to_f32 %s: %s", e[i].name, cada_error_message());
            continue;
        }
        cada_convert_to_f32(e[i].dtype, e[i].data, want, (size_t)numel);
        EXPECT(memcmp(got, want, (size_t)numel * 4) == 0, "%s values", e[i].name);
    }
}

TEST(test_io_safetensors_roundtrip) {
    char path[600], tmp[700];
    tmp_path(path, sizeof path, "round.safetensors");
    st_sample x;
    fill_sample(&x, 0);
    cada_st_entry e[5];
    char names[5][64];
    int n = sample_entries(&x, e, names, "");
    REQUIRE_OK(cada_safetensors_write(path, e, n, NULL));
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    EXPECT(access(tmp, F_OK) != 0, "the temporary file was left behind");

    cada_safetensors st;
    REQUIRE_OK(cada_safetensors_open(&st, path));
    EXPECT(st.n_tensors == n && st.n_shards == 1);
    /* Tensors come back in the order written. */
    for (int i = 0; i < st.n_tensors && i < n; i++) EXPECT(strcmp(st.tensors[i].name, e[i].name) == 0);
    check_entries(&st, e, n);
    EXPECT(cada_safetensors_find(&st, "nope") == NULL);
    /* The header: padded to a multiple of 8 with spaces, default metadata. */
    const unsigned char *map = st.shard_maps[0];
    uint64_t hlen;
    memcpy(&hlen, map, 8);
    int header_padded = hlen % 8 == 0 && hlen + 8 <= st.shard_sizes[0];
    EXPECT(header_padded, "header length %llu", (unsigned long long)hlen);
    char *hdr = strndup((const char *)map + 8, (size_t)hlen);
    EXPECT(hdr && strstr(hdr, "\"__metadata__\":{\"format\":\"pt\"}"), "%s", hdr);
    free(hdr);
    /* The first tensor starts 8-aligned; the data section is back to back. */
    int first_aligned = ((const unsigned char *)st.tensors[0].data - map) % 8 == 0;
    EXPECT(first_aligned);
    /* A wrong element count is an error naming the tensor. */
    float dummy[8];
    EXPECT(failed_naming(cada_st_tensor_to_f32(&st, &st.tensors[0], dummy, 5), path, "a.weight", NULL));
    cada_safetensors_close(&st);
    EXPECT(st.n_tensors == 0 && st.tensors == NULL);
    cada_safetensors_close(&st); /* closing twice is harmless */

    /* Custom metadata (strings only), and an escaped tensor name. */
    cada_st_entry odd = {"we\"ird\\name\n", CADA_DTYPE_F32, 1, {2}, x.a};
    REQUIRE_OK(cada_safetensors_write(path, &odd, 1, "{\"format\":\"np\",\"note\":\"x\\\"y\"}"));
    REQUIRE_OK(cada_safetensors_open(&st, path));
    check_entries(&st, &odd, 1);
    cada_safetensors_close(&st);
    EXPECT(cada_safetensors_write(path, &odd, 1, "{\"n\": 1}") != CADA_OK);
    EXPECT(cada_safetensors_write(path, &odd, 1, "[]") != CADA_OK);
    cada_st_entry dup[2] = {e[0], e[0]};
    EXPECT(failed_naming(cada_safetensors_write(path, dup, 2, NULL), path, "a.weight", "twice"));
}

static int write_index(const char *path, const char *json) { return write_file(path, json, strlen(json)); }

TEST(test_io_safetensors_sharded) {
    char dir[600], p1[700], p2[700], idx[700];
    tmp_path(dir, sizeof dir, "sharded");
    REQUIRE(mkdir(dir, 0755) == 0);
    snprintf(p1, sizeof p1, "%s/model-00001-of-00002.safetensors", dir);
    snprintf(p2, sizeof p2, "%s/model-00002-of-00002.safetensors", dir);
    snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", dir);
    st_sample x1, x2;
    fill_sample(&x1, 1);
    fill_sample(&x2, 2);
    cada_st_entry e[10];
    char names[10][64];
    sample_entries(&x1, e, names, "model.layers.0.");
    sample_entries(&x2, e + 5, names + 5, "model.layers.1.");
    REQUIRE_OK(cada_safetensors_write(p1, e, 5, NULL));
    REQUIRE_OK(cada_safetensors_write(p2, e + 5, 5, NULL));
    char json[4096];
    size_t k = (size_t)snprintf(json, sizeof json, "{\"metadata\": {\"total_size\": 1}, \"weight_map\": {");
    for (int i = 0; i < 10; i++)
        k += (size_t)snprintf(json + k, sizeof json - k, "%s\"%s\": \"model-0000%d-of-00002.safetensors\"",
                              i ? ", " : "", e[i].name, i < 5 ? 1 : 2);
    snprintf(json + k, sizeof json - k, "}}\n");
    REQUIRE(write_index(idx, json));

    cada_safetensors st;
    REQUIRE_OK(cada_safetensors_open(&st, dir)); /* by directory */
    EXPECT(st.n_shards == 2 && st.n_tensors == 10);
    check_entries(&st, e, 10);
    const cada_st_tensor *t = cada_safetensors_find(&st, "model.layers.1.d.int");
    EXPECT(t && strstr(st.shard_paths[t->shard], "00002-of-00002"));
    cada_safetensors_close(&st);
    REQUIRE_OK(cada_safetensors_open(&st, idx)); /* by the index itself */
    EXPECT(st.n_shards == 2 && st.n_tensors == 10);
    cada_safetensors_close(&st);

    /* The index puts a tensor in the wrong shard. */
    char bad[700];
    snprintf(bad, sizeof bad, "%s/wrong.index.json", dir);
    REQUIRE(write_index(bad, "{\"weight_map\": {\"model.layers.0.a.weight\": \"model-00002-of-00002.safetensors\"}}"));
    EXPECT(failed_naming(cada_safetensors_open(&st, bad), bad, "model.layers.0.a.weight", NULL));
    /* A shard name that leaves the directory. */
    REQUIRE(write_index(bad, "{\"weight_map\": {\"x\": \"../escape.safetensors\"}}"));
    EXPECT(failed_naming(cada_safetensors_open(&st, bad), bad, "'x'", NULL));
    /* A tensor name in two shards. */
    char dup[700];
    snprintf(dup, sizeof dup, "%s/dup.index.json", dir);
    REQUIRE_OK(cada_safetensors_write(p2, e, 1, NULL)); /* shard 2 now also has layer 0's a */
    REQUIRE(write_index(dup, "{\"weight_map\": {\"model.layers.0.b.half\": \"model-00001-of-00002.safetensors\","
                             " \"model.layers.0.a.weight\": \"model-00002-of-00002.safetensors\"}}"));
    EXPECT(failed_naming(cada_safetensors_open(&st, dup), "model-0000", "model.layers.0.a.weight", "twice"));
}

/* ---- 3. hostile safetensors ---------------------------------------------------------- */

/* Writes u64 header length (hlen, or strlen(json) when hlen is 0) + json + data_len zeros. */
static int write_st_raw(const char *path, uint64_t hlen, const char *json, size_t data_len) {
    size_t jl = strlen(json);
    size_t n = 8 + jl + data_len;
    unsigned char *buf = calloc(1, n);
    if (!buf) return 0;
    uint64_t h = hlen ? hlen : jl;
    memcpy(buf, &h, 8);
    memcpy(buf + 8, json, jl);
    int ok = write_file(path, buf, n);
    free(buf);
    return ok;
}

#define ST_BAD(name_, hlen_, json_, data_len_, needle1_, needle2_)                              \
    do {                                                                                        \
        char p_[600];                                                                           \
        tmp_path(p_, sizeof p_, name_);                                                         \
        REQUIRE(write_st_raw(p_, hlen_, json_, data_len_));                                     \
        cada_safetensors st_;                                                                   \
        cada_status s_ = cada_safetensors_open(&st_, p_);                                       \
        EXPECT(failed_naming(s_, p_, needle1_, needle2_), "case %s", name_);                    \
        if (s_ == CADA_OK) cada_safetensors_close(&st_);                                        \
    } while (0)

TEST(test_io_safetensors_bad_input) {
    char p[600];
    cada_safetensors st;
    /* Shorter than the 8-byte length. */
    tmp_path(p, sizeof p, "tiny.safetensors");
    REQUIRE(write_file(p, "abcd", 4));
    EXPECT(failed_naming(cada_safetensors_open(&st, p), p, "header length", NULL));
    tmp_path(p, sizeof p, "empty.safetensors");
    REQUIRE(write_file(p, "", 0));
    EXPECT(failed_naming(cada_safetensors_open(&st, p), p, "header length", NULL));

    ST_BAD("past_eof.safetensors", 1000, "{}", 0, "header length", "past the end");
    ST_BAD("absurd.safetensors", (uint64_t)1 << 60, "{}", 0, "header length", "cap");
    ST_BAD("malformed.safetensors", 0, "{\"a\": {\"dtype\": \"F32\", ", 0, "JSON", "malformed");
    ST_BAD("notobject.safetensors", 0, "[1, 2]", 0, "JSON", "not an object");
    ST_BAD("trailing.safetensors", 0, "{} x", 0, "after the JSON", NULL);
    ST_BAD("dtype.safetensors", 0, "{\"w\": {\"dtype\": \"F33\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4,
           "'w'", "dtype 'F33'");
    ST_BAD("dtype_f64.safetensors", 0, "{\"w\": {\"dtype\": \"F64\", \"shape\": [1], \"data_offsets\": [0, 8]}}", 8,
           "'w'", "F64");
    ST_BAD("nodtype.safetensors", 0, "{\"w\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "'w'", "dtype");
    ST_BAD("offsets.safetensors", 0, "{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}", 8,
           "'w'", "data_offsets");
    ST_BAD("offsets_huge.safetensors", 0,
           "{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [18446744073709551600, 16]}}", 16,
           "'w'", "data_offsets");
    ST_BAD("offsets_order.safetensors", 0, "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 4]}}", 8,
           "'w'", "data_offsets");
    ST_BAD("offsets_shape.safetensors", 0, "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0]}}", 8,
           "'w'", "data_offsets");
    ST_BAD("overlap.safetensors", 0,
           "{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]},"
           " \"b\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [8, 24]}}",
           24, "'a'", "'b'");
    ST_BAD("shape_size.safetensors", 0, "{\"w\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 16]}}", 16,
           "'w'", "shape");
    ST_BAD("shape_neg.safetensors", 0, "{\"w\": {\"dtype\": \"F32\", \"shape\": [-4], \"data_offsets\": [0, 16]}}", 16,
           "'w'", "shape[0]");
    ST_BAD("shape_frac.safetensors", 0, "{\"w\": {\"dtype\": \"F32\", \"shape\": [1.5], \"data_offsets\": [0, 6]}}", 16,
           "'w'", "shape[0]");
    ST_BAD("shape_overflow.safetensors", 0,
           "{\"w\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296], \"data_offsets\": [0, 16]}}", 16, "'w'",
           "overflow");
    ST_BAD("shape_ndim.safetensors", 0,
           "{\"w\": {\"dtype\": \"F32\", \"shape\": [1,1,1,1,1,1,1,1,1], \"data_offsets\": [0, 4]}}", 4, "'w'", "dims");
    ST_BAD("duplicate.safetensors", 0,
           "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
           " \"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}",
           8, "'w'", "twice");
    ST_BAD("metadata.safetensors", 0, "{\"__metadata__\": 5}", 0, "__metadata__", NULL);

    /* An index naming a shard that is not there. */
    char dir[600], idx[700];
    tmp_path(dir, sizeof dir, "missing_shard");
    REQUIRE(mkdir(dir, 0755) == 0);
    snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", dir);
    REQUIRE(write_index(idx, "{\"weight_map\": {\"x.weight\": \"model-00009-of-00009.safetensors\"}}"));
    EXPECT(failed_naming(cada_safetensors_open(&st, dir), idx, "x.weight", "model-00009-of-00009.safetensors"));
    REQUIRE(write_index(idx, "{\"weight_map\": [1]}"));
    EXPECT(failed_naming(cada_safetensors_open(&st, dir), idx, "weight_map", NULL));
    REQUIRE(write_index(idx, "{\"weight_map\": "));
    EXPECT(failed_naming(cada_safetensors_open(&st, dir), idx, "JSON", NULL));
    /* A directory with neither file; a path that does not exist. */
    tmp_path(dir, sizeof dir, "no_model");
    REQUIRE(mkdir(dir, 0755) == 0);
    EXPECT(failed_naming(cada_safetensors_open(&st, dir), dir, "model.safetensors", NULL));
    tmp_path(p, sizeof p, "does-not-exist.safetensors");
    EXPECT(failed_naming(cada_safetensors_open(&st, p), p, NULL, NULL));
    EXPECT(st.n_tensors == 0 && st.tensors == NULL && st.shard_maps == NULL);
}

/* ---- 4. the real SmolLM2 GGUF ---------------------------------------------------------- */

static int all_finite(const float *x, uint64_t n, double *max_abs, double *sum) {
    double m = 0, s = 0;
    int ok = 1;
    for (uint64_t i = 0; i < n; i++) {
        if (!isfinite(x[i])) ok = 0;
        double a = fabs((double)x[i]);
        if (a > m) m = a;
        s += (double)x[i];
    }
    *max_abs = m;
    *sum = s;
    return ok;
}

TEST(test_io_gguf_smollm2) {
    const char *path = cada_test_smollm2_path();
    REQUIRE(access(path, R_OK) == 0, "%s is missing: run tests/fetch_models.sh", path);
    cada_gguf g;
    REQUIRE_OK(cada_gguf_open(&g, path));
    EXPECT(g.version == 3 && g.n_tensors == 272 && g.alignment == 32);
    uint64_t v = 0;
    EXPECT(cada_gguf_get_u64(&g, "llama.block_count", &v) == CADA_OK && v == 30);
    EXPECT(cada_gguf_get_u64(&g, "llama.embedding_length", &v) == CADA_OK && v == 576);
    EXPECT(cada_gguf_get_u64(&g, "llama.attention.head_count_kv", &v) == CADA_OK && v == 3);
    double f = 0;
    EXPECT(cada_gguf_get_f64(&g, "llama.rope.freq_base", &f) == CADA_OK && f == 100000.0);
    EXPECT(cada_gguf_get_f64(&g, "llama.attention.layer_norm_rms_epsilon", &f) == CADA_OK && f == (double)1e-5f);
    char *s = NULL;
    EXPECT(cada_gguf_get_string(&g, "general.architecture", &s) == CADA_OK && s && strcmp(s, "llama") == 0);
    free(s);
    EXPECT(failed_naming(cada_gguf_get_u64(&g, "general.architecture", &v), path, "general.architecture", "string"));
    EXPECT(failed_naming(cada_gguf_get_string(&g, "llama.block_count", &s), path, "llama.block_count", NULL));
    EXPECT(failed_naming(cada_gguf_get_u64(&g, "no.such.key", &v), path, "no.such.key", "missing"));

    const cada_gguf_kv *tok = cada_gguf_find(&g, "tokenizer.ggml.tokens");
    REQUIRE(tok != NULL);
    EXPECT(tok->type == CADA_GGUF_ARRAY && tok->arr_type == CADA_GGUF_STRING && tok->arr_len == 49152);
    EXPECT(tok->arr_strs && tok->arr_strs[0].len == 13 && memcmp(tok->arr_strs[0].str, "<|endoftext|>", 13) == 0);
    EXPECT(tok->arr_strs && tok->arr_strs[49151].len == 7 && memcmp(tok->arr_strs[49151].str, "ectable", 7) == 0);
    const cada_gguf_kv *tt = cada_gguf_find(&g, "tokenizer.ggml.token_type");
    EXPECT(tt && tt->arr_type == CADA_GGUF_INT32 && tt->arr_len == 49152 && tt->arr_data);

    const cada_gguf_tensor *emb = cada_gguf_find_tensor(&g, "token_embd.weight");
    REQUIRE(emb != NULL);
    EXPECT(emb->ggml_type == CADA_GGML_Q8_0 && emb->ndim == 2 && emb->dims[0] == 576 && emb->dims[1] == 49152);
    EXPECT(emb->nbytes == 576ull * 49152 / 32 * 34);
    const cada_gguf_tensor *q = cada_gguf_find_tensor(&g, "blk.0.attn_q.weight");
    REQUIRE(q != NULL);
    EXPECT(q->ggml_type == CADA_GGML_Q4_1 && strcmp(cada_ggml_type_name(q->ggml_type), "Q4_1") == 0);
    EXPECT(q->dims[0] == 576 && q->dims[1] == 576);
    const cada_gguf_tensor *norm = cada_gguf_find_tensor(&g, "blk.0.attn_norm.weight");
    REQUIRE(norm != NULL && norm->ggml_type == CADA_GGML_F32 && norm->ndim == 1);

    /* Spot values (exact) and sums from gguf-py's dequantize on this file. */
    float *x = malloc(emb->numel * sizeof *x);
    REQUIRE(x != NULL);
    double max_abs, sum;
    double t0 = cada_now();
    cada_status st = cada_gguf_tensor_to_f32(&g, emb, x, emb->numel);
    double dt = cada_now() - t0;
    EXPECT(st == CADA_OK, "%s", cada_error_message());
    EXPECT(all_finite(x, emb->numel, &max_abs, &sum) && max_abs > 0.5 && max_abs < 10);
    EXPECT(x[0] == -0x1.b468p-4f && x[1] == 0x1.0e28p-5f && x[17] == 0x1.56e4p-4f && x[1000] == 0x1.e5cp-8f);
    EXPECT(x[emb->numel - 1] == -0x1.55ap-5f);
    EXPECT(fabs(sum - -15353.04449415207) < 1e-3, "sum %.9g", sum);
    fprintf(stderr, "    token_embd.weight (Q8_0, %llu values): %.1f ms\n", (unsigned long long)emb->numel, dt * 1e3);
    EXPECT(cada_gguf_tensor_to_f32(&g, q, x, q->numel) == CADA_OK);
    EXPECT(all_finite(x, q->numel, &max_abs, &sum) && max_abs > 0.5 && max_abs < 20);
    EXPECT(x[0] == -0x1.8a8p-4f && x[1] == 0x1.424p-3f && x[17] == 0x1.23p-2f && x[1000] == -0x1.1b8p-3f);
    EXPECT(x[q->numel - 1] == -0x1.06p-2f);
    EXPECT(fabs(sum - 59.22322082519531) < 1e-3, "sum %.9g", sum);
    EXPECT(cada_gguf_tensor_to_f32(&g, norm, x, norm->numel) == CADA_OK);
    EXPECT(all_finite(x, norm->numel, &max_abs, &sum) && max_abs > 0.01 && max_abs < 10);
    EXPECT(failed_naming(cada_gguf_tensor_to_f32(&g, norm, x, norm->numel + 1), path, "blk.0.attn_norm.weight", NULL));
    free(x);

    /* Every tensor dequantises; time the whole file. */
    uint64_t total = 0, most = 0;
    for (uint64_t i = 0; i < g.n_tensors; i++) {
        total += g.tensors[i].numel;
        if (g.tensors[i].numel > most) most = g.tensors[i].numel;
    }
    x = malloc(most * sizeof *x);
    REQUIRE(x != NULL);
    t0 = cada_now();
    int bad = 0;
    for (uint64_t i = 0; i < g.n_tensors; i++)
        if (cada_gguf_tensor_to_f32(&g, &g.tensors[i], x, g.tensors[i].numel) != CADA_OK || !isfinite(x[0])) bad++;
    dt = cada_now() - t0;
    EXPECT(bad == 0, "%d tensors failed", bad);
    fprintf(stderr, "    all %llu tensors (%llu values, %zu MB file): %.1f ms\n", (unsigned long long)g.n_tensors,
            (unsigned long long)total, g.size >> 20, dt * 1e3);
    free(x);
    cada_gguf_close(&g);
    EXPECT(g.map == NULL && g.tensors == NULL);
}

/* ---- 6. exactness against gguf-py ------------------------------------------------------ */

TEST(test_io_gguf_golden_gguf_py) {
    char gguf_path[1024], gold_path[1024];
    snprintf(gguf_path, sizeof gguf_path, "%s/tests/ref/golden/gguf_types.gguf", cada_test_root());
    snprintf(gold_path, sizeof gold_path, "%s/tests/ref/golden/gguf_types.gold", cada_test_root());
    golden_file gold;
    REQUIRE_OK(golden_load(&gold, gold_path));
    cada_gguf g;
    cada_status st = cada_gguf_open(&g, gguf_path);
    if (st != CADA_OK) golden_free(&gold);
    REQUIRE_OK(st);
    EXPECT(g.version == 3 && g.alignment == 64 && g.n_tensors == 6);

    /* kvs of each kind, as gguf-py wrote them. */
    uint64_t u = 0;
    double f = 0;
    char *s = NULL;
    EXPECT(cada_gguf_get_u64(&g, "cadatest.u32", &u) == CADA_OK && u == 576);
    EXPECT(failed_naming(cada_gguf_get_u64(&g, "cadatest.i32", &u), gguf_path, "cadatest.i32", "negative"));
    EXPECT(cada_gguf_get_f64(&g, "cadatest.i32", &f) == CADA_OK && f == -5.0);
    EXPECT(cada_gguf_get_f64(&g, "cadatest.f32", &f) == CADA_OK && f == 0.5);
    const cada_gguf_kv *b = cada_gguf_find(&g, "cadatest.bool");
    EXPECT(b && b->type == CADA_GGUF_BOOL && b->v.u64 == 1);
    EXPECT(cada_gguf_get_string(&g, "cadatest.str", &s) == CADA_OK && s && strcmp(s, "h\xc3\xa9llo") == 0);
    free(s);
    const cada_gguf_kv *strs = cada_gguf_find(&g, "cadatest.strs");
    EXPECT(strs && strs->arr_type == CADA_GGUF_STRING && strs->arr_len == 3 && strs->arr_strs[1].len == 2 &&
           memcmp(strs->arr_strs[1].str, "bc", 2) == 0 && strs->arr_strs[2].len == 0);
    const cada_gguf_kv *ints = cada_gguf_find(&g, "cadatest.ints");
    EXPECT(ints && ints->arr_type == CADA_GGUF_INT32 && ints->arr_len == 3);
    if (ints && ints->arr_data) {
        int32_t iv[3];
        memcpy(iv, ints->arr_data, sizeof iv);
        EXPECT(iv[0] == 1 && iv[1] == 2 && iv[2] == 3);
    }

    /* Bit-exact comparison is right here: gguf-py dequantises in float32 with the same
     * formulas (Q8_0: x*d; Q4_0: d*(q-8); Q4_1: (d*q)+m; F16/BF16 widening is exact).
     * The products are exact (an f16 scale has 11 significant bits, a quant at most 8,
     * so 19 bits fit in float32's 24), leaving at most one rounding, the add of Q4_1,
     * which is the same with or without FMA contraction. So a correct implementation
     * gives identical bits, and any difference means a wrong nibble order, scale, offset
     * or block layout. */
    const char *names[] = {"t_f32", "t_f16", "t_bf16", "t_q8_0", "t_q4_0", "t_q4_1"};
    const uint32_t types[] = {CADA_GGML_F32, CADA_GGML_F16, CADA_GGML_BF16, CADA_GGML_Q8_0, CADA_GGML_Q4_0,
                              CADA_GGML_Q4_1};
    const golden_tensor *src = golden_find(&gold, "source");
    EXPECT(src && src->numel == 6 * 64 && src->dtype == 0);
    for (int i = 0; i < 6; i++) {
        const cada_gguf_tensor *t = cada_gguf_find_tensor(&g, names[i]);
        const golden_tensor *want = golden_find(&gold, names[i]);
        EXPECT(t && want, "%s", names[i]);
        if (!t || !want) continue;
        EXPECT(t->ggml_type == types[i] && t->ndim == 2 && t->dims[0] == 64 && t->dims[1] == 6, "%s", names[i]);
        EXPECT(want->numel == (int64_t)t->numel && want->dtype == 0, "%s", names[i]);
        float got[6 * 64];
        if (want->numel != 6 * 64 || cada_gguf_tensor_to_f32(&g, t, got, t->numel) != CADA_OK) {
            EXPECT(0, "%s: %s", names[i], cada_error_message());
            continue;
        }
        int diff = 0, first = -1;
        for (int j = 0; j < 6 * 64; j++)
            if (f32_bits(got[j]) != f32_bits(((const float *)want->data)[j])) {
                if (first < 0) first = j;
                diff++;
            }
        EXPECT(diff == 0, "%s: %d values differ from gguf-py, first at %d (got %.9g want %.9g)", names[i], diff,
               first, first >= 0 ? got[first] : 0.0, first >= 0 ? ((const float *)want->data)[first] : 0.0);
    }
    /* Our f32 -> f16 / bf16 rounding agrees with numpy's astype(float16) and gguf-py's
     * BF16 quantiser on the same source (ties and f16 subnormals included). */
    const cada_gguf_tensor *h = cada_gguf_find_tensor(&g, "t_f16");
    const cada_gguf_tensor *bf = cada_gguf_find_tensor(&g, "t_bf16");
    if (src && src->numel == 6 * 64 && h && bf) {
        int bad16 = 0, badbf = 0;
        for (int j = 0; j < 6 * 64; j++) {
            uint16_t hv, bv;
            memcpy(&hv, (const unsigned char *)h->data + 2 * j, 2);
            memcpy(&bv, (const unsigned char *)bf->data + 2 * j, 2);
            float x = ((const float *)src->data)[j];
            if (cada_f32_to_f16(x) != hv) bad16++;
            if (cada_f32_to_bf16(x) != bv) badbf++;
        }
        EXPECT(bad16 == 0 && badbf == 0, "f16 mismatches %d, bf16 mismatches %d", bad16, badbf);
    }
    cada_gguf_close(&g);
    golden_free(&gold);
}

/* ---- 5. hostile GGUF files ---------------------------------------------------------- */

typedef struct {
    unsigned char *p;
    size_t len, cap;
    size_t info_end; /* where the tensor info ends (build_gguf) */
} bbuf;

static void bput(bbuf *b, const void *p, size_t n) {
    if (b->len + n > b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 1024;
        while (nc < b->len + n) nc *= 2;
        unsigned char *np = realloc(b->p, nc);
        if (!np) abort();
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}
static void bput_u32(bbuf *b, uint32_t v) { bput(b, &v, 4); }
static void bput_u64(bbuf *b, uint64_t v) { bput(b, &v, 8); }
static void bput_str(bbuf *b, const char *s, uint64_t len_override) {
    bput_u64(b, len_override ? len_override : strlen(s));
    bput(b, s, strlen(s));
}

/* A small valid GGUF v3, and the fields each bad case changes. */
typedef struct {
    const char *magic;
    uint32_t version;
    uint64_t n_tensors, n_kv;
    uint64_t arch_len;    /* string length written for general.architecture (0: true) */
    uint64_t tokens_len;  /* array length written for tokenizer.ggml.tokens (0: true) */
    uint32_t alignment;
    int dup_key;
    uint32_t n_dims;
    uint64_t dims[5];
    uint32_t type;
    uint64_t offset;
    size_t data_bytes;
    size_t truncate;      /* keep only this many bytes (0: all) */
} gguf_spec;

static gguf_spec good_spec(void) {
    gguf_spec s = {"GGUF", 3, 1, 4, 0, 0, 32, 0, 2, {32, 2, 1, 1, 1}, CADA_GGML_Q8_0, 0, 2 * 34, 0};
    return s;
}

static void build_gguf(bbuf *b, const gguf_spec *s) {
    b->len = 0;
    bput(b, s->magic, 4);
    bput_u32(b, s->version);
    bput_u64(b, s->n_tensors);
    bput_u64(b, s->n_kv);
    bput_str(b, "general.architecture", 0);
    bput_u32(b, CADA_GGUF_STRING);
    bput_str(b, "test", s->arch_len);
    bput_str(b, s->dup_key ? "general.architecture" : "general.alignment", 0);
    bput_u32(b, CADA_GGUF_UINT32);
    bput_u32(b, s->alignment);
    bput_str(b, "tokenizer.ggml.tokens", 0);
    bput_u32(b, CADA_GGUF_ARRAY);
    bput_u32(b, CADA_GGUF_STRING);
    bput_u64(b, s->tokens_len ? s->tokens_len : 2);
    bput_str(b, "<s>", 0);
    bput_str(b, "hi", 0);
    bput_str(b, "llama.block_count", 0);
    bput_u32(b, CADA_GGUF_INT32);
    bput_u32(b, 30);
    bput_str(b, "w", 0);
    bput_u32(b, s->n_dims);
    for (uint32_t d = 0; d < s->n_dims && d < 5; d++) bput_u64(b, s->dims[d]);
    bput_u32(b, s->type);
    bput_u64(b, s->offset);
    b->info_end = b->len;
    static const unsigned char zeros[64];
    size_t align = s->alignment && !(s->alignment & (s->alignment - 1)) && s->alignment <= 64 ? s->alignment : 32;
    bput(b, zeros, (align - b->len % align) % align);
    /* Q8_0 blocks: d = 0.5 (f16 0x3800), q = j - 16, so element j is (j - 16) / 2. */
    for (size_t i = 0; i < s->data_bytes; i++) {
        size_t k = i % 34;
        unsigned char v = k == 0 ? 0x00 : k == 1 ? 0x38 : (unsigned char)(int8_t)((int)k - 2 - 16);
        bput(b, &v, 1);
    }
    if (s->truncate && s->truncate < b->len) b->len = s->truncate;
}

/* Builds spec into a file named name and opens it; returns the status (closes on OK). */
static cada_status open_spec(const gguf_spec *s, const char *name, char *path, size_t pn) {
    bbuf b = {0};
    build_gguf(&b, s);
    tmp_path(path, pn, name);
    int ok = write_file(path, b.p, b.len);
    free(b.p);
    if (!ok) return CADA_ERR(CADA_ERR_IO, "%s: cannot write", path);
    cada_gguf g;
    cada_status st = cada_gguf_open(&g, path);
    if (st == CADA_OK) cada_gguf_close(&g);
    return st;
}

#define GGUF_BAD(spec_, name_, n1_, n2_)                                                        \
    do {                                                                                        \
        char p_[600];                                                                           \
        cada_status s_ = open_spec(&(spec_), name_, p_, sizeof p_);                             \
        EXPECT(failed_naming(s_, p_, n1_, n2_), "case %s", name_);                              \
    } while (0)

TEST(test_io_gguf_built_good) {
    gguf_spec s = good_spec();
    char path[600];
    REQUIRE_OK(open_spec(&s, "good.gguf", path, sizeof path));
    cada_gguf g;
    REQUIRE_OK(cada_gguf_open(&g, path));
    uint64_t v = 0;
    EXPECT(cada_gguf_get_u64(&g, "llama.block_count", &v) == CADA_OK && v == 30); /* int32 accepted */
    const cada_gguf_tensor *t = cada_gguf_find_tensor(&g, "w");
    REQUIRE(t != NULL);
    float x[64];
    REQUIRE_OK(cada_gguf_tensor_to_f32(&g, t, x, 64));
    int bad = 0;
    for (int j = 0; j < 64; j++) bad += x[j] != (float)((j % 32) - 16) * 0.5f;
    EXPECT(bad == 0);
    cada_gguf_close(&g);
    /* Version 2 has the same layout. */
    s.version = 2;
    EXPECT(open_spec(&s, "good_v2.gguf", path, sizeof path) == CADA_OK, "%s", cada_error_message());
}

TEST(test_io_gguf_bad_input) {
    gguf_spec s;
    s = good_spec(); s.magic = "GGML";
    GGUF_BAD(s, "magic.gguf", "magic", NULL);
    s = good_spec(); s.version = 4;
    GGUF_BAD(s, "version4.gguf", "version 4", NULL);
    s = good_spec(); s.version = 1;
    GGUF_BAD(s, "version1.gguf", "version 1", NULL);
    s = good_spec(); s.version = 0x03000000; /* a big-endian file */
    GGUF_BAD(s, "version_be.gguf", "version", NULL);
    s = good_spec(); s.n_tensors = (uint64_t)1 << 40;
    GGUF_BAD(s, "ntensors.gguf", "tensor count", NULL);
    s = good_spec(); s.n_tensors = 1000; /* below the cap, but cannot fit in the file */
    GGUF_BAD(s, "ntensors_fit.gguf", "tensor count", NULL);
    s = good_spec(); s.n_kv = UINT64_MAX;
    GGUF_BAD(s, "nkv.gguf", "kv count", NULL);
    s = good_spec(); s.n_kv = 100;
    GGUF_BAD(s, "nkv_fit.gguf", "kv count", NULL);
    s = good_spec(); s.arch_len = (uint64_t)1 << 40;
    GGUF_BAD(s, "strlen.gguf", "general.architecture", "string length");
    s = good_spec(); s.arch_len = UINT64_MAX;
    GGUF_BAD(s, "strlen_max.gguf", "general.architecture", "string length");
    s = good_spec(); s.tokens_len = (uint64_t)1 << 60;
    GGUF_BAD(s, "arrlen.gguf", "tokenizer.ggml.tokens", "array length");
    s = good_spec(); s.tokens_len = 3; /* one more string than present: runs into the next key */
    GGUF_BAD(s, "arrlen3.gguf", NULL, NULL); /* fails at a later key: its bytes were eaten */
    s = good_spec(); s.dup_key = 1;
    GGUF_BAD(s, "dupkey.gguf", "general.architecture", "twice");
    s = good_spec(); s.alignment = 48;
    GGUF_BAD(s, "align.gguf", "general.alignment", "power of two");
    s = good_spec(); s.alignment = 0;
    GGUF_BAD(s, "align0.gguf", "general.alignment", NULL);
    s = good_spec(); s.n_dims = 0;
    GGUF_BAD(s, "ndims0.gguf", "'w'", "n_dims 0");
    s = good_spec(); s.n_dims = 5;
    GGUF_BAD(s, "ndims5.gguf", "'w'", "n_dims 5");
    s = good_spec(); s.n_dims = 4; s.dims[0] = 32; s.dims[1] = 1u << 30; s.dims[2] = 1u << 30; s.dims[3] = 1u << 30;
    GGUF_BAD(s, "dims_overflow.gguf", "'w'", "overflow");
    s = good_spec(); s.dims[0] = 33;
    GGUF_BAD(s, "dims_block.gguf", "'w'", "block size");
    s = good_spec(); s.type = 99;
    GGUF_BAD(s, "type99.gguf", "'w'", "ggml type 99");
    s = good_spec(); s.offset = (uint64_t)1 << 20;
    GGUF_BAD(s, "offset.gguf", "'w'", "past the end");
    s = good_spec(); s.offset = UINT64_MAX - 31;
    GGUF_BAD(s, "offset_max.gguf", "'w'", "past the end");
    s = good_spec(); s.offset = 4;
    GGUF_BAD(s, "offset_align.gguf", "'w'", "alignment");
    s = good_spec(); s.data_bytes = 34; /* the second block is missing */
    GGUF_BAD(s, "data_short.gguf", "'w'", "past the end");

    /* Truncations: inside the header, a key, the tensor info, and the data. */
    bbuf b = {0};
    s = good_spec();
    build_gguf(&b, &s);
    size_t full = b.len, info_end = b.info_end;
    free(b.p);
    size_t cuts[] = {0, 3, 10, 30, 40, 60, 100, info_end - 5, info_end + 1, full - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        s = good_spec();
        s.truncate = cuts[i] ? cuts[i] : 1;
        char name[64];
        snprintf(name, sizeof name, "trunc%zu.gguf", s.truncate);
        GGUF_BAD(s, name, NULL, NULL);
    }
    s = good_spec(); s.truncate = 10;
    GGUF_BAD(s, "trunc_small.gguf", "too short", NULL);
    s = good_spec(); s.truncate = info_end - 5; /* inside the tensor info's offset */
    GGUF_BAD(s, "trunc_info.gguf", "'w'", "end of the file");

    /* A known but unsupported type opens, and fails by name when dequantised. */
    s = good_spec(); s.type = 14; s.dims[0] = 256; s.dims[1] = 1; s.data_bytes = 210;
    char path[600];
    REQUIRE_OK(open_spec(&s, "q6k.gguf", path, sizeof path));
    cada_gguf g;
    REQUIRE_OK(cada_gguf_open(&g, path));
    const cada_gguf_tensor *t = cada_gguf_find_tensor(&g, "w");
    REQUIRE(t != NULL);
    float x[256];
    cada_status st = cada_gguf_tensor_to_f32(&g, t, x, 256);
    EXPECT(st == CADA_ERR_UNSUPPORTED && failed_naming(st, path, "'w'", "Q6_K"));
    cada_gguf_close(&g);

    /* Not a file at all. */
    tmp_path(path, sizeof path, "no-such.gguf");
    EXPECT(failed_naming(cada_gguf_open(&g, path), path, NULL, NULL));
    EXPECT(g.map == NULL && g.kv == NULL && g.path == NULL);
}
