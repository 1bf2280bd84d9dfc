/* model/infer.c: see infer.h. Shapes: N new tokens in this call, C hidden, QKV =
 * (H + 2 KVH) D, I intermediate, V vocabulary. */
#define _POSIX_C_SOURCE 200809L
#include "model/infer.h"
#include "model/tp.h"

#include "base/arena.h"
#include "base/cpu.h"
#include "model/infer_weights.h"
#include "ops/gemm_bf16.h"
#include "ops/ops.h"
#include "ops/vexp.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* Prefill attention in blocks of query rows (attend_block): a sequence with at least
 * ATTEND_BLOCK_MIN new rows in a call takes its rows ATTEND_BQ at a time per KV head, over
 * its keys and values gathered once per block from the block table. Per-thread scratch:
 * max_len x (ATTEND_BQ + 2 D) floats (scores, then one KV head's keys transposed and
 * values); a decode row (attend_row) uses the first max_len. */
#define ATTEND_BQ 64
#define ATTEND_BLOCK_MIN 16
#define ATTEND_SCRATCH(max_len, D) ((size_t)(max_len) * (ATTEND_BQ + 2 * (size_t)(D)))

/* The cache arena's blocks (pointers into kv, which may be a scratch struct when only
 * sizes are wanted): one list for allocating and for planning. */
typedef struct {
    void **ptr;
    size_t bytes;
} kv_block;
#define KV_BLOCKS 19

static int ceil_div(int a, int b) { return (a + b - 1) / b; }

int cada_kv_pool_blocks(int n_slots, int max_len, int block_tokens, int samples, int prompt_tokens) {
    if (block_tokens <= 0) block_tokens = CADA_KV_BLOCK_TOKENS;
    const int per_slot = ceil_div(max_len, block_tokens);
    int groups = samples > 1 ? ceil_div(n_slots, samples) : n_slots;
    int shared = prompt_tokens > 0 ? (prompt_tokens < max_len ? prompt_tokens : max_len) / block_tokens : 0;
    if (groups > n_slots) groups = n_slots;
    /* + one block per group: the prompt's partial last block, held for the samples not yet started */
    return n_slots * per_slot - (n_slots - groups) * shared + (samples > 1 ? groups : 0);
}

int cada_kv_blocks_for_bytes(const cada_model_config *cfg, size_t bytes, int block_tokens) {
    if (block_tokens <= 0) block_tokens = CADA_KV_BLOCK_TOKENS;
    const size_t block = (size_t)cada_config_kv_bytes_per_token(cfg, 4) * (size_t)block_tokens;
    const size_t n = block > 0 ? bytes / block : 0;
    return n > (1u << 30) ? 1 << 30 : (int)n;
}

int cada_kv_prefill_budget(int n_slots, int max_len, int prompt_tokens) {
    const long long k = n_slots < CADA_KV_PREFILL_PROMPTS ? n_slots : CADA_KV_PREFILL_PROMPTS, g = k * prompt_tokens;
    return g > max_len ? (g > (1 << 24) ? 1 << 24 : (int)g) : max_len;
}

int cada_kv_call_tokens(int n_slots, int max_len, int prompt_tokens) {
    return n_slots + cada_kv_prefill_budget(n_slots, max_len, prompt_tokens);
}

