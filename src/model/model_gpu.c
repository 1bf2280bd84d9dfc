/* model/model_gpu.c: see model_gpu.h. Shapes as there: N = B*T rows of the current
 * batch, Nmax = max_tokens, QKV = (H + 2 KVH) D, HD = H D. Offsets into the flat
 * parameter buffer are in elements (floats of the CPU buffer = bf16 of the weights). */
#define _POSIX_C_SOURCE 200809L
#ifdef CADA_HAVE_CUDA

#include "model/model_gpu.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A launcher's status, wrapped with where it happened ("layer 3: attention backward"). */
#define GPU_TRY(expr, ...)                                                              \
    do {                                                                                \
        cada_status gpu_try_st_ = (expr);                                               \
        if (gpu_try_st_ != CADA_OK) {                                                   \
            cada_error_wrap(__VA_ARGS__);                                               \
            return gpu_try_st_;                                                         \
        }                                                                               \
    } while (0)

/* A CUDA runtime call, with the same kind of context. */
#define CUDA_TRY_AT(call, ...)                                                          \
    do {                                                                                \
        cudaError_t cuda_try_rc_ = (call);                                              \
        if (cuda_try_rc_ != cudaSuccess) {                                              \
            cada_status cuda_try_st_ = CADA_ERR(CADA_ERR_CUDA, "rank %d: %s failed: %s (%s)", cada_get_rank(), \
                                                #call, cudaGetErrorString(cuda_try_rc_),                   \
                                                cudaGetErrorName(cuda_try_rc_));                           \
            cada_error_wrap(__VA_ARGS__);                                               \
            return cuda_try_st_;                                                        \
        }                                                                               \
    } while (0)

#define BLAS_WORKSPACE_BYTES ((size_t)32 << 20)
#define STAGING_MAX_FLOATS ((size_t)4 << 20)
#define ARENA_ALIGN ((size_t)256)

/* ---- layout ------------------------------------------------------------------------- */

/* Element offsets of each tensor in the flat buffer, exactly as model.c's carve(). */
typedef struct {
    size_t embed, attn_norm, qkv_w, qkv_b, o_w, ffn_norm, gu_w, down_w; /* layer 0's */
    size_t layer_stride, final_norm, lm_head, n_params;
    int has_bias;
} gpu_layout;

static gpu_layout layout_of(const cada_model_config *c) {
    const size_t V = (size_t)c->vocab_size, C = (size_t)c->hidden_size, I = (size_t)c->intermediate_size;
    const size_t HD = (size_t)c->n_heads * c->head_dim, QKV = HD + 2 * (size_t)c->n_kv_heads * c->head_dim;
    gpu_layout y;
    memset(&y, 0, sizeof y);
    size_t q = 0;
    y.embed = q; q += V * C;
    const size_t layer0 = q;
    y.attn_norm = q; q += C;
    y.qkv_w = q; q += QKV * C;
    y.has_bias = c->qkv_bias != 0;
    y.qkv_b = q; q += y.has_bias ? QKV : 0;
    y.o_w = q; q += C * HD;
    y.ffn_norm = q; q += C;
    y.gu_w = q; q += 2 * I * C;
    y.down_w = q; q += C * I;
    y.layer_stride = q - layer0;
    y.final_norm = layer0 + (size_t)c->n_layers * y.layer_stride;
    y.lm_head = c->tie_embeddings ? y.embed : y.final_norm + C;
    y.n_params = y.final_norm + C + (c->tie_embeddings ? 0 : V * C);
    return y;
}

/* ---- the model ------------------------------------------------------------------------ */

typedef struct {
    int L, C, I, V, H, KVH, D, HD, QKV;
    float eps;
} gpu_dims;

struct cada_gpu_model {
    cada_model_config cfg;
    cada_gpu_model_options opt;
    cada_gpu_model_plan_out plan;
    gpu_layout lay;
    gpu_dims d;
    size_t Nmax;     /* max_tokens */
    int n_act;       /* layers whose activations are kept: L, or 1 */
    int n_res;       /* residual buffers: L+1 (training) or 2 (ping-pong) */
    int n_seq_max;   /* S' = min(kv_slots, gen_max_tokens) */
    cudaStream_t stream;
    int have_stream;
    cada_gpu_blas *blas;
    cada_gpu_arena *arena;

    /* parameters */
    cada_bf16 *w;
    float *master, *grads, *adam_m, *adam_v;
    float *inv_freq;

    /* training forward: per-layer buffers (n_act copies, Nmax rows each) */
    float *residual, *resmid, *rstd1, *rstd2, *alse;
    cada_bf16 *xn1, *qkv, *atty, *xn2, *gu, *h;
    cada_bf16 *xf;
    float *rstdf, *vlse, *logprob, *logits, *entropy;
    int *tokens, *pos, *targets;

    /* backward */
    cada_bf16 *dlogits, *dres_bf16, *dxn, *dqkv, *datty, *dgu, *dh;
    float *dres, *dlogprob;
    void *attn_scratch;
    size_t attn_scratch_bytes;

    /* optimizer and transfers */
    void *sqnorm_scratch;
    double *sqnorm;
    float *staging;
    size_t staging_n;

    /* KV cache and inference rows */
    cada_bf16 *kcache, *vcache;
    float *ix, *irstd, *ilse, *ilast, *irstdf, *ilogits, *iu, *ilp;
    cada_bf16 *ixn, *iqkv, *iatty, *igu, *ih, *ixf;
    int *itok, *ipos, *islot, *ilens, *isampled;
    void *dec_scratch;
    size_t dec_scratch_bytes;

    /* host state */
    int B, T, N;           /* the last forward's batch */
    int forward_ready;     /* a forward's activations are there for backward */
    int slot_layer;        /* with n_act == 1: the layer whose activations are held */
    float *logprob_host;   /* (Nmax) */
    float *entropy_host;   /* (Nmax) */
    int n_valid;
    float loss;
    long long adam_skipped;
    int *slot_len;         /* (S) tokens cached per slot */
    int *h_tok, *h_pos, *h_slot, *h_lens; /* (G) staging of an infer call's rows */
    int last_infer_n;      /* sequences of the last infer call (rows of ilogits) */
};

/* ---- planning ------------------------------------------------------------------------ */

enum { PART_WEIGHTS, PART_MASTER, PART_GRADS, PART_ADAM_M, PART_ADAM_V, PART_ACT, PART_LOGITS, PART_KV,
       PART_SCRATCH, N_PARTS };

typedef struct {
    void **ptr;
    size_t bytes;
    const char *name;
    int part;
} alloc_item;

#define MAX_ITEMS 80

