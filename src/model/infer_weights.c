/* model/infer_weights.c: see infer_weights.h. */
#include "model/infer_weights.h"

#include "base/log.h"
#include "ops/gemm_bf16.h"

#include <stdlib.h>
#include <string.h>

/* Elements of each layer's matrices and of the LM head. */
static void sizes(const cada_model_config *c, size_t *qkv, size_t *o, size_t *gu, size_t *down, size_t *head) {
    const size_t C = (size_t)c->hidden_size, I = (size_t)c->intermediate_size, HD = (size_t)c->n_heads * c->head_dim;
    *qkv = (HD + 2 * (size_t)c->n_kv_heads * c->head_dim) * C;
    *o = C * HD;
    *gu = 2 * I * C;
    *down = C * I;
    *head = (size_t)c->vocab_size * C;
}

size_t cada_infer_weights_bytes(const cada_model_config *c) {
    size_t qkv, o, gu, down, head;
    sizes(c, &qkv, &o, &gu, &down, &head);
    return sizeof(uint16_t) * ((qkv + o + gu + down) * (size_t)c->n_layers + head);
}

/* n floats to bf16, split over the threads (a 135M-parameter model is 540 MB to read). */
static void pack_range(uint16_t *dst, const float *src, size_t n) {
    const size_t chunk = (size_t)1 << 16;
    const long long chunks = (long long)((n + chunk - 1) / chunk);
#pragma omp parallel for schedule(static)
    for (long long k = 0; k < chunks; k++) {
        size_t at = (size_t)k * chunk;
        bf16_pack(dst + at, src + at, n - at < chunk ? n - at : chunk);
    }
}

static void region(const cada_model *m, int q, size_t *src, size_t *n, uint16_t **dst);

/* Packs every matrix; release: each one's fp32 pages returned right after it is packed
 * (cada_infer_weights_release_fp32), so the two copies never coexist whole. */
static cada_status pack_all(cada_model *m, long long version, int release) {
    cada_cpu_kernels k;
    CADA_TRY(cada_cpu_kernels_active(&k));
    const cada_model_config *c = &m->cfg;
    size_t qkv, o, gu, down, head;
    sizes(c, &qkv, &o, &gu, &down, &head);
    cada_infer_weights *b = m->bf16;
    if (!b) { /* one allocation: this header, then the matrices from a 64-byte boundary */
        const size_t bytes = cada_infer_weights_bytes(c), hdr = (sizeof *b + 63) / 64 * 64;
        const size_t huge = (size_t)2 << 20; /* 2 MiB-aligned, so huge pages can back all of it */
        b = aligned_alloc(huge, (hdr + bytes + huge - 1) / huge * huge);
        if (!b) return CADA_ERR(CADA_ERR_NOMEM, "bf16 inference weights (%.1f MB)", bytes / 1e6);
        cada_advise_huge_pages(b, hdr + bytes);
        b->bytes = bytes;
        b->buf = (uint16_t *)((char *)b + hdr);
        b->layer_stride = qkv + o + gu + down;
        b->qkv = b->buf;
        b->o = b->qkv + qkv;
        b->gu = b->o + o;
        b->down = b->gu + gu;
        b->lm_head = b->buf + b->layer_stride * (size_t)c->n_layers;
        m->bf16 = b;
    }
    double t0 = cada_now();
    for (int q = 0; q <= 4 * c->n_layers; q++) {
        size_t at, n;
        uint16_t *dst;
        region(m, q, &at, &n, &dst);
        pack_range(dst, m->params + at, n);
        if (release) cada_infer_weights_release_fp32(m, at, n);
    }
    b->version = version;
    CADA_DEBUG("bf16 inference weights: %.1f MB packed (policy version %lld) in %.3f s; kernels %s", b->bytes / 1e6, version,
               cada_now() - t0, cada_cpu_kernels_name(k));
    return CADA_OK;
}

/* The packed matrices as regions of the fp32 parameter buffer: region q of 4 L + 1 (per
 * layer qkv, o, gu, down; then the LM head) starts at *src (an offset into m->params),
 * holds *n floats, and packs to *dst. */
static void region(const cada_model *m, int q, size_t *src, size_t *n, uint16_t **dst) {
    size_t sz[5];
    sizes(&m->cfg, &sz[0], &sz[1], &sz[2], &sz[3], &sz[4]);
    const cada_params *p = &m->p;
    const cada_infer_weights *b = m->bf16;
    const int l = q / 4, k = q % 4;
    if (q == 4 * m->cfg.n_layers) {
        *src = (size_t)(p->lm_head - m->params), *n = sz[4], *dst = b->lm_head;
        return;
    }
    const float *f[4] = {CADA_LAYER(p, qkv_w, l), CADA_LAYER(p, o_w, l), CADA_LAYER(p, gu_w, l), CADA_LAYER(p, down_w, l)};
    uint16_t *d[4] = {CADA_BF16_LAYER(b, qkv, l), CADA_BF16_LAYER(b, o, l), CADA_BF16_LAYER(b, gu, l), CADA_BF16_LAYER(b, down, l)};
    *src = (size_t)(f[k] - m->params), *n = sz[k], *dst = d[k];
}

size_t cada_infer_weights_released_floats(const cada_model_config *c) {
    return cada_infer_weights_bytes(c) / sizeof(uint16_t) - (c->tie_embeddings ? (size_t)c->vocab_size * c->hidden_size : 0);
}

cada_status cada_infer_weights_pack_range(cada_model *m, size_t off, size_t n) {
    if (!m->bf16) return CADA_ERR(CADA_ERR_INTERNAL, "bf16 inference weights: a range packed before the copy exists");
    for (int q = 0; q <= 4 * m->cfg.n_layers; q++) {
        size_t at, len;
        uint16_t *dst;
        region(m, q, &at, &len, &dst);
        const size_t lo = at > off ? at : off, hi = at + len < off + n ? at + len : off + n;
        if (lo < hi) pack_range(dst + (lo - at), m->params + lo, hi - lo);
    }
    return CADA_OK;
}

void cada_infer_weights_release_fp32(cada_model *m, size_t off, size_t n) {
    if (!m->bf16) return;
    for (int q = 0; q <= 4 * m->cfg.n_layers; q++) {
        size_t at, len;
        uint16_t *dst;
        region(m, q, &at, &len, &dst);
        if (m->p.lm_head == m->p.embed && q == 4 * m->cfg.n_layers) continue; /* tied: the embedding lookup reads it */
        const size_t lo = at > off ? at : off, hi = at + len < off + n ? at + len : off + n;
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