static void kv_plan(cada_kv_cache *kv, const cada_model_config *c, int n_slots, int max_len, int max_tokens, int block_tokens,
                    int n_blocks, int threads, kv_block *plan) {
    kv->n_slots = n_slots;
    kv->max_len = max_len;
    kv->block_tokens = block_tokens > 0 ? block_tokens : CADA_KV_BLOCK_TOKENS;
    kv->max_blocks = ceil_div(max_len, kv->block_tokens);
    kv->n_blocks = n_blocks > 0 ? n_blocks : n_slots * kv->max_blocks;
    kv->max_tokens = max_tokens;
    kv->n_layers = c->n_layers;
    kv->kv_dim = c->n_kv_heads * c->head_dim;
    const size_t C = (size_t)c->hidden_size, I = (size_t)c->intermediate_size, HD = (size_t)c->n_heads * c->head_dim;
    const size_t QKV = HD + 2 * (size_t)kv->kv_dim, N = (size_t)max_tokens;
    const size_t cache = (size_t)kv->n_blocks * c->n_layers * kv->block_tokens * kv->kv_dim;
    const kv_block list[KV_BLOCKS] = {
        {(void **)&kv->k, sizeof(float) * cache},
        {(void **)&kv->v, sizeof(float) * cache},
        {(void **)&kv->len, sizeof(int) * n_slots},
        {(void **)&kv->table, sizeof(int) * n_slots * kv->max_blocks},
        {(void **)&kv->ref, sizeof(int) * kv->n_blocks},
        {(void **)&kv->free_ids, sizeof(int) * kv->n_blocks},
        {(void **)&kv->x, sizeof(float) * N * C},
        {(void **)&kv->xn, sizeof(float) * N * C},
        {(void **)&kv->qkv, sizeof(float) * N * QKV},
        {(void **)&kv->atty, sizeof(float) * N * HD},
        {(void **)&kv->tmp, sizeof(float) * N * C},
        {(void **)&kv->gu, sizeof(float) * N * 2 * I},
        {(void **)&kv->h, sizeof(float) * N * I},
        {(void **)&kv->scores, sizeof(float) * (size_t)threads * ATTEND_SCRATCH(max_len, c->head_dim)},
        {(void **)&kv->rstd, sizeof(float) * N},
        {(void **)&kv->pos, sizeof(int) * N},
        {(void **)&kv->row_seq, sizeof(int) * N},
        {(void **)&kv->rope_cs, sizeof(float) * N * c->head_dim},
        {(void **)&kv->tokens, sizeof(int) * N},
    };
    memcpy(plan, list, sizeof list);
}

size_t cada_kv_cache_bytes(const cada_model_config *c, int n_slots, int max_len, int max_tokens, int block_tokens,
                           int n_blocks, int threads) {
    cada_kv_cache kv;
    memset(&kv, 0, sizeof kv);
    kv_block plan[KV_BLOCKS];
    kv_plan(&kv, c, n_slots, max_len, max_tokens, block_tokens, n_blocks, threads, plan);
    size_t total = 0;
    for (int i = 0; i < KV_BLOCKS; i++) total += cada_arena_round(plan[i].bytes);
    return total;
}

cada_status cada_kv_cache_init(cada_kv_cache *kv, const cada_model_config *c, int n_slots, int max_len, int max_tokens,
                               int block_tokens, int n_blocks) {
    memset(kv, 0, sizeof *kv);
    if (n_slots <= 0 || max_len <= 0 || max_tokens <= 0 || block_tokens < 0 || n_blocks < 0)
        return CADA_ERR(CADA_ERR_ARG, "kv cache: slots %d, max_len %d, max_tokens %d, block size %d, blocks %d", n_slots,
                        max_len, max_tokens, block_tokens, n_blocks);
    kv_block plan[KV_BLOCKS];
    kv_plan(kv, c, n_slots, max_len, max_tokens, block_tokens, n_blocks, omp_get_max_threads(), plan);
    size_t total = 0;
    for (int i = 0; i < KV_BLOCKS; i++) total += cada_arena_round(plan[i].bytes);
    cada_arena arena;
    cada_status st = cada_arena_init(&arena, total, "kv cache");
    if (st != CADA_OK) {
        cada_error_wrap("%d slots x %d tokens", n_slots, max_len);
        return st;
    }
    for (int i = 0; i < KV_BLOCKS; i++) *plan[i].ptr = cada_arena_alloc(&arena, plan[i].bytes);
    memset(kv->len, 0, sizeof(int) * n_slots);
    memset(kv->ref, 0, sizeof(int) * kv->n_blocks);
    for (int b = 0; b < kv->n_blocks; b++) kv->free_ids[b] = kv->n_blocks - 1 - b; /* block 0 on top */
    kv->n_free = kv->n_blocks;
    kv->bytes = total;
    return CADA_OK;
}

static int slot_blocks(const cada_kv_cache *kv, int slot) { return ceil_div(kv->len[slot], kv->block_tokens); }

static void block_release(cada_kv_cache *kv, int b) {
    if (--kv->ref[b] == 0) kv->free_ids[kv->n_free++] = b;
}

static int block_take(cada_kv_cache *kv) {
    int b = kv->free_ids[--kv->n_free];
    kv->ref[b] = 1;
    int used = kv->n_blocks - kv->n_free;
    if (used > kv->peak_used) kv->peak_used = used;
    return b;
}

void cada_kv_cache_clear_slot(cada_kv_cache *kv, int slot) {
    int *t = kv->table + (size_t)slot * kv->max_blocks;
    for (int i = 0, nb = slot_blocks(kv, slot); i < nb; i++) block_release(kv, t[i]);
    kv->len[slot] = 0;
}