static size_t round_up(size_t x) { return (x + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN; }
static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

/* Attention-backward scratch for the worst batch shape with B*T <= Nmax (the launcher's
 * size may round T up to its tiles, so every T is tried, with the most rows it allows). */
static size_t attn_scratch_worst(const cada_model_config *c, int Nmax) {
    size_t worst = 0;
    for (int T = 1; T <= Nmax; T++)
        worst = max_sz(worst, gpu_attention_backward_scratch_bytes(Nmax / T, T, c->n_heads, c->n_kv_heads, c->head_dim));
    return worst;
}

static size_t decode_scratch_worst(const cada_model_config *c, int n_max, int max_len) {
    size_t worst = 0;
    for (int n = 1; n <= n_max; n++)
        worst = max_sz(worst, gpu_attention_decode_scratch_bytes(n, c->n_heads, c->head_dim, max_len));
    return worst;
}

static cada_status check_options(const cada_model_config *c, const cada_gpu_model_options *o) {
    if (!c || !o) return CADA_ERR(CADA_ERR_ARG, "gpu model: NULL configuration or options");
    CADA_TRY(cada_config_validate(c, "gpu model configuration"));
    if (o->max_tokens < 0 || o->max_tokens > (1 << 24))
        return CADA_ERR(CADA_ERR_ARG, "gpu model options: max_tokens %d outside [0, %d]", o->max_tokens, 1 << 24);
    if (o->training && o->max_tokens == 0)
        return CADA_ERR(CADA_ERR_ARG, "gpu model options: training needs max_tokens > 0 (the batch it trains on)");
    if (o->recompute != 0 && o->recompute != 1)
        return CADA_ERR(CADA_ERR_ARG, "gpu model options: recompute is %d, must be 0 or 1", o->recompute);
    if (o->training != 0 && o->training != 1)
        return CADA_ERR(CADA_ERR_ARG, "gpu model options: training is %d, must be 0 or 1", o->training);
    if (o->kv_slots < 0 || o->kv_max_len < 0 || o->gen_max_tokens < 0)
        return CADA_ERR(CADA_ERR_ARG, "gpu model options: kv_slots %d, kv_max_len %d, gen_max_tokens %d must not be negative",
                        o->kv_slots, o->kv_max_len, o->gen_max_tokens);
    if (o->kv_slots > 0 && (o->kv_max_len <= 0 || o->gen_max_tokens <= 0))
        return CADA_ERR(CADA_ERR_ARG, "gpu model options: kv_slots %d needs kv_max_len (%d) and gen_max_tokens (%d) > 0",
                        o->kv_slots, o->kv_max_len, o->gen_max_tokens);
    if (o->gen_max_tokens > (1 << 24))
        return CADA_ERR(CADA_ERR_ARG, "gpu model options: gen_max_tokens %d above %d", o->gen_max_tokens, 1 << 24);
    if (o->max_tokens == 0 && o->kv_slots == 0)
        return CADA_ERR(CADA_ERR_ARG, "gpu model options: neither max_tokens nor kv_slots is set: the model could not run");
    return CADA_OK;
}

/* The arena's carve-outs, in allocation order. `gm` only provides the addresses the
 * pointers are written to (planning passes a zeroed scratch struct). Returns the count. */
static int build_items(const cada_model_config *c, const cada_gpu_model_options *o, const gpu_layout *y,
                       cada_gpu_model *gm, alloc_item *it) {
    const size_t n = y->n_params, C = (size_t)c->hidden_size, I = (size_t)c->intermediate_size;
    const size_t V = (size_t)c->vocab_size, H = (size_t)c->n_heads, D = (size_t)c->head_dim;
    const size_t HD = H * D, QKV = HD + 2 * (size_t)c->n_kv_heads * D, L = (size_t)c->n_layers;
    const size_t Nm = (size_t)o->max_tokens;
    const size_t n_act = o->training && !o->recompute ? L : 1, n_res = o->training ? L + 1 : 2;
    const size_t F = sizeof(float), B2 = sizeof(cada_bf16), IN = sizeof(int);
    int k = 0;
#define ITEM(field, nbytes, label, prt)                                                  \
    do {                                                                                \
        it[k].ptr = (void **)&gm->field;                                                \
        it[k].bytes = (nbytes);                                                         \
        it[k].name = (label);                                                           \
        it[k].part = (prt);                                                             \
        k++;                                                                            \
    } while (0)
    ITEM(w, n * B2, "weights (bf16)", PART_WEIGHTS);
    ITEM(inv_freq, D / 2 * F, "rope inv_freq", PART_WEIGHTS);
    if (o->training) {
        ITEM(master, n * F, "master params (fp32)", PART_MASTER);
        ITEM(grads, n * F, "grads (fp32)", PART_GRADS);
        ITEM(adam_m, n * F, "adamw m", PART_ADAM_M);
        ITEM(adam_v, n * F, "adamw v", PART_ADAM_V);
    }
    if (Nm > 0) {
        ITEM(residual, n_res * Nm * C * F, "residual stream", PART_ACT);
        ITEM(resmid, n_act * Nm * C * F, "resmid", PART_ACT);
        ITEM(xn1, n_act * Nm * C * B2, "xn1", PART_ACT);
        ITEM(rstd1, n_act * Nm * F, "rstd1", PART_ACT);
        ITEM(qkv, n_act * Nm * QKV * B2, "qkv", PART_ACT);
        ITEM(atty, n_act * Nm * HD * B2, "attention out", PART_ACT);
        ITEM(alse, n_act * Nm * H * F, "attention lse", PART_ACT);
        ITEM(xn2, n_act * Nm * C * B2, "xn2", PART_ACT);
        ITEM(rstd2, n_act * Nm * F, "rstd2", PART_ACT);
        ITEM(gu, n_act * Nm * 2 * I * B2, "gate/up", PART_ACT);
        ITEM(h, n_act * Nm * I * B2, "swiglu out", PART_ACT);
        ITEM(xf, Nm * C * B2, "final norm out", PART_ACT);
        ITEM(rstdf, Nm * F, "final rstd", PART_ACT);
        ITEM(vlse, Nm * F, "vocab lse", PART_ACT);
        ITEM(logprob, Nm * F, "logprob", PART_ACT);
        ITEM(tokens, Nm * IN, "tokens", PART_ACT);
        ITEM(pos, Nm * IN, "positions", PART_ACT);
        ITEM(targets, Nm * IN, "targets", PART_ACT);
        ITEM(entropy, Nm * F, "entropy", PART_ACT);
        ITEM(logits, Nm * V * F, "logits (fp32)", PART_LOGITS);
    }
    if (o->training) {
        ITEM(dlogits, Nm * V * B2, "dlogits (bf16)", PART_LOGITS);
        ITEM(dlogprob, Nm * F, "dlogprob", PART_SCRATCH);
        ITEM(dres, Nm * C * F, "dresidual", PART_SCRATCH);
        ITEM(dres_bf16, Nm * C * B2, "dresidual (bf16)", PART_SCRATCH);
        ITEM(dxn, Nm * C * B2, "dxn", PART_SCRATCH);
        ITEM(dqkv, Nm * QKV * B2, "dqkv", PART_SCRATCH);
        ITEM(datty, Nm * HD * B2, "datty", PART_SCRATCH);
        ITEM(dgu, Nm * 2 * I * B2, "dgu", PART_SCRATCH);
        ITEM(dh, Nm * I * B2, "dh", PART_SCRATCH);
        ITEM(attn_scratch, max_sz(attn_scratch_worst(c, o->max_tokens), ARENA_ALIGN), "attention backward scratch",
             PART_SCRATCH);
        ITEM(sqnorm_scratch, max_sz(gpu_sqnorm_scratch_bytes(n), ARENA_ALIGN), "sqnorm scratch", PART_SCRATCH);
        ITEM(sqnorm, sizeof(double), "sqnorm", PART_SCRATCH);
    } else {
        ITEM(staging, (n < STAGING_MAX_FLOATS ? n : STAGING_MAX_FLOATS) * F, "transfer staging", PART_SCRATCH);
    }
    if (o->kv_slots > 0) {
        const size_t S = (size_t)o->kv_slots, M = (size_t)o->kv_max_len, G = (size_t)o->gen_max_tokens;
        const size_t KVD = (size_t)c->n_kv_heads * D, Sp = S < G ? S : G;
        ITEM(kcache, S * L * M * KVD * B2, "kv cache K", PART_KV);
        ITEM(vcache, S * L * M * KVD * B2, "kv cache V", PART_KV);
        ITEM(ilogits, Sp * V * F, "infer logits", PART_LOGITS);
        ITEM(ix, G * C * F, "infer x", PART_SCRATCH);
        ITEM(ixn, G * C * B2, "infer xn", PART_SCRATCH);
        ITEM(irstd, G * F, "infer rstd", PART_SCRATCH);
        ITEM(iqkv, G * QKV * B2, "infer qkv", PART_SCRATCH);
        ITEM(iatty, G * HD * B2, "infer attention out", PART_SCRATCH);
        ITEM(ilse, G * H * F, "infer attention lse", PART_SCRATCH);
        ITEM(igu, G * 2 * I * B2, "infer gate/up", PART_SCRATCH);
        ITEM(ih, G * I * B2, "infer swiglu out", PART_SCRATCH);
        ITEM(ilast, Sp * C * F, "infer last rows", PART_SCRATCH);
        ITEM(ixf, Sp * C * B2, "infer final norm out", PART_SCRATCH);
        ITEM(irstdf, Sp * F, "infer final rstd", PART_SCRATCH);
        ITEM(itok, G * IN, "infer tokens", PART_SCRATCH);
        ITEM(ipos, G * IN, "infer positions", PART_SCRATCH);
        ITEM(islot, G * IN, "infer slots", PART_SCRATCH);
        ITEM(ilens, Sp * IN, "infer lengths", PART_SCRATCH);
        ITEM(dec_scratch, max_sz(decode_scratch_worst(c, (int)Sp, o->kv_max_len), ARENA_ALIGN), "decode scratch",
             PART_SCRATCH);
        ITEM(iu, Sp * F, "sample uniforms", PART_SCRATCH);
        ITEM(isampled, Sp * IN, "sampled tokens", PART_SCRATCH);
        ITEM(ilp, Sp * F, "sampled logprobs", PART_SCRATCH);
    }
#undef ITEM
    return k;
}

static void sum_parts(const alloc_item *it, int k, cada_gpu_model_plan_out *p) {
    size_t part[N_PARTS] = {0};
    for (int i = 0; i < k; i++) part[it[i].part] += round_up(it[i].bytes);
    p->weights = part[PART_WEIGHTS];
    p->master = part[PART_MASTER];
    p->grads = part[PART_GRADS];
    p->adam_m = part[PART_ADAM_M];
    p->adam_v = part[PART_ADAM_V];
    p->activations = part[PART_ACT];
    p->logits = part[PART_LOGITS];
    p->kv_cache = part[PART_KV];
    p->scratch = part[PART_SCRATCH];
    p->blas_workspace = BLAS_WORKSPACE_BYTES;
    p->arena = 0;
    for (int i = 0; i < N_PARTS; i++) p->arena += part[i];
    p->total = p->arena + p->blas_workspace;
}

cada_status cada_gpu_model_plan(const cada_model_config *cfg, const cada_gpu_model_options *opt,
                                cada_gpu_model_plan_out *p) {
    if (!p) return CADA_ERR(CADA_ERR_ARG, "gpu model plan: NULL output");
    memset(p, 0, sizeof *p);
    CADA_TRY(check_options(cfg, opt));
    gpu_layout y = layout_of(cfg);
    if ((long long)y.n_params != cada_config_param_count(cfg))
        return CADA_ERR(CADA_ERR_INTERNAL, "gpu model: layout holds %zu parameters, the configuration counts %lld",
                        y.n_params, cada_config_param_count(cfg));
    cada_gpu_model *shape = calloc(1, sizeof *shape); /* receives no pointers: only addresses */
    if (!shape) return CADA_ERR(CADA_ERR_NOMEM, "gpu model plan: out of host memory");
    alloc_item items[MAX_ITEMS];
    int k = build_items(cfg, opt, &y, shape, items);
    free(shape);
    sum_parts(items, k, p);
    p->n_params = y.n_params;
    return CADA_OK;
}

/* ---- small helpers --------------------------------------------------------------------- */

/* Layer l's copy of a per-layer tensor at layer-0 offset `off` (or a global tensor, l = 0). */
static cada_bf16 *wt(const cada_gpu_model *gm, size_t off, int l) {
    return gm->w + off + (size_t)l * gm->lay.layer_stride;
}
static float *gr(const cada_gpu_model *gm, size_t off, int l) {
    return gm->grads + off + (size_t)l * gm->lay.layer_stride;
}

/* Residual stream entering layer l (l = L: the last layer's output). */
static float *res_at(const cada_gpu_model *gm, int l) {
    size_t k = gm->opt.training ? (size_t)l : (size_t)(l & 1);
    return gm->residual + k * gm->Nmax * gm->d.C;
}

/* Layer l's saved activations (the one shared set when n_act == 1). */
typedef struct {
    float *resmid, *rstd1, *rstd2, *lse;
    cada_bf16 *xn1, *qkv, *atty, *xn2, *gu, *h;
} layer_act;

static layer_act act_of(const cada_gpu_model *gm, int l) {
    const size_t k = gm->n_act == 1 ? 0 : (size_t)l, Nm = gm->Nmax;
    const gpu_dims *d = &gm->d;
    layer_act a = {
        .resmid = gm->resmid + k * Nm * d->C,
        .rstd1 = gm->rstd1 + k * Nm,
        .rstd2 = gm->rstd2 + k * Nm,
        .lse = gm->alse + k * Nm * d->H,
        .xn1 = gm->xn1 + k * Nm * d->C,
        .qkv = gm->qkv + k * Nm * d->QKV,
        .atty = gm->atty + k * Nm * d->HD,
        .xn2 = gm->xn2 + k * Nm * d->C,
        .gu = gm->gu + k * Nm * 2 * d->I,
        .h = gm->h + k * Nm * d->I,
    };
    return a;
}

static cada_status sync_stream(cada_gpu_model *gm, const char *what) {
    CUDA_TRY_AT(cudaStreamSynchronize(gm->stream), "%s", what);
    return CADA_OK;
}

/* ---- creation ---------------------------------------------------------------------------- */

static cada_status create_common(cada_gpu_model **out, const cada_model_config *cfg, const cada_gpu_model_options *opt) {
    *out = NULL;
    cada_gpu_model_plan_out plan;
    CADA_TRY(cada_gpu_model_plan(cfg, opt, &plan));
    cada_gpu_model *gm = calloc(1, sizeof *gm);
    if (!gm) return CADA_ERR(CADA_ERR_NOMEM, "gpu model: out of host memory");
    *out = gm;
    gm->cfg = *cfg;
    gm->opt = *opt;
    gm->plan = plan;
    gm->lay = layout_of(cfg);
    gm->d = (gpu_dims){
        .L = cfg->n_layers, .C = cfg->hidden_size, .I = cfg->intermediate_size, .V = cfg->vocab_size,
        .H = cfg->n_heads, .KVH = cfg->n_kv_heads, .D = cfg->head_dim,
        .HD = cfg->n_heads * cfg->head_dim, .QKV = (cfg->n_heads + 2 * cfg->n_kv_heads) * cfg->head_dim,
        .eps = cfg->rms_eps,
    };
    gm->Nmax = (size_t)opt->max_tokens;
    gm->n_act = opt->training && !opt->recompute ? cfg->n_layers : 1;
    gm->n_res = opt->training ? cfg->n_layers + 1 : 2;
    gm->n_seq_max = opt->kv_slots < opt->gen_max_tokens ? opt->kv_slots : opt->gen_max_tokens;
    gm->slot_layer = -1;

    /* host-side arrays */
    const size_t Nm = gm->Nmax ? gm->Nmax : 1, S = opt->kv_slots ? (size_t)opt->kv_slots : 1;
    const size_t G = opt->gen_max_tokens ? (size_t)opt->gen_max_tokens : 1;
    gm->logprob_host = calloc(Nm, sizeof(float));
    gm->entropy_host = calloc(Nm, sizeof(float));
    gm->slot_len = calloc(S, sizeof(int));
    gm->h_tok = calloc(G, sizeof(int));
    gm->h_pos = calloc(G, sizeof(int));
    gm->h_slot = calloc(G, sizeof(int));
    gm->h_lens = calloc(G, sizeof(int));
    if (!gm->logprob_host || !gm->entropy_host || !gm->slot_len || !gm->h_tok || !gm->h_pos || !gm->h_slot || !gm->h_lens)
        return CADA_ERR(CADA_ERR_NOMEM, "gpu model: out of host memory for %zu tokens", Nm);

    CUDA_TRY_AT(cudaStreamCreateWithFlags(&gm->stream, cudaStreamNonBlocking), "gpu model: stream");
    gm->have_stream = 1;
    GPU_TRY(gpu_blas_create(&gm->blas, BLAS_WORKSPACE_BYTES), "gpu model: cuBLASLt handle");
    GPU_TRY(gpu_arena_create(&gm->arena, plan.arena, "model"), "gpu model: arena of %.1f MiB",
            (double)plan.arena / (1 << 20));
    alloc_item items[MAX_ITEMS];
    int k = build_items(cfg, opt, &gm->lay, gm, items);
    for (int i = 0; i < k; i++) {
        GPU_TRY(gpu_arena_alloc(gm->arena, items[i].ptr, items[i].bytes, items[i].name), "gpu model");
        if (items[i].ptr == (void **)&gm->attn_scratch) gm->attn_scratch_bytes = items[i].bytes;
        if (items[i].ptr == (void **)&gm->dec_scratch) gm->dec_scratch_bytes = items[i].bytes;
        if (items[i].ptr == (void **)&gm->staging) gm->staging_n = items[i].bytes / sizeof(float);
    }
    if (opt->training) {
        const size_t nb = gm->lay.n_params * sizeof(float);
        CUDA_TRY_AT(cudaMemsetAsync(gm->grads, 0, nb, gm->stream), "gpu model: zeroing grads");
        CUDA_TRY_AT(cudaMemsetAsync(gm->adam_m, 0, nb, gm->stream), "gpu model: zeroing adamw m");
        CUDA_TRY_AT(cudaMemsetAsync(gm->adam_v, 0, nb, gm->stream), "gpu model: zeroing adamw v");
    }

    const int half = cfg->head_dim / 2;
    float *inv = malloc(sizeof(float) * (size_t)half);
    if (!inv) return CADA_ERR(CADA_ERR_NOMEM, "gpu model: out of host memory");
    cada_config_rope_inv_freq(cfg, inv);
    cudaError_t rc = cudaMemcpyAsync(gm->inv_freq, inv, sizeof(float) * (size_t)half, cudaMemcpyHostToDevice, gm->stream);
    if (rc == cudaSuccess) rc = cudaStreamSynchronize(gm->stream);
    free(inv);
    CUDA_TRY_AT(rc, "gpu model: uploading rope inv_freq");
    return CADA_OK;
}

void cada_gpu_model_free(cada_gpu_model *gm) {
    if (!gm) return;
    if (gm->have_stream) cudaStreamSynchronize(gm->stream);
    if (gm->blas) gpu_blas_destroy(gm->blas);
    if (gm->arena) gpu_arena_destroy(gm->arena);
    if (gm->have_stream) cudaStreamDestroy(gm->stream);
    free(gm->logprob_host);
    free(gm->entropy_host);
    free(gm->slot_len);
    free(gm->h_tok);
    free(gm->h_pos);
    free(gm->h_slot);
    free(gm->h_lens);
    free(gm);
}

/* Checks that the host model's views sit where this layout puts them. */
static cada_status check_host_layout(const cada_model *m, const gpu_layout *y) {
    if (m->n_params != y->n_params)
        return CADA_ERR(CADA_ERR_INTERNAL, "gpu model: host model has %zu parameters, the GPU layout %zu", m->n_params,
                        y->n_params);
    const cada_params *p = &m->p;
    struct { const float *ptr; size_t want; const char *name; } t[] = {
        {p->embed, y->embed, "embed"},         {p->attn_norm, y->attn_norm, "attn_norm"},
        {p->qkv_w, y->qkv_w, "qkv_w"},         {p->o_w, y->o_w, "o_w"},
        {p->ffn_norm, y->ffn_norm, "ffn_norm"}, {p->gu_w, y->gu_w, "gu_w"},
        {p->down_w, y->down_w, "down_w"},      {p->final_norm, y->final_norm, "final_norm"},
        {p->lm_head, y->lm_head, "lm_head"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (!t[i].ptr || (size_t)(t[i].ptr - m->params) != t[i].want)
            return CADA_ERR(CADA_ERR_INTERNAL, "gpu model: host tensor %s is not at offset %zu of the parameter buffer",
                            t[i].name, t[i].want);
    if (y->has_bias != (p->qkv_b != NULL) || (p->qkv_b && (size_t)(p->qkv_b - m->params) != y->qkv_b))
        return CADA_ERR(CADA_ERR_INTERNAL, "gpu model: host qkv bias is not at offset %zu", y->qkv_b);
    if (p->layer_stride != y->layer_stride)
        return CADA_ERR(CADA_ERR_INTERNAL, "gpu model: host layer stride %zu, GPU layout %zu", p->layer_stride,
                        y->layer_stride);
    return CADA_OK;
}

cada_status cada_gpu_model_create(cada_gpu_model **out, const cada_model *host, const cada_gpu_model_options *opt) {
    if (!out) return CADA_ERR(CADA_ERR_ARG, "gpu model create: NULL output");
    *out = NULL;
    if (!host || !host->params) return CADA_ERR(CADA_ERR_ARG, "gpu model create: host model without parameters");
    CADA_TRY(check_options(&host->cfg, opt));
    gpu_layout y = layout_of(&host->cfg);
    CADA_TRY(check_host_layout(host, &y));
    cada_gpu_model *gm = NULL;
    cada_status st = create_common(&gm, &host->cfg, opt);
    if (st == CADA_OK) st = cada_gpu_model_upload_params(gm, host->params);
    if (st == CADA_OK) st = sync_stream(gm, "gpu model create: uploading parameters");
    if (st != CADA_OK) {
        cada_gpu_model_free(gm);
        return st;
    }
    *out = gm;
    return CADA_OK;
}

/* Random parameters on the device: every element N(0, 0.02^2), then norm weights set
 * to 1 and biases to 0. Training models draw the fp32 master and round it. */
static cada_status fill_random(cada_gpu_model *gm, uint64_t seed) {
    const gpu_layout *y = &gm->lay;
    const int L = gm->d.L, C = gm->d.C;
    const size_t n = y->n_params, QKV = (size_t)gm->d.QKV;
    cudaStream_t s = gm->stream;
    if (gm->opt.training) {
        GPU_TRY(gpu_fill_normal(gm->master, n, seed, 0.02f, s), "random init: fill");
        for (int l = 0; l < L; l++) {
            GPU_TRY(gpu_fill_f32(gm->master + y->attn_norm + (size_t)l * y->layer_stride, (size_t)C, 1.0f, s),
                    "random init: layer %d attn norm", l);
            GPU_TRY(gpu_fill_f32(gm->master + y->ffn_norm + (size_t)l * y->layer_stride, (size_t)C, 1.0f, s),
                    "random init: layer %d ffn norm", l);
            if (y->has_bias)
                GPU_TRY(gpu_fill_f32(gm->master + y->qkv_b + (size_t)l * y->layer_stride, QKV, 0.0f, s),
                        "random init: layer %d qkv bias", l);
        }
        GPU_TRY(gpu_fill_f32(gm->master + y->final_norm, (size_t)C, 1.0f, s), "random init: final norm");
        GPU_TRY(gpu_cast_f32_to_bf16(gm->w, gm->master, n, s), "random init: bf16 copy");
        return CADA_OK;
    }
    GPU_TRY(gpu_fill_normal_bf16(gm->w, n, seed, 0.02f, s), "random init: fill");
    GPU_TRY(gpu_fill_f32(gm->staging, (size_t)C, 1.0f, s), "random init: ones");
    for (int l = 0; l < L; l++) {
        GPU_TRY(gpu_cast_f32_to_bf16(wt(gm, y->attn_norm, l), gm->staging, (size_t)C, s),
                "random init: layer %d attn norm", l);
        GPU_TRY(gpu_cast_f32_to_bf16(wt(gm, y->ffn_norm, l), gm->staging, (size_t)C, s),
                "random init: layer %d ffn norm", l);
        if (y->has_bias)
            CUDA_TRY_AT(cudaMemsetAsync(wt(gm, y->qkv_b, l), 0, QKV * sizeof(cada_bf16), s),
                        "random init: layer %d qkv bias", l);
    }
    GPU_TRY(gpu_cast_f32_to_bf16(wt(gm, y->final_norm, 0), gm->staging, (size_t)C, s), "random init: final norm");
    return CADA_OK;
}

cada_status cada_gpu_model_create_random(cada_gpu_model **out, const cada_model_config *cfg, uint64_t seed,
                                         const cada_gpu_model_options *opt) {
    if (!out) return CADA_ERR(CADA_ERR_ARG, "gpu model create: NULL output");
    *out = NULL;
    cada_gpu_model *gm = NULL;
    cada_status st = create_common(&gm, cfg, opt);
    if (st == CADA_OK) st = fill_random(gm, seed);
    if (st == CADA_OK) st = sync_stream(gm, "gpu model create: random parameters");
    if (st != CADA_OK) {
        cada_gpu_model_free(gm);
        return st;
    }
    *out = gm;
    return CADA_OK;
}

/* ---- accessors ------------------------------------------------------------------------ */

void cada_gpu_model_report(const cada_gpu_model *gm) {
    gpu_arena_report(gm->arena);
    printf("cuBLASLt workspace (outside the arena): %.1f MiB\n", (double)gm->plan.blas_workspace / (1 << 20));
}
const cada_gpu_model_plan_out *cada_gpu_model_plan_of(const cada_gpu_model *gm) { return &gm->plan; }
const cada_model_config *cada_gpu_model_config(const cada_gpu_model *gm) { return &gm->cfg; }
const cada_gpu_model_options *cada_gpu_model_options_of(const cada_gpu_model *gm) { return &gm->opt; }
size_t cada_gpu_model_n_params(const cada_gpu_model *gm) { return gm->lay.n_params; }
float *cada_gpu_model_grads(cada_gpu_model *gm) { return gm->grads; }
const cada_bf16 *cada_gpu_model_weights(const cada_gpu_model *gm) { return gm->w; }
cudaStream_t cada_gpu_model_stream(const cada_gpu_model *gm) { return gm->stream; }
cada_status cada_gpu_model_sync(cada_gpu_model *gm) { return sync_stream(gm, "gpu model: synchronise"); }
const float *cada_gpu_model_logprobs(const cada_gpu_model *gm) { return gm->logprob_host; }
float cada_gpu_model_loss(const cada_gpu_model *gm, int *n_valid) {
    if (n_valid) *n_valid = gm->n_valid;
    return gm->loss;
}
long long cada_gpu_model_adamw_skipped(const cada_gpu_model *gm) { return gm->adam_skipped; }

/* ---- layer pieces shared by training and inference ------------------------------------------ */

/* xn = norm1(x); qkv = xn @ Wqkv^T (+ b); RoPE on the q heads, then on the k heads. */
static cada_status qkv_forward(cada_gpu_model *gm, int l, cada_bf16 *xn, float *rstd, const float *x, cada_bf16 *qkv,
                               const int *pos, int N) {
    const gpu_dims *d = &gm->d;
    const gpu_layout *y = &gm->lay;
    cudaStream_t s = gm->stream;
    GPU_TRY(gpu_rmsnorm_forward(xn, rstd, x, wt(gm, y->attn_norm, l), N, d->C, d->eps, s),
            "layer %d: attention norm forward", l);
    GPU_TRY(gpu_matmul_forward(gm->blas, NULL, qkv, NULL, xn, wt(gm, y->qkv_w, l),
                               y->has_bias ? wt(gm, y->qkv_b, l) : NULL, N, d->C, d->QKV, s),
            "layer %d: qkv forward", l);
    GPU_TRY(gpu_rope_forward(qkv, N, d->QKV, d->H, d->D, pos, gm->inv_freq, s), "layer %d: rope forward (q)", l);
    GPU_TRY(gpu_rope_forward(qkv + d->HD, N, d->QKV, d->KVH, d->D, pos, gm->inv_freq, s),
            "layer %d: rope forward (k)", l);
    return CADA_OK;
}

/* x_out = x_mid + down(swiglu(gu(norm2(x_mid)))); x_out == NULL stops after the SwiGLU
 * (recomputation needs nothing later). x_out may equal x_mid. */
static cada_status mlp_forward(cada_gpu_model *gm, int l, cada_bf16 *xn, float *rstd, cada_bf16 *gu, cada_bf16 *h,
                               const float *x_mid, float *x_out, int N) {
    const gpu_dims *d = &gm->d;
    const gpu_layout *y = &gm->lay;
    cudaStream_t s = gm->stream;
    GPU_TRY(gpu_rmsnorm_forward(xn, rstd, x_mid, wt(gm, y->ffn_norm, l), N, d->C, d->eps, s),
            "layer %d: ffn norm forward", l);
    GPU_TRY(gpu_matmul_forward(gm->blas, NULL, gu, NULL, xn, wt(gm, y->gu_w, l), NULL, N, d->C, 2 * d->I, s),
            "layer %d: gate/up forward", l);
    GPU_TRY(gpu_swiglu_forward(h, gu, N, d->I, s), "layer %d: swiglu forward", l);
    if (x_out)
        GPU_TRY(gpu_matmul_forward(gm->blas, x_out, NULL, x_mid, h, wt(gm, y->down_w, l), NULL, N, d->I, d->C, s),
                "layer %d: down forward", l);
    return CADA_OK;
}

/* ---- training forward ------------------------------------------------------------------------ */

/* Layer l of the training forward into its activation set; full = 0 stops before the
 * down projection (recomputation inside backward: the layer's output is already kept). */
static cada_status layer_forward(cada_gpu_model *gm, int l, int full) {
    const gpu_dims *d = &gm->d;
    const int N = gm->N;
    layer_act a = act_of(gm, l);
    float *res = res_at(gm, l);
    CADA_TRY(qkv_forward(gm, l, a.xn1, a.rstd1, res, a.qkv, gm->pos, N));
    GPU_TRY(gpu_attention_forward(a.atty, a.lse, a.qkv, gm->pos, gm->B, gm->T, d->H, d->KVH, d->D, gm->stream),
            "layer %d: attention forward", l);
    /* resmid = res + atty @ Wo^T (the residual add fused into the matmul) */
    GPU_TRY(gpu_matmul_forward(gm->blas, a.resmid, NULL, res, a.atty, wt(gm, gm->lay.o_w, l), NULL, N, d->HD, d->C,
                               gm->stream),
            "layer %d: o_proj forward", l);
    CADA_TRY(mlp_forward(gm, l, a.xn2, a.rstd2, a.gu, a.h, a.resmid, full ? res_at(gm, l + 1) : NULL, N));
    gm->slot_layer = l;
    return CADA_OK;
}

cada_status cada_gpu_model_forward(cada_gpu_model *gm, const cada_batch *b) {
    if (!gm || !b) return CADA_ERR(CADA_ERR_ARG, "gpu forward: NULL model or batch");
    if (gm->Nmax == 0)
        return CADA_ERR(CADA_ERR_ARG, "gpu forward: the model was created without forward buffers (max_tokens 0)");
    const gpu_dims *d = &gm->d;
    CADA_TRY(cada_batch_validate(b, d->V));
    if ((size_t)b->B * (size_t)b->T > gm->Nmax)
        return CADA_ERR(CADA_ERR_ARG, "gpu forward: batch %d x %d = %lld tokens exceeds max_tokens %zu", b->B, b->T,
                        (long long)b->B * b->T, gm->Nmax);
    const int N = b->B * b->T;
    cudaStream_t s = gm->stream;
    gm->forward_ready = 0;
    gm->B = b->B;
    gm->T = b->T;
    gm->N = N;
    const size_t ni = sizeof(int) * (size_t)N;
    CUDA_TRY_AT(cudaMemcpyAsync(gm->tokens, b->tokens, ni, cudaMemcpyHostToDevice, s), "gpu forward: tokens");
    CUDA_TRY_AT(cudaMemcpyAsync(gm->pos, b->positions, ni, cudaMemcpyHostToDevice, s), "gpu forward: positions");
    CUDA_TRY_AT(cudaMemcpyAsync(gm->targets, b->targets, ni, cudaMemcpyHostToDevice, s), "gpu forward: targets");

    GPU_TRY(gpu_embedding_forward(res_at(gm, 0), gm->tokens, wt(gm, gm->lay.embed, 0), N, d->C, s),
            "embedding forward");
    for (int l = 0; l < d->L; l++) CADA_TRY(layer_forward(gm, l, 1));
    GPU_TRY(gpu_rmsnorm_forward(gm->xf, gm->rstdf, res_at(gm, d->L), wt(gm, gm->lay.final_norm, 0), N, d->C, d->eps, s),
            "final norm forward");
    GPU_TRY(gpu_matmul_forward(gm->blas, gm->logits, NULL, NULL, gm->xf, wt(gm, gm->lay.lm_head, 0), NULL, N, d->C,
                               d->V, s),
            "lm head forward");
    GPU_TRY(gpu_logsoftmax_gather(gm->logprob, gm->vlse, gm->logits, gm->targets, N, d->V, s), "logsoftmax gather");
    CUDA_TRY_AT(cudaMemcpyAsync(gm->logprob_host, gm->logprob, sizeof(float) * (size_t)N, cudaMemcpyDeviceToHost, s),
                "gpu forward: logprobs");
    CADA_TRY(sync_stream(gm, "gpu forward"));

    double sum = 0.0;
    int valid = 0;
    for (int i = 0; i < N; i++)
        if (b->targets[i] >= 0) {
            sum -= gm->logprob_host[i];
            valid++;
        }
    gm->n_valid = valid;
    gm->loss = valid ? (float)(sum / valid) : 0.0f;
    gm->forward_ready = 1;
    return CADA_OK;
}

cada_status cada_gpu_model_entropy(cada_gpu_model *gm, double *sum) {
    if (!gm || !sum) return CADA_ERR(CADA_ERR_ARG, "gpu entropy: NULL model or output");
    *sum = 0.0;
    if (!gm->forward_ready) return CADA_ERR(CADA_ERR_ARG, "gpu entropy: called before a successful forward");
    const int N = gm->N;
    GPU_TRY(gpu_token_entropy(gm->entropy, gm->logits, gm->vlse, gm->targets, N, gm->d.V, gm->stream), "gpu entropy");
    CUDA_TRY_AT(cudaMemcpyAsync(gm->entropy_host, gm->entropy, sizeof(float) * (size_t)N, cudaMemcpyDeviceToHost,
                                gm->stream),
                "gpu entropy");
    CADA_TRY(sync_stream(gm, "gpu entropy"));
    double total = 0.0; /* rows without a target hold 0: the sum over the counted rows, in row order */
    for (int n = 0; n < N; n++) total += gm->entropy_host[n];
    *sum = total;
    return CADA_OK;
}

/* ---- backward ----------------------------------------------------------------------------- */

/* dlogprob -> dlogits -> LM head -> final norm; leaves dres = d/d(residual[L]). */
static cada_status head_backward(cada_gpu_model *gm) {
    const gpu_dims *d = &gm->d;
    const gpu_layout *y = &gm->lay;
    const int N = gm->N;
    cudaStream_t s = gm->stream;
    GPU_TRY(gpu_logsoftmax_gather_backward(gm->dlogits, gm->logits, gm->vlse, gm->targets, gm->dlogprob, N, d->V, s),
            "logsoftmax gather backward");
    /* with tied embeddings gr(lm_head) is the embedding's gradient */
    GPU_TRY(gpu_matmul_backward(gm->blas, gm->dxn, gr(gm, y->lm_head, 0), NULL, gm->dlogits, gm->xf,
                                wt(gm, y->lm_head, 0), N, d->C, d->V, s),
            "lm head backward");
    CUDA_TRY_AT(cudaMemsetAsync(gm->dres, 0, sizeof(float) * (size_t)N * d->C, s), "backward: zeroing dresidual");
    GPU_TRY(gpu_rmsnorm_backward(gm->dres, gr(gm, y->final_norm, 0), gm->dxn, res_at(gm, d->L),
                                 wt(gm, y->final_norm, 0), gm->rstdf, N, d->C, s),
            "final norm backward");
    return CADA_OK;
}

/* res_next = resmid + down(swiglu(gu(norm2(resmid)))): on entry dres = d/d(res_next);
 * on exit d/d(resmid) (the residual path passes it through, norm2 adds to it). */
static cada_status mlp_backward(cada_gpu_model *gm, int l, const layer_act *a) {
    const gpu_dims *d = &gm->d;
    const gpu_layout *y = &gm->lay;
    const int N = gm->N;
    cudaStream_t s = gm->stream;
    GPU_TRY(gpu_cast_f32_to_bf16(gm->dres_bf16, gm->dres, (size_t)N * d->C, s), "layer %d: dresidual to bf16", l);
    GPU_TRY(gpu_matmul_backward(gm->blas, gm->dh, gr(gm, y->down_w, l), NULL, gm->dres_bf16, a->h,
                                wt(gm, y->down_w, l), N, d->I, d->C, s),
            "layer %d: down backward", l);
    GPU_TRY(gpu_swiglu_backward(gm->dgu, gm->dh, a->gu, N, d->I, s), "layer %d: swiglu backward", l);
    GPU_TRY(gpu_matmul_backward(gm->blas, gm->dxn, gr(gm, y->gu_w, l), NULL, gm->dgu, a->xn2, wt(gm, y->gu_w, l), N,
                                d->C, 2 * d->I, s),
            "layer %d: gate/up backward", l);
    GPU_TRY(gpu_rmsnorm_backward(gm->dres, gr(gm, y->ffn_norm, l), gm->dxn, a->resmid, wt(gm, y->ffn_norm, l), a->rstd2,
                                 N, d->C, s),
            "layer %d: ffn norm backward", l);
    return CADA_OK;
}

/* resmid = res + o(attn(rope(qkv(norm1(res))))): on entry dres = d/d(resmid); on exit
 * d/d(res), the gradient entering layer l-1's backward. */
static cada_status attn_backward(cada_gpu_model *gm, int l, const layer_act *a) {
    const gpu_dims *d = &gm->d;
    const gpu_layout *y = &gm->lay;
    const int N = gm->N;
    cudaStream_t s = gm->stream;
    GPU_TRY(gpu_cast_f32_to_bf16(gm->dres_bf16, gm->dres, (size_t)N * d->C, s), "layer %d: dresidual to bf16", l);
    GPU_TRY(gpu_matmul_backward(gm->blas, gm->datty, gr(gm, y->o_w, l), NULL, gm->dres_bf16, a->atty,
                                wt(gm, y->o_w, l), N, d->HD, d->C, s),
            "layer %d: o_proj backward", l);
    GPU_TRY(gpu_attention_backward(gm->dqkv, gm->attn_scratch, gm->datty, a->atty, a->lse, a->qkv, gm->pos, gm->B,
                                   gm->T, d->H, d->KVH, d->D, s),
            "layer %d: attention backward", l);
    GPU_TRY(gpu_rope_backward(gm->dqkv, N, d->QKV, d->H, d->D, gm->pos, gm->inv_freq, s),
            "layer %d: rope backward (q)", l);
    GPU_TRY(gpu_rope_backward(gm->dqkv + d->HD, N, d->QKV, d->KVH, d->D, gm->pos, gm->inv_freq, s),
            "layer %d: rope backward (k)", l);
    GPU_TRY(gpu_matmul_backward(gm->blas, gm->dxn, gr(gm, y->qkv_w, l), y->has_bias ? gr(gm, y->qkv_b, l) : NULL,
                                gm->dqkv, a->xn1, wt(gm, y->qkv_w, l), N, d->C, d->QKV, s),
            "layer %d: qkv backward", l);
    GPU_TRY(gpu_rmsnorm_backward(gm->dres, gr(gm, y->attn_norm, l), gm->dxn, res_at(gm, l), wt(gm, y->attn_norm, l),
                                 a->rstd1, N, d->C, s),
            "layer %d: attention norm backward", l);
    return CADA_OK;
}

cada_status cada_gpu_model_backward(cada_gpu_model *gm, const float *dlogprob_host) {
    if (!gm || !dlogprob_host) return CADA_ERR(CADA_ERR_ARG, "gpu backward: NULL model or dlogprob");
    if (!gm->opt.training) return CADA_ERR(CADA_ERR_ARG, "gpu backward: the model was created without training buffers");
    if (!gm->forward_ready) return CADA_ERR(CADA_ERR_ARG, "gpu backward: called before a successful forward");
    const gpu_dims *d = &gm->d;
    size_t need = gpu_attention_backward_scratch_bytes(gm->B, gm->T, d->H, d->KVH, d->D);
    if (need > gm->attn_scratch_bytes)
        return CADA_ERR(CADA_ERR_INTERNAL, "gpu backward: attention scratch for %d x %d needs %zu bytes, %zu planned",
                        gm->B, gm->T, need, gm->attn_scratch_bytes);
    CUDA_TRY_AT(cudaMemcpyAsync(gm->dlogprob, dlogprob_host, sizeof(float) * (size_t)gm->N, cudaMemcpyHostToDevice,
                                gm->stream),
                "gpu backward: dlogprob");
    CADA_TRY(head_backward(gm));
    for (int l = d->L - 1; l >= 0; l--) {
        if (gm->n_act == 1 && gm->slot_layer != l) CADA_TRY(layer_forward(gm, l, 0)); /* recompute */
        layer_act a = act_of(gm, l);
        CADA_TRY(mlp_backward(gm, l, &a));
        CADA_TRY(attn_backward(gm, l, &a));
    }
    GPU_TRY(gpu_embedding_backward(gr(gm, gm->lay.embed, 0), gm->dres, gm->tokens, gm->N, d->C, gm->stream),
            "embedding backward");
    return CADA_OK;
}

cada_status cada_gpu_model_zero_grads(cada_gpu_model *gm) {
    if (!gm || !gm->grads) return CADA_ERR(CADA_ERR_ARG, "gpu zero_grads: the model has no gradients (training 0)");
    CUDA_TRY_AT(cudaMemsetAsync(gm->grads, 0, sizeof(float) * gm->lay.n_params, gm->stream), "gpu zero_grads");
    return CADA_OK;
}

/* ---- optimizer ---------------------------------------------------------------------------- */

cada_status cada_gpu_model_adamw_step(cada_gpu_model *gm, const cada_adamw_config *cfg, long long t,
                                      double *grad_norm_out) {
    if (!gm || !cfg) return CADA_ERR(CADA_ERR_ARG, "gpu adamw: NULL model or configuration");
    if (!gm->opt.training) return CADA_ERR(CADA_ERR_ARG, "gpu adamw: the model was created without training buffers");
    if (t < 1) return CADA_ERR(CADA_ERR_ARG, "gpu adamw: update count t = %lld, must be >= 1", t);
    if (cfg->lr < 0 || cfg->beta1 < 0 || cfg->beta1 >= 1 || cfg->beta2 < 0 || cfg->beta2 >= 1 || cfg->eps <= 0)
        return CADA_ERR(CADA_ERR_CONFIG, "gpu adamw: lr %g, betas (%g, %g), eps %g: need lr >= 0, betas in [0, 1), eps > 0",
                        cfg->lr, cfg->beta1, cfg->beta2, cfg->eps);
    const size_t n = gm->lay.n_params;
    cudaStream_t s = gm->stream;
    GPU_TRY(gpu_sqnorm(gm->sqnorm, gm->sqnorm_scratch, gm->grads, n, s), "adamw: gradient norm");
    double sq = 0.0;
    CUDA_TRY_AT(cudaMemcpyAsync(&sq, gm->sqnorm, sizeof(double), cudaMemcpyDeviceToHost, s), "adamw: gradient norm");
    CADA_TRY(sync_stream(gm, "adamw: gradient norm"));
    const double norm = sqrt(sq);
    if (grad_norm_out) *grad_norm_out = norm;
    if (!isfinite(sq)) { /* skip: parameters, m and v stay as they are */
        gm->adam_skipped++;
        return CADA_OK;
    }
    const double lr = cada_lr_at(cfg, t);
    const double clip = cada_clip_coef(cfg->max_grad_norm, norm);
    GPU_TRY(gpu_adamw_step(gm->master, gm->w, gm->grads, gm->adam_m, gm->adam_v, n, (float)lr, (float)cfg->beta1,
                           (float)cfg->beta2, (float)cfg->eps, (float)cfg->weight_decay, (float)clip, t, s),
            "adamw: update %lld", t);
    return sync_stream(gm, "adamw: update");
}

/* ---- transfers ------------------------------------------------------------------------------ */

cada_status cada_gpu_model_download_params(cada_gpu_model *gm, float *host) {
    if (!gm || !host) return CADA_ERR(CADA_ERR_ARG, "gpu download_params: NULL model or host buffer");
    const size_t n = gm->lay.n_params;
    cudaStream_t s = gm->stream;
    if (gm->master) {
        CUDA_TRY_AT(cudaMemcpyAsync(host, gm->master, sizeof(float) * n, cudaMemcpyDeviceToHost, s),
                    "gpu download_params");
    } else {
        for (size_t off = 0; off < n; off += gm->staging_n) {
            size_t cnt = n - off < gm->staging_n ? n - off : gm->staging_n;
            GPU_TRY(gpu_cast_bf16_to_f32(gm->staging, gm->w + off, cnt, s), "gpu download_params: widening");
            CUDA_TRY_AT(cudaMemcpyAsync(host + off, gm->staging, sizeof(float) * cnt, cudaMemcpyDeviceToHost, s),
                        "gpu download_params");
        }
    }
    return sync_stream(gm, "gpu download_params");
}

cada_status cada_gpu_model_download_grads(cada_gpu_model *gm, float *host) {
    if (!gm || !host) return CADA_ERR(CADA_ERR_ARG, "gpu download_grads: NULL model or host buffer");
    if (!gm->grads) return CADA_ERR(CADA_ERR_ARG, "gpu download_grads: the model has no gradients (training 0)");
    CUDA_TRY_AT(cudaMemcpyAsync(host, gm->grads, sizeof(float) * gm->lay.n_params, cudaMemcpyDeviceToHost, gm->stream),
                "gpu download_grads");
    return sync_stream(gm, "gpu download_grads");
}

cada_status cada_gpu_model_upload_params(cada_gpu_model *gm, const float *host) {
    if (!gm || !host) return CADA_ERR(CADA_ERR_ARG, "gpu upload_params: NULL model or host buffer");
    const size_t n = gm->lay.n_params;
    cudaStream_t s = gm->stream;
    if (gm->master) {
        CUDA_TRY_AT(cudaMemcpyAsync(gm->master, host, sizeof(float) * n, cudaMemcpyHostToDevice, s), "gpu upload_params");
        GPU_TRY(gpu_cast_f32_to_bf16(gm->w, gm->master, n, s), "gpu upload_params: bf16 copy");
        return CADA_OK;
    }
    /* stream order keeps each chunk's cast ahead of the next copy into the staging buffer */
    for (size_t off = 0; off < n; off += gm->staging_n) {
        size_t cnt = n - off < gm->staging_n ? n - off : gm->staging_n;
        CUDA_TRY_AT(cudaMemcpyAsync(gm->staging, host + off, sizeof(float) * cnt, cudaMemcpyHostToDevice, s),
                    "gpu upload_params");
        GPU_TRY(gpu_cast_f32_to_bf16(gm->w + off, gm->staging, cnt, s), "gpu upload_params: bf16 copy");
    }
    return CADA_OK;
}

static cada_status adamw_range(cada_gpu_model *gm, size_t offset, size_t count, const char *what) {
    if (!gm) return CADA_ERR(CADA_ERR_ARG, "%s: NULL model", what);
    if (!gm->opt.training) return CADA_ERR(CADA_ERR_ARG, "%s: the model was created without training buffers", what);
    if (offset > gm->lay.n_params || count > gm->lay.n_params - offset)
        return CADA_ERR(CADA_ERR_ARG, "%s: range [%zu, +%zu) outside the %zu parameters", what, offset, count,
                        gm->lay.n_params);
    return CADA_OK;
}

cada_status cada_gpu_model_download_adamw(cada_gpu_model *gm, size_t offset, size_t count, float *m_host,
                                          float *v_host) {
    CADA_TRY(adamw_range(gm, offset, count, "gpu download_adamw"));
    if (!m_host || !v_host) return CADA_ERR(CADA_ERR_ARG, "gpu download_adamw: NULL host buffer");
    const size_t b = sizeof(float) * count;
    CUDA_TRY_AT(cudaMemcpyAsync(m_host, gm->adam_m + offset, b, cudaMemcpyDeviceToHost, gm->stream),
                "gpu download_adamw: m");
    CUDA_TRY_AT(cudaMemcpyAsync(v_host, gm->adam_v + offset, b, cudaMemcpyDeviceToHost, gm->stream),
                "gpu download_adamw: v");
    return sync_stream(gm, "gpu download_adamw");
}

cada_status cada_gpu_model_upload_adamw(cada_gpu_model *gm, size_t offset, size_t count, const float *m_host,
                                        const float *v_host) {
    CADA_TRY(adamw_range(gm, offset, count, "gpu upload_adamw"));
    if (!m_host || !v_host) return CADA_ERR(CADA_ERR_ARG, "gpu upload_adamw: NULL host buffer");
    const size_t b = sizeof(float) * count;
    CUDA_TRY_AT(cudaMemcpyAsync(gm->adam_m + offset, m_host, b, cudaMemcpyHostToDevice, gm->stream),
                "gpu upload_adamw: m");
    CUDA_TRY_AT(cudaMemcpyAsync(gm->adam_v + offset, v_host, b, cudaMemcpyHostToDevice, gm->stream),
                "gpu upload_adamw: v");
    return CADA_OK;
}

/* ---- inference ------------------------------------------------------------------------------ */

/* One layer over the call's N rows (in gm->ix): prefill attends within the packed chunk
 * and then appends its keys/values; decode appends first, then attends to the cache. */
static cada_status infer_layer(cada_gpu_model *gm, int l, int N, int decode) {
    const gpu_dims *d = &gm->d;
    const size_t KVD = (size_t)d->KVH * d->D, M = (size_t)gm->opt.kv_max_len;
    const size_t slot_stride = (size_t)d->L * M * KVD;
    cada_bf16 *kc = gm->kcache + (size_t)l * M * KVD, *vc = gm->vcache + (size_t)l * M * KVD;
    cudaStream_t s = gm->stream;
    CADA_TRY(qkv_forward(gm, l, gm->ixn, gm->irstd, gm->ix, gm->iqkv, gm->ipos, N));
    if (decode) {
        GPU_TRY(gpu_kv_append(kc, vc, slot_stride, gm->iqkv, gm->islot, gm->ipos, N, d->H, d->KVH, d->D, s),
                "layer %d: kv append", l);
        GPU_TRY(gpu_attention_decode(gm->iatty, gm->dec_scratch, gm->iqkv, kc, vc, slot_stride, gm->islot, gm->ilens, N,
                                     d->H, d->KVH, d->D, gm->opt.kv_max_len, s),
                "layer %d: attention decode", l);
    } else {
        GPU_TRY(gpu_attention_forward(gm->iatty, gm->ilse, gm->iqkv, gm->ipos, 1, N, d->H, d->KVH, d->D, s),
                "layer %d: attention forward (prefill)", l);
        GPU_TRY(gpu_kv_append(kc, vc, slot_stride, gm->iqkv, gm->islot, gm->ipos, N, d->H, d->KVH, d->D, s),
                "layer %d: kv append", l);
    }
    GPU_TRY(gpu_matmul_forward(gm->blas, gm->ix, NULL, gm->ix, gm->iatty, wt(gm, gm->lay.o_w, l), NULL, N, d->HD, d->C,
                               s),
            "layer %d: o_proj forward", l);
    return mlp_forward(gm, l, gm->ixn, gm->irstd, gm->igu, gm->ih, gm->ix, gm->ix, N);
}

/* Checks the call as cada_model_infer does, decides prefill or decode, and fills the
 * host row arrays. Returns N through *n_rows. */
static cada_status infer_plan_rows(cada_gpu_model *gm, const cada_infer_seq *seqs, int n_seqs, int *n_rows,
                                   int *decode) {
    const int S = gm->opt.kv_slots, M = gm->opt.kv_max_len, G = gm->opt.gen_max_tokens, V = gm->d.V;
    if (!seqs || n_seqs <= 0 || n_seqs > gm->n_seq_max)
        return CADA_ERR(CADA_ERR_ARG, "gpu infer: %d sequences; 1 to %d per call (kv_slots %d, gen_max_tokens %d)", n_seqs,
                        gm->n_seq_max, S, G);
    int all_one = 1, all_empty = 1, N = 0;
    for (int s = 0; s < n_seqs; s++) {
        const cada_infer_seq *q = &seqs[s];
        if (q->slot < 0 || q->slot >= S)
            return CADA_ERR(CADA_ERR_ARG, "gpu infer: sequence %d names slot %d of %d", s, q->slot, S);
        for (int o = 0; o < s; o++)
            if (seqs[o].slot == q->slot) return CADA_ERR(CADA_ERR_ARG, "gpu infer: slot %d used twice in one call", q->slot);
        const int len = gm->slot_len[q->slot];
        if (q->n_tokens <= 0 || len + q->n_tokens > M)
            return CADA_ERR(CADA_ERR_ARG, "gpu infer: slot %d holds %d tokens; %d more exceed its %d (the context limit)",
                            q->slot, len, q->n_tokens, M);
        if (N + q->n_tokens > G)
            return CADA_ERR(CADA_ERR_ARG, "gpu infer: more than %d new tokens in one call (gen_max_tokens)", G);
        if (!q->tokens) return CADA_ERR(CADA_ERR_ARG, "gpu infer: slot %d: NULL tokens", q->slot);
        for (int j = 0; j < q->n_tokens; j++) {
            if (q->tokens[j] < 0 || q->tokens[j] >= V)
                return CADA_ERR(CADA_ERR_ARG, "gpu infer: slot %d token %d is %d, outside the vocabulary [0, %d)", q->slot,
                                j, q->tokens[j], V);
            gm->h_tok[N + j] = q->tokens[j];
            gm->h_pos[N + j] = len + j;
            gm->h_slot[N + j] = q->slot;
        }
        gm->h_lens[s] = len + q->n_tokens; /* decode: row s attends to [0, len] */
        all_one &= q->n_tokens == 1;
        all_empty &= len == 0;
        N += q->n_tokens;
    }
    if (!all_one && !all_empty) {
        for (int s = 0; s < n_seqs; s++)
            if (gm->slot_len[seqs[s].slot] > 0 && seqs[s].n_tokens > 1)
                return CADA_ERR(CADA_ERR_UNSUPPORTED,
                                "gpu infer: slot %d brings %d tokens after %d cached; a call is either a prefill (every "
                                "slot empty) or a decode step (one token per sequence)",
                                seqs[s].slot, seqs[s].n_tokens, gm->slot_len[seqs[s].slot]);
        return CADA_ERR(CADA_ERR_UNSUPPORTED,
                        "gpu infer: a call mixes prompts into empty slots with decode steps of running slots; a call is "
                        "either a prefill (every slot empty) or a decode step (one token per sequence)");
    }
    *n_rows = N;
    *decode = all_one;
    return CADA_OK;
}

cada_status cada_gpu_model_infer(cada_gpu_model *gm, const cada_infer_seq *seqs, int n_seqs, float *logits_host) {
    if (!gm) return CADA_ERR(CADA_ERR_ARG, "gpu infer: NULL model");
    if (gm->opt.kv_slots == 0) return CADA_ERR(CADA_ERR_ARG, "gpu infer: the model was created without a KV cache");
    const gpu_dims *d = &gm->d;
    cudaStream_t s = gm->stream;
    int N = 0, decode = 0;
    gm->last_infer_n = 0;
    CADA_TRY(infer_plan_rows(gm, seqs, n_seqs, &N, &decode));
    if (decode) {
        size_t need = gpu_attention_decode_scratch_bytes(N, d->H, d->D, gm->opt.kv_max_len);
        if (need > gm->dec_scratch_bytes)
            return CADA_ERR(CADA_ERR_INTERNAL, "gpu infer: decode scratch for %d rows needs %zu bytes, %zu planned", N, need,
                            gm->dec_scratch_bytes);
    }
    const size_t ni = sizeof(int) * (size_t)N;
    CUDA_TRY_AT(cudaMemcpyAsync(gm->itok, gm->h_tok, ni, cudaMemcpyHostToDevice, s), "gpu infer: tokens");
    CUDA_TRY_AT(cudaMemcpyAsync(gm->ipos, gm->h_pos, ni, cudaMemcpyHostToDevice, s), "gpu infer: positions");
    CUDA_TRY_AT(cudaMemcpyAsync(gm->islot, gm->h_slot, ni, cudaMemcpyHostToDevice, s), "gpu infer: slots");
    CUDA_TRY_AT(cudaMemcpyAsync(gm->ilens, gm->h_lens, sizeof(int) * (size_t)n_seqs, cudaMemcpyHostToDevice, s),
                "gpu infer: lengths");

    GPU_TRY(gpu_embedding_forward(gm->ix, gm->itok, wt(gm, gm->lay.embed, 0), N, d->C, s), "infer: embedding forward");
    for (int l = 0; l < d->L; l++) CADA_TRY(infer_layer(gm, l, N, decode));

    /* final norm and LM head for each sequence's last token only */
    const float *last = gm->ix; /* decode: one row per sequence already */
    if (!decode) {
        int r = 0;
        for (int q = 0; q < n_seqs; q++) {
            r += seqs[q].n_tokens;
            CUDA_TRY_AT(cudaMemcpyAsync(gm->ilast + (size_t)q * d->C, gm->ix + (size_t)(r - 1) * d->C,
                                        sizeof(float) * (size_t)d->C, cudaMemcpyDeviceToDevice, s),
                        "gpu infer: gathering last rows");
        }
        last = gm->ilast;
    }
    GPU_TRY(gpu_rmsnorm_forward(gm->ixf, gm->irstdf, last, wt(gm, gm->lay.final_norm, 0), n_seqs, d->C, d->eps, s),
            "infer: final norm forward");
    GPU_TRY(gpu_matmul_forward(gm->blas, gm->ilogits, NULL, NULL, gm->ixf, wt(gm, gm->lay.lm_head, 0), NULL, n_seqs,
                               d->C, d->V, s),
            "infer: lm head forward");
    if (logits_host) {
        CUDA_TRY_AT(cudaMemcpyAsync(logits_host, gm->ilogits, sizeof(float) * (size_t)n_seqs * d->V,
                                    cudaMemcpyDeviceToHost, s),
                    "gpu infer: logits");
        CADA_TRY(sync_stream(gm, "gpu infer"));
    }
    for (int q = 0; q < n_seqs; q++) gm->slot_len[seqs[q].slot] += seqs[q].n_tokens;
    gm->last_infer_n = n_seqs;
    return CADA_OK;
}

cada_status cada_gpu_model_sample(cada_gpu_model *gm, int n_seqs, const float *u_host, const cada_sampling *sp,
                                  int *tokens_host, float *logprob_host) {
    if (!gm || !u_host || !sp || !tokens_host)
        return CADA_ERR(CADA_ERR_ARG, "gpu sample: NULL model, uniforms, sampling settings or token output");
    if (n_seqs <= 0 || n_seqs > gm->last_infer_n)
        return CADA_ERR(CADA_ERR_ARG, "gpu sample: %d rows requested; the last infer call left %d", n_seqs,
                        gm->last_infer_n);
    cudaStream_t s = gm->stream;
    const size_t n = (size_t)n_seqs;
    CUDA_TRY_AT(cudaMemcpyAsync(gm->iu, u_host, sizeof(float) * n, cudaMemcpyHostToDevice, s), "gpu sample: uniforms");
    GPU_TRY(gpu_sample(gm->isampled, gm->ilp, gm->ilogits, gm->iu, n_seqs, gm->d.V, sp->temperature, sp->top_k,
                       sp->top_p, s),
            "gpu sample");
    CUDA_TRY_AT(cudaMemcpyAsync(tokens_host, gm->isampled, sizeof(int) * n, cudaMemcpyDeviceToHost, s),
                "gpu sample: tokens");
    if (logprob_host)
        CUDA_TRY_AT(cudaMemcpyAsync(logprob_host, gm->ilp, sizeof(float) * n, cudaMemcpyDeviceToHost, s),
                    "gpu sample: logprobs");
    return sync_stream(gm, "gpu sample");
}

cada_status cada_gpu_model_clear_slot(cada_gpu_model *gm, int slot) {
    if (!gm || slot < 0 || slot >= gm->opt.kv_slots)
        return CADA_ERR(CADA_ERR_ARG, "gpu clear_slot: slot %d outside [0, %d)", slot, gm ? gm->opt.kv_slots : 0);
    gm->slot_len[slot] = 0;
    return CADA_OK;
}

int cada_gpu_model_slot_len(const cada_gpu_model *gm, int slot) {
    if (!gm || slot < 0 || slot >= gm->opt.kv_slots) return -1;
    return gm->slot_len[slot];
}

/* ---- accounting ------------------------------------------------------------------------------ */

double cada_gpu_model_flops_per_token(const cada_model_config *c, int T, int training) {
    const double V = c->vocab_size, C = c->hidden_size;
    /* parameters without the input embedding, with the LM head (tied or not) */
    const double embed = V * C * (c->tie_embeddings ? 1.0 : 2.0);
    const double P = (double)cada_config_param_count(c) - embed + V * C;
    const double attn = (double)c->n_layers * c->n_heads * c->head_dim * (double)T; /* L H D T, full T x T */
    return training ? 6.0 * P + 12.0 * attn : 2.0 * P + 4.0 * attn;
}

#endif /* CADA_HAVE_CUDA */
