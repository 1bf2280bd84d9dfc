/* model/infer_weights.c: see infer_weights.h. */
#include "model/infer_weights.h"

#include "base/log.h"
#include "ops/gemm_bf16.h"

#include <stdlib.h>
#include <string.h>

/* Each packed matrix's shape: per layer qkv (QKV, C), o (C, HD), gu (2I, C), down (C, I),
 * then the LM head (V, C). */
static void shapes(const cada_model_config *c, int oc[5], int in[5]) {
    const int C = c->hidden_size, I = c->intermediate_size, HD = c->n_heads * c->head_dim;
    oc[0] = HD + 2 * c->n_kv_heads * c->head_dim, in[0] = C;
    oc[1] = C, in[1] = HD;
    oc[2] = 2 * I, in[2] = C;
    oc[3] = C, in[3] = I;
    oc[4] = c->vocab_size, in[4] = C;
}

/* bf16 elements of each matrix's panels (ops/gemm_bf16.h: rows padded to 16, columns to 2). */
static void sizes(const cada_model_config *c, size_t sz[5]) {
    int oc[5], in[5];
    shapes(c, oc, in);
    for (int k = 0; k < 5; k++) sz[k] = bf16_panels_elems(oc[k], in[k]);
}

size_t cada_infer_weights_bytes(const cada_model_config *c) {
    size_t sz[5];
    sizes(c, sz);
    return sizeof(uint16_t) * ((sz[0] + sz[1] + sz[2] + sz[3]) * (size_t)c->n_layers + sz[4]);
}

/* Region q of 4 L + 1 (per layer qkv, o, gu, down; then the LM head): the matrix of
 * rows x cols = n fp32 values at m->params + src, packed to dst. */
typedef struct {
    size_t src, n;
    int rows, cols;
    uint16_t *dst;
} region_t;
static region_t region(const cada_model *m, int q);

cada_status cada_infer_weights_alloc(cada_model *m) {
    const cada_model_config *c = &m->cfg;
    size_t sz[5];
    sizes(c, sz);
    cada_infer_weights *b = m->bf16;
    if (!b) { /* one allocation: this header, then the matrices from a 64-byte boundary */
        const size_t bytes = cada_infer_weights_bytes(c), hdr = (sizeof *b + 63) / 64 * 64;
        const size_t huge = (size_t)2 << 20; /* 2 MiB-aligned, so huge pages can back all of it */
        b = aligned_alloc(huge, (hdr + bytes + huge - 1) / huge * huge);
        if (!b) return CADA_ERR(CADA_ERR_NOMEM, "bf16 inference weights (%.1f MB)", bytes / 1e6);
        cada_advise_huge_pages(b, hdr + bytes);
        b->bytes = bytes;
        b->buf = (uint16_t *)((char *)b + hdr);
        b->layer_stride = sz[0] + sz[1] + sz[2] + sz[3];
        b->qkv = b->buf;
        b->o = b->qkv + sz[0];
        b->gu = b->o + sz[1];
        b->down = b->gu + sz[2];
        b->lm_head = b->buf + b->layer_stride * (size_t)c->n_layers;
        b->version = -1;
        m->bf16 = b;
    }
    return CADA_OK;
}

/* Packs every matrix; release: each one's fp32 pages returned right after it is packed
 * (cada_infer_weights_release_fp32), so the two copies never coexist whole. */
static cada_status pack_all(cada_model *m, long long version, int release) {
    cada_cpu_kernels k;
    CADA_TRY(cada_cpu_kernels_active(&k));
    CADA_TRY(cada_infer_weights_alloc(m));
    const cada_model_config *c = &m->cfg;
    cada_infer_weights *b = m->bf16;
    double t0 = cada_now();
    for (int q = 0; q <= 4 * c->n_layers; q++) {
        const region_t r = region(m, q);
        bf16_pack_panels(r.dst, m->params + r.src, r.rows, r.cols, 0, r.n);
        if (release) cada_infer_weights_release_fp32(m, r.src, r.n);
    }
    b->version = version;
    CADA_DEBUG("bf16 inference weights: %.1f MB packed (policy version %lld) in %.3f s; kernels %s", b->bytes / 1e6, version,
               cada_now() - t0, cada_cpu_kernels_name(k));
    return CADA_OK;
}

static region_t region(const cada_model *m, int q) {
    int oc[5], in[5];
    shapes(&m->cfg, oc, in);
    const cada_params *p = &m->p;
    const cada_infer_weights *b = m->bf16;
    if (q == 4 * m->cfg.n_layers) return (region_t){(size_t)(p->lm_head - m->params), (size_t)oc[4] * in[4], oc[4], in[4], b->lm_head};
    const int l = q / 4, k = q % 4;
    const float *f[4] = {CADA_LAYER(p, qkv_w, l), CADA_LAYER(p, o_w, l), CADA_LAYER(p, gu_w, l), CADA_LAYER(p, down_w, l)};
    uint16_t *d[4] = {CADA_BF16_LAYER(b, qkv, l), CADA_BF16_LAYER(b, o, l), CADA_BF16_LAYER(b, gu, l), CADA_BF16_LAYER(b, down, l)};
    return (region_t){(size_t)(f[k] - m->params), (size_t)oc[k] * in[k], oc[k], in[k], d[k]};
}

size_t cada_infer_weights_released_floats(const cada_model_config *c) {
    int oc[5], in[5];
    shapes(c, oc, in);
    size_t n = (size_t)c->n_layers * ((size_t)oc[0] * in[0] + (size_t)oc[1] * in[1] + (size_t)oc[2] * in[2] + (size_t)oc[3] * in[3]);
    return n + (c->tie_embeddings ? 0 : (size_t)oc[4] * in[4]);
}

cada_status cada_infer_weights_pack_range(cada_model *m, size_t off, size_t n) {
    if (!m->bf16) return CADA_ERR(CADA_ERR_INTERNAL, "bf16 inference weights: a range packed before the copy exists");
    for (int q = 0; q <= 4 * m->cfg.n_layers; q++) {
        const region_t r = region(m, q);
        const size_t lo = r.src > off ? r.src : off, hi = r.src + r.n < off + n ? r.src + r.n : off + n;
        if (lo < hi) bf16_pack_panels(r.dst, m->params + r.src, r.rows, r.cols, lo - r.src, hi - r.src);
    }
    return CADA_OK;
}

void cada_infer_weights_release_fp32(cada_model *m, size_t off, size_t n) {
    if (!m->bf16) return;
    for (int q = 0; q <= 4 * m->cfg.n_layers; q++) {
        const region_t r = region(m, q);
        if (m->p.lm_head == m->p.embed && q == 4 * m->cfg.n_layers) continue; /* tied: the embedding lookup reads it */
        const size_t lo = r.src > off ? r.src : off, hi = r.src + r.n < off + n ? r.src + r.n : off + n;
        if (lo < hi) cada_release_pages(m->params + lo, sizeof(float) * (hi - lo));
    }
}

cada_status cada_infer_weights_pack(cada_model *m, long long version) { return pack_all(m, version, 0); }

cada_status cada_infer_weights_pack_and_release(cada_model *m, long long version) { return pack_all(m, version, 1); }

cada_status cada_infer_weights_refresh(cada_model *m, long long version) {
    if (m->bf16 && m->bf16->version == version) return CADA_OK;
    return cada_infer_weights_pack(m, version);
}

void cada_infer_weights_drop(cada_model *m) {
    free(m->bf16); /* buf lies inside the same allocation */
    m->bf16 = NULL;
}