cada_status cada_kv_cache_share(cada_kv_cache *kv, int dst, int src, int n_tokens) {
    if (dst < 0 || dst >= kv->n_slots || src < 0 || src >= kv->n_slots || dst == src || kv->len[dst] != 0 || n_tokens < 0 ||
        n_tokens > kv->len[src])
        return CADA_ERR(CADA_ERR_ARG, "kv cache: share %d tokens of slot %d (holding %d) into slot %d (holding %d)", n_tokens,
                        src, src >= 0 && src < kv->n_slots ? kv->len[src] : -1, dst,
                        dst >= 0 && dst < kv->n_slots ? kv->len[dst] : -1);
    const int *ts = kv->table + (size_t)src * kv->max_blocks;
    int *td = kv->table + (size_t)dst * kv->max_blocks;
    for (int i = 0, nb = ceil_div(n_tokens, kv->block_tokens); i < nb; i++) {
        td[i] = ts[i];
        kv->ref[ts[i]]++;
    }
    kv->len[dst] = n_tokens;
    return CADA_OK;
}

cada_status cada_kv_cache_attach(cada_kv_cache *kv, int slot, const int *blocks, int n) {
    if (slot < 0 || slot >= kv->n_slots || kv->len[slot] != 0 || n < 0 || n * kv->block_tokens > kv->max_len)
        return CADA_ERR(CADA_ERR_ARG, "kv cache: attach %d blocks to slot %d (holding %d)", n, slot,
                        slot >= 0 && slot < kv->n_slots ? kv->len[slot] : -1);
    int *t = kv->table + (size_t)slot * kv->max_blocks;
    for (int i = 0; i < n; i++) {
        if (blocks[i] < 0 || blocks[i] >= kv->n_blocks || kv->ref[blocks[i]] <= 0)
            return CADA_ERR(CADA_ERR_ARG, "kv cache: attach block %d (of %d) that is not in use", blocks[i], kv->n_blocks);
    }
    for (int i = 0; i < n; i++) {
        t[i] = blocks[i];
        kv->ref[blocks[i]]++;
    }
    kv->len[slot] = n * kv->block_tokens;
    return CADA_OK;
}

void cada_kv_block_hold(cada_kv_cache *kv, int b) { kv->ref[b]++; }

void cada_kv_block_drop(cada_kv_cache *kv, int b) { block_release(kv, b); }

int cada_kv_cache_blocks_needed(const cada_kv_cache *kv, int slot, int n_new) {
    const int len = kv->len[slot], have = slot_blocks(kv, slot);
    int need = ceil_div(len + n_new, kv->block_tokens) - have;
    if (n_new > 0 && len % kv->block_tokens && kv->ref[kv->table[(size_t)slot * kv->max_blocks + have - 1]] > 1)
        need++; /* the shared partial last block is copied before it is written */
    return need;
}

/* Makes room for n_new tokens at the end of slot: copies a shared partial last block
 * (its rows [0, len % block_tokens), all layers), takes new blocks. The caller has
 * checked that the pool holds enough. */
static void slot_reserve(cada_kv_cache *kv, int slot, int n_new) {
    const int B = kv->block_tokens, len = kv->len[slot], have = slot_blocks(kv, slot);
    int *t = kv->table + (size_t)slot * kv->max_blocks;
    if (n_new > 0 && len % B && kv->ref[t[have - 1]] > 1) {
        int old = t[have - 1], b = block_take(kv);
        size_t block = (size_t)kv->n_layers * B * kv->kv_dim, rows = (size_t)(len % B) * kv->kv_dim;
        for (int l = 0; l < kv->n_layers; l++) {
            size_t o = (size_t)l * B * kv->kv_dim;
            memcpy(kv->k + b * block + o, kv->k + old * block + o, sizeof(float) * rows);
            memcpy(kv->v + b * block + o, kv->v + old * block + o, sizeof(float) * rows);
        }
        block_release(kv, old);
        t[have - 1] = b;
    }
    for (int i = have, nb = ceil_div(len + n_new, B); i < nb; i++) t[i] = block_take(kv);
}

/* Row of layer l's cache (k or v) holding slot's position t. */
static inline size_t cache_row(const cada_kv_cache *kv, int slot, int l, int t) {
    const int B = kv->block_tokens;
    const int b = kv->table[(size_t)slot * kv->max_blocks + t / B];
    return (((size_t)b * kv->n_layers + l) * B + t % B) * kv->kv_dim;
}

void cada_kv_cache_free(cada_kv_cache *kv) {
    free(kv->k); /* the arena's base */
    free(kv->tp_stage);
    memset(kv, 0, sizeof *kv);
}

/* dot(a, b) over n floats in LANES partial sums, added at the end: written so that the
 * compiler keeps the lanes in one vector register (a single running sum is a chain of
 * dependent adds it may not reorder, which left attention's dot products scalar and
 * latency-bound: 57% of a 1-thread rollout with 650-token prompts). The order is fixed by
 * n alone, so every call on the same vectors gives the same bits. */
static inline float dot_lanes(const float *a, const float *b, int n) {
    enum { LANES = 16 };
    float acc[LANES] = {0};
    int d = 0;
    for (; d + LANES <= n; d += LANES)
        for (int k = 0; k < LANES; k++) acc[k] += a[d + k] * b[d + k];
    float s = 0.0f;
    for (int k = 0; k < LANES; k++) s += acc[k];
    for (; d < n; d++) s += a[d] * b[d];
    return s;
}

/* scores[0..n) -> exp(score - mx) in place, in order; returns 1 / their sum (the
 * softmax's normaliser), summed in order: both attention paths share these bits. */
static float exp_scores(float *scores, int n, float mx) {
    cada_exp_shift(scores, n, mx);
    float sum = 0.0f;
    for (int t = 0; t < n; t++) sum += scores[t];
    return 1.0f / sum;
}

/* sum[j] = dot_lanes(q, key t0 + j) for the 16 keys t0 .. t0 + 15 of a transposed block
 * kt (D rows of Wp floats; kt points at column t0): each key's 16 lanes accumulate in
 * dot_lanes' order and are added up in its order (then its tail), so the bits are its. */
#define ATTEND_KEYS 16
static void scores16(const float *q, const float *kt, int Wp, int D, float *sum) {
    enum { LANES = 16, KEYS = ATTEND_KEYS };
    float acc[LANES][KEYS] = {{0}};
    int d = 0;
    for (; d + LANES <= D; d += LANES)
        for (int k = 0; k < LANES; k++)
            for (int j = 0; j < KEYS; j++) acc[k][j] += q[d + k] * kt[(size_t)(d + k) * Wp + j];
    for (int j = 0; j < KEYS; j++) sum[j] = 0.0f;
    for (int k = 0; k < LANES; k++)
        for (int j = 0; j < KEYS; j++) sum[j] += acc[k][j];
    for (; d < D; d++)
        for (int j = 0; j < KEYS; j++) sum[j] += q[d] * kt[(size_t)d * Wp + j];
}

/* out[d] (+)= sum over t < n of (score[t] inv) v[t][d] (rows `stride` floats apart), t
 * in order, multiply then add; accumulate: onto out's values, else from zero. The
 * rounding both attention paths share (attend_row's weighted sum). */
static void weighted_sum(const float *score, float inv, const float *v, int n, int D, size_t stride, float *restrict out,
                         int accumulate) {
    if (!accumulate)
        for (int d = 0; d < D; d++) out[d] = 0.0f;
    for (int t = 0; t < n; t++) {
        const float p = score[t] * inv, *restrict vt = v + (size_t)t * stride;
        for (int d = 0; d < D; d++) out[d] += p * vt[d];
    }
}

#if defined(__x86_64__)
#include <immintrin.h>
/* scores16 with the 16 keys in one 512-bit register and the 16 lanes' accumulators in
 * sixteen (multiply, then add: the rounding of dot_lanes, never a fused multiply-add). */
__attribute__((target("avx512f"))) static void scores16_avx512(const float *q, const float *kt, int Wp, int D, float *sum) {
    __m512 acc[16];
    for (int k = 0; k < 16; k++) acc[k] = _mm512_setzero_ps();
    int d = 0;
    for (; d + 16 <= D; d += 16)
        for (int k = 0; k < 16; k++)
            acc[k] = _mm512_add_ps(acc[k], _mm512_mul_ps(_mm512_set1_ps(q[d + k]), _mm512_loadu_ps(kt + (size_t)(d + k) * Wp)));
    __m512 s = _mm512_setzero_ps();
    for (int k = 0; k < 16; k++) s = _mm512_add_ps(s, acc[k]);
    for (; d < D; d++) s = _mm512_add_ps(s, _mm512_mul_ps(_mm512_set1_ps(q[d]), _mm512_loadu_ps(kt + (size_t)d * Wp)));
    _mm512_storeu_ps(sum, s);
}
/* weighted_sum with the D outputs held in registers (D a multiple of 16, <= 256). */
__attribute__((target("avx512f"))) static void weighted_sum_avx512(const float *score, float inv, const float *v, int n, int D,
                                                                   size_t stride, float *out, int accumulate) {
    __m512 o[16];
    const int V = D / 16;
    for (int k = 0; k < V; k++) o[k] = accumulate ? _mm512_loadu_ps(out + 16 * k) : _mm512_setzero_ps();
    for (int t = 0; t < n; t++) {
        const __m512 p = _mm512_set1_ps(score[t] * inv);
        const float *vt = v + (size_t)t * stride;
        for (int k = 0; k < V; k++) o[k] = _mm512_add_ps(o[k], _mm512_mul_ps(p, _mm512_loadu_ps(vt + 16 * k)));
    }
    for (int k = 0; k < V; k++) _mm512_storeu_ps(out + 16 * k, o[k]);
}
#define HAVE_ATTEND_AVX512 1
#endif

/* The attention kernels for this CPU and head size: wide, the AVX-512 ones (the same
 * bits as the C ones, faster). */
static int attend_wide(int D) {
#ifdef HAVE_ATTEND_AVX512
    return cada_cpu_kernels_current() >= CADA_CPU_AVX512 && D % 16 == 0 && D <= 256;
#else
    (void)D;
    return 0;
#endif
}

static void attend_scores16(int wide, const float *q, const float *kt, int Wp, int D, float *sum) {
#ifdef HAVE_ATTEND_AVX512
    if (wide) {
        scores16_avx512(q, kt, Wp, D, sum);
        return;
    }
#endif
    (void)wide;
    scores16(q, kt, Wp, D, sum);
}

static void attend_weighted_sum(int wide, const float *score, float inv, const float *v, int n, int D, size_t stride, float *out,
                                int accumulate) {
#ifdef HAVE_ATTEND_AVX512
    if (wide) {
        weighted_sum_avx512(score, inv, v, n, D, stride, out, accumulate);
        return;
    }
#endif
    (void)wide;
    weighted_sum(score, inv, v, n, D, stride, out, accumulate);
}

/* Attention of one new token (row r of the call, sequence at `slot`, absolute position
 * P) against the slot's cache [0, P], all heads. Same operation order as
 * attention_forward: scaled dot products, max-subtracted exp, normalise, weighted sum;
 * positions in order 0..P through the block table. */
static void attend_row(const cada_kv_cache *kv, int l, int slot, int P, const float *q, float *out, int H, int KVH,
                       int D, float *scores, int wide) {
    const int group = H / KVH, kvd = kv->kv_dim, B = kv->block_tokens;
    const float scale = 1.0f / sqrtf((float)D);
    for (int h = 0; h < H; h++) {
        const float *qh = q + h * D;
        const int g = h / group;
        float mx = -INFINITY;
        for (int t0 = 0; t0 <= P; t0 += B) { /* block by block: positions t0 .. t0 + n - 1 */
            const float *kb = kv->k + cache_row(kv, slot, l, t0) + g * D;
            const int n = P + 1 - t0 < B ? P + 1 - t0 : B;
            for (int j = 0; j < n; j++) {
                const float s = dot_lanes(qh, kb + (size_t)j * kvd, D) * scale;
                scores[t0 + j] = s;
                mx = s > mx ? s : mx;
            }
        }
        const float inv = exp_scores(scores, P + 1, mx);
        for (int t0 = 0; t0 <= P; t0 += B) /* the weighted sum, block by block */
            attend_weighted_sum(wide, scores + t0, inv, kv->v + cache_row(kv, slot, l, t0) + g * D, P + 1 - t0 < B ? P + 1 - t0 : B,
                                D, (size_t)kvd, out + h * D, t0 > 0);
    }
}

/* Attention of rows [i0, i1) of one sequence's new rows (row r0 + i of the call at
 * absolute position pos[r0 + i], consecutive), the heads of KV head g, against the sequence's cache
 * [0, pos of its last row]: each row's result is attend_row's bit for bit, so a token's
 * logits do not depend on how its rows were grouped into calls (prefill chunks, prompt
 * sharing, the prefix cache, preemption, tensor parallelism: the engine's invariant,
 * tested). The work is arranged for vectors: the KV head's keys are gathered transposed
 * (D, Wp), so 16 keys' dot products advance together with each of dot_lanes' 16 lanes
 * and are added up in dot_lanes' order; values are gathered (W, D) for the weighted sum
 * in attend_row's order. */
static void attend_block(const cada_kv_cache *kv, int l, int slot, const int *pos, const float *qkv, int QKV, float *atty,
                         int HD, int g, int H, int KVH, int D, int i0, int i1, float *scratch, int wide) {
    enum { KEYS = ATTEND_KEYS };
    const int kvd = kv->kv_dim, B = kv->block_tokens, W = pos[i1 - 1] + 1, group = H / KVH;
    const int Wp = (W + KEYS - 1) / KEYS * KEYS;
    const float scale = 1.0f / sqrtf((float)D);
    float *scores = scratch, *kt = scratch + (size_t)ATTEND_BQ * kv->max_len, *vc = kt + (size_t)kv->max_len * D;
    for (int t0 = 0; t0 < W; t0 += B) {
        const size_t at = cache_row(kv, slot, l, t0) + (size_t)g * D;
        const int n = W - t0 < B ? W - t0 : B;
        for (int j = 0; j < n; j++) {
            const float *kr = kv->k + at + (size_t)j * kvd;
            for (int d = 0; d < D; d++) kt[(size_t)d * Wp + t0 + j] = kr[d];
            memcpy(vc + (size_t)(t0 + j) * D, kv->v + at + (size_t)j * kvd, sizeof(float) * D);
        }
    }
    for (int d = 0; d < D; d++) /* the padding keys: computed, never used */
        for (int t = W; t < Wp; t++) kt[(size_t)d * Wp + t] = 0.0f;
    for (int h = g * group; h < (g + 1) * group; h++) /* the heads that share KV head g: one gather serves them all */
    for (int i = i0; i < i1; i++) {
        const float *q = qkv + (size_t)i * QKV + h * D;
        const int P = pos[i];
        float mx = -INFINITY;
        for (int t0 = 0; t0 <= P; t0 += KEYS) {
            float sum[KEYS];
            attend_scores16(wide, q, kt + t0, Wp, D, sum);
            const int n = P + 1 - t0 < KEYS ? P + 1 - t0 : KEYS;
            for (int j = 0; j < n; j++) {
                const float sc = sum[j] * scale;
                scores[t0 + j] = sc;
                mx = sc > mx ? sc : mx;
            }
        }
        const float inv = exp_scores(scores, P + 1, mx);
        attend_weighted_sum(wide, scores, inv, vc, P + 1, D, (size_t)D, atty + (size_t)i * HD + h * D, 0);
    }
}

/* One layer's attention for every new row of the call: sequences with at least
 * ATTEND_BLOCK_MIN new rows (a prefill) in blocks of rows per KV head (attend_block), the
 * others row by row (attend_row, a decode step). Work units spread over threads; each
 * writes only its own rows and heads of atty, so any schedule gives the same bits. */
static void attend_layer(cada_kv_cache *kv, int l, const cada_infer_seq *seqs, int n_seqs, int N, int H, int KVH, int D, int QKV) {
    const int HD = H * D;
    const int wide = attend_wide(D);
    int units = 0; /* a blocked sequence: KVH x ceil(n / ATTEND_BQ) units; a row-wise one: one per row */
    for (int s = 0; s < n_seqs; s++)
        units += seqs[s].n_tokens >= ATTEND_BLOCK_MIN ? KVH * ((seqs[s].n_tokens + ATTEND_BQ - 1) / ATTEND_BQ) : seqs[s].n_tokens;
#pragma omp parallel for schedule(dynamic, 1) if (CADA_PAR((int64_t)N * H * kv->len[seqs[0].slot]))
    for (int u = 0; u < units; u++) {
        float *scratch = kv->scores + (size_t)omp_get_thread_num() * ATTEND_SCRATCH(kv->max_len, D);
        int k = u, r0 = 0, s = 0; /* find unit u's sequence, its first row r0, and k = its index inside it */
        for (;; r0 += seqs[s].n_tokens, s++) {
            const int n = seqs[s].n_tokens, here = n >= ATTEND_BLOCK_MIN ? KVH * ((n + ATTEND_BQ - 1) / ATTEND_BQ) : n;
            if (k < here) break;
            k -= here;
        }
        const int n = seqs[s].n_tokens;
        if (n >= ATTEND_BLOCK_MIN) {
            const int g = k % KVH, i0 = (k / KVH) * ATTEND_BQ, i1 = i0 + ATTEND_BQ < n ? i0 + ATTEND_BQ : n;
            attend_block(kv, l, seqs[s].slot, kv->pos + r0, kv->qkv + (size_t)r0 * QKV, QKV, kv->atty + (size_t)r0 * HD, HD, g, H,
                         KVH, D, i0, i1, scratch, wide);
        } else {
            const int r = r0 + k;
            attend_row(kv, l, seqs[s].slot, kv->pos[r], kv->qkv + (size_t)r * QKV, kv->atty + (size_t)r * HD, H, KVH, D, scratch,
                       wide);
        }
    }
}

/* out (N, OUT) = inp (N, IN) @ W^T + bias: the bf16 copy of W when the model holds one
 * (model/infer_weights.h), else the fp32 W. */
static void infer_linear(const uint16_t *w_bf16, float *out, const float *inp, const float *w, const float *bias, int N, int IN,
                         int OUT) {
    if (w_bf16) gemm_bf16_forward(out, inp, w_bf16, bias, N, IN, OUT);
    else matmul_forward(out, inp, w, bias, N, IN, OUT);
}

static cada_status tp_sum(const cada_model *m, float *buf, size_t n) {
    return m->tp ? m->tp->allreduce_sum(m->tp->ctx, buf, n) : CADA_OK;
}

/* With tensor parallelism: each rank's (n_seqs, V/P) logits of kv->xn, gathered whole
 * into logits (n_seqs, V) on every rank (the same values everywhere, so every rank
 * samples the same tokens). Staging (P, n_seqs, V/P) is kept in the cache. */
static cada_status tp_logits(const cada_model *m, cada_kv_cache *kv, int n_seqs, float *logits) {
    const int P = m->tp->size, Vl = m->cfg.vocab_size, C = m->cfg.hidden_size;
    const size_t each = (size_t)n_seqs * Vl;
    if (kv->tp_stage_floats < each * P) {
        free(kv->tp_stage);
        kv->tp_stage_floats = 0;
        kv->tp_stage = CADA_MALLOC(sizeof(float) * each * P, "tensor-parallel logits staging");
        if (!kv->tp_stage) return CADA_ERR_NOMEM;
        kv->tp_stage_floats = each * P;
        kv->bytes += sizeof(float) * each * P;
    }
    infer_linear(m->bf16 ? m->bf16->lm_head : NULL, kv->tp_stage + (size_t)m->tp->rank * each, kv->xn, m->p.lm_head, NULL,
                 n_seqs, C, Vl);
    CADA_TRY(m->tp->allgather(m->tp->ctx, kv->tp_stage, each));
    for (int r = 0; r < P; r++)
        for (int s = 0; s < n_seqs; s++)
            memcpy(logits + (size_t)s * Vl * P + (size_t)r * Vl, kv->tp_stage + r * each + (size_t)s * Vl, sizeof(float) * Vl);
    return CADA_OK;
}

cada_status cada_model_infer(const cada_model *m, cada_kv_cache *kv, const cada_infer_seq *seqs, int n_seqs,
                             float *logits) {
    const cada_model_config *c = &m->cfg;
    const cada_params *p = &m->p;
    const int L = c->n_layers, C = c->hidden_size, I = c->intermediate_size, V = cada_model_vocab(m);
    const int H = c->n_heads, KVH = c->n_kv_heads, D = c->head_dim, HD = H * D, QKV = HD + 2 * KVH * D;
    /* validate and lay out the rows */
    int N = 0;
    for (int s = 0; s < n_seqs; s++) {
        const cada_infer_seq *q = &seqs[s];
        if (q->slot < 0 || q->slot >= kv->n_slots)
            return CADA_ERR(CADA_ERR_ARG, "infer: sequence %d names slot %d of %d", s, q->slot, kv->n_slots);
        for (int o = 0; o < s; o++)
            if (seqs[o].slot == q->slot) return CADA_ERR(CADA_ERR_ARG, "infer: slot %d used twice in one call", q->slot);
        if (q->n_tokens <= 0 || kv->len[q->slot] + q->n_tokens > kv->max_len)
            return CADA_ERR(CADA_ERR_ARG, "infer: slot %d holds %d tokens; %d more exceed its %d (the context limit)", q->slot,
                            kv->len[q->slot], q->n_tokens, kv->max_len);
        if (N + q->n_tokens > kv->max_tokens)
            return CADA_ERR(CADA_ERR_ARG, "infer: more than %d new tokens in one call", kv->max_tokens);
        for (int j = 0; j < q->n_tokens; j++) {
            if (q->tokens[j] < 0 || q->tokens[j] >= V)
                return CADA_ERR(CADA_ERR_ARG, "infer: slot %d token %d is %d, outside the vocabulary [0, %d)", q->slot, j,
                                q->tokens[j], V);
            kv->pos[N + j] = kv->len[q->slot] + j;
            kv->row_seq[N + j] = s;
        }
        N += q->n_tokens;
    }
    {
        int need = 0;
        for (int s = 0; s < n_seqs; s++) need += cada_kv_cache_blocks_needed(kv, seqs[s].slot, seqs[s].n_tokens);
        if (need > kv->n_free)
            return CADA_ERR(CADA_ERR_NOMEM, "infer: the call needs %d cache blocks; %d of %d are free", need, kv->n_free,
                            kv->n_blocks);
        for (int s = 0; s < n_seqs; s++) slot_reserve(kv, seqs[s].slot, seqs[s].n_tokens);
    }
    {
        int r = 0;
        for (int s = 0; s < n_seqs; s++)
            for (int j = 0; j < seqs[s].n_tokens; j++, r++) {
                if (m->tp) kv->tokens[r] = seqs[s].tokens[j];
                else memcpy(kv->x + (size_t)r * C, p->embed + (size_t)seqs[s].tokens[j] * C, sizeof(float) * C);
            }
        if (m->tp) CADA_TRY(cada_tp_embedding_forward(m->tp, kv->x, kv->tokens, p->embed, N, C));
    }
    rope_angles(kv->rope_cs, N, D, kv->pos, m->inv_freq); /* once for every layer */
    float *rstd = kv->rstd;
    for (int l = 0; l < L; l++) {
        rmsnorm_forward(kv->xn, rstd, kv->x, CADA_LAYER(p, attn_norm, l), N, C, c->rms_eps);
        infer_linear(CADA_BF16_LAYER(m->bf16, qkv, l), kv->qkv, kv->xn, CADA_LAYER(p, qkv_w, l), CADA_LAYER(p, qkv_b, l), N, C,
                       QKV);
        rope_forward_angles(kv->qkv, N, QKV, H + KVH, D, kv->rope_cs); /* q and k heads, side by side in a row */
        /* append this chunk's keys and values to the caches */
        for (int r = 0; r < N; r++) {
            size_t at = cache_row(kv, seqs[kv->row_seq[r]].slot, l, kv->pos[r]);
            memcpy(kv->k + at, kv->qkv + (size_t)r * QKV + HD, sizeof(float) * kv->kv_dim);
            memcpy(kv->v + at, kv->qkv + (size_t)r * QKV + HD + kv->kv_dim, sizeof(float) * kv->kv_dim);
        }
        attend_layer(kv, l, seqs, n_seqs, N, H, KVH, D, QKV);
        infer_linear(CADA_BF16_LAYER(m->bf16, o, l), kv->tmp, kv->atty, CADA_LAYER(p, o_w, l), NULL, N, HD, C);
        CADA_TRY(tp_sum(m, kv->tmp, (size_t)N * C)); /* o_proj: rows split over the group (tp.h) */
        residual_forward(kv->x, kv->x, kv->tmp, (int64_t)N * C);
        rmsnorm_forward(kv->xn, rstd, kv->x, CADA_LAYER(p, ffn_norm, l), N, C, c->rms_eps);
        infer_linear(CADA_BF16_LAYER(m->bf16, gu, l), kv->gu, kv->xn, CADA_LAYER(p, gu_w, l), NULL, N, C, 2 * I);
        swiglu_forward(kv->h, kv->gu, N, I);
        infer_linear(CADA_BF16_LAYER(m->bf16, down, l), kv->tmp, kv->h, CADA_LAYER(p, down_w, l), NULL, N, I, C);
        CADA_TRY(tp_sum(m, kv->tmp, (size_t)N * C)); /* down: rows split over the group */
        residual_forward(kv->x, kv->x, kv->tmp, (int64_t)N * C);
    }
    /* final norm and LM head for each sequence's last token only */
    int r = 0;
    for (int s = 0; s < n_seqs; s++) {
        r += seqs[s].n_tokens;
        memcpy(kv->tmp + (size_t)s * C, kv->x + (size_t)(r - 1) * C, sizeof(float) * C);
    }
    rmsnorm_forward(kv->xn, rstd, kv->tmp, p->final_norm, n_seqs, C, c->rms_eps);
    if (m->tp) CADA_TRY(tp_logits(m, kv, n_seqs, logits));
    else infer_linear(m->bf16 ? m->bf16->lm_head : NULL, logits, kv->xn, p->lm_head, NULL, n_seqs, C, V);
    for (int s = 0; s < n_seqs; s++) kv->len[seqs[s].slot] += seqs[s].n_tokens;
    return CADA_OK;
}
