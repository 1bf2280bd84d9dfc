/* model/model.c: see model.h. Shapes: N = B*T tokens, C hidden, I intermediate,
 * H/KVH heads, D head dim, QKV = (H + 2 KVH) D, V vocabulary, L layers. */
#define _POSIX_C_SOURCE 200809L
#include "base/cpu.h"
#include "model/model.h"
#include "model/tp.h"

#include "base/arena.h"
#include "base/log.h"
#include "ops/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- parameters ------------------------------------------------------------------------ */

/* Sizes in floats of one layer's tensors, in their order inside the layer block. */
typedef struct {
    size_t attn_norm, qkv_w, qkv_b, o_w, ffn_norm, gu_w, down_w;
} layer_sizes;

static layer_sizes layer_sizes_of(const cada_model_config *c) {
    size_t C = (size_t)c->hidden_size, I = (size_t)c->intermediate_size, D = (size_t)c->head_dim;
    size_t QKV = (size_t)(c->n_heads + 2 * c->n_kv_heads) * D;
    layer_sizes s = {
        .attn_norm = C,
        .qkv_w = QKV * C,
        .qkv_b = c->qkv_bias ? QKV : 0,
        .o_w = C * (size_t)c->n_heads * D,
        .ffn_norm = C,
        .gu_w = 2 * I * C,
        .down_w = C * I,
    };
    return s;
}

static size_t layer_total(layer_sizes s) {
    return s.attn_norm + s.qkv_w + s.qkv_b + s.o_w + s.ffn_norm + s.gu_w + s.down_w;
}

static size_t total_params(const cada_model_config *c) {
    size_t V = (size_t)c->vocab_size, C = (size_t)c->hidden_size;
    return V * C + (size_t)c->n_layers * layer_total(layer_sizes_of(c)) + C + (c->tie_embeddings ? 0 : V * C);
}

static void carve(cada_params *p, float *buf, const cada_model_config *c) {
    layer_sizes s = layer_sizes_of(c);
    float *q = buf;
    p->embed = q; q += (size_t)c->vocab_size * c->hidden_size;
    p->layer_stride = layer_total(s);
    float *layer0 = q;
    p->attn_norm = q; q += s.attn_norm;
    p->qkv_w = q; q += s.qkv_w;
    p->qkv_b = s.qkv_b ? q : NULL; q += s.qkv_b;
    p->o_w = q; q += s.o_w;
    p->ffn_norm = q; q += s.ffn_norm;
    p->gu_w = q; q += s.gu_w;
    p->down_w = q; q += s.down_w;
    q = layer0 + (size_t)c->n_layers * p->layer_stride;
    p->final_norm = q; q += c->hidden_size;
    p->lm_head = c->tie_embeddings ? p->embed : q;
}

void cada_model_layer_range(const cada_model *m, int l, size_t *offset, size_t *count) {
    *offset = (size_t)(m->p.attn_norm - m->params) + (size_t)l * m->p.layer_stride;
    *count = m->p.layer_stride;
}

cada_status cada_model_init(cada_model *m, const cada_model_config *cfg) {
    memset(m, 0, sizeof *m);
    CADA_TRY(cada_config_validate(cfg, "model configuration"));
    m->cfg = *cfg;
    m->n_params = total_params(cfg);
    m->params = CADA_CALLOC(m->n_params, sizeof(float), "model parameters");
    cada_advise_huge_pages(m->params, m->n_params * sizeof(float)); /* every pass streams them */
    m->inv_freq = CADA_MALLOC(sizeof(float) * (size_t)(cfg->head_dim / 2), "RoPE frequencies");
    if (!m->params || !m->inv_freq) {
        cada_model_free(m);
        return CADA_ERR_NOMEM;
    }
    carve(&m->p, m->params, cfg);
    cada_config_rope_inv_freq(cfg, m->inv_freq);
    return CADA_OK;
}

void cada_model_swap_weights(cada_model *a, cada_model *b) {
    float *params = a->params;
    cada_params p = a->p;
    struct cada_infer_weights *bf16 = a->bf16;
    a->params = b->params, a->p = b->p, a->bf16 = b->bf16;
    b->params = params, b->p = p, b->bf16 = bf16;
}

static void free_activations(cada_activations *a) {
    free(a->residual); /* the arena's base: every activation lives in it */
    memset(a, 0, sizeof *a);
}

void cada_model_free(cada_model *m) {
    free(m->params);
    free(m->grads);
    free(m->inv_freq);
    free_activations(&m->act);
    free(m->bf16); /* one allocation, header and matrices (model/infer_weights.h) */
    memset(m, 0, sizeof *m);
}

cada_status cada_model_alloc_grads(cada_model *m) {
    if (m->grads) return CADA_OK;
    m->grads = CADA_CALLOC(m->n_params, sizeof(float), "model gradients");
    if (!m->grads) return CADA_ERR_NOMEM;
    carve(&m->g, m->grads, &m->cfg);
    return CADA_OK;
}

void cada_model_zero_grads(cada_model *m) {
    if (m->grads) memset(m->grads, 0, sizeof(float) * m->n_params);
}

int cada_model_tensor_views(const cada_model_config *c, const cada_params *p, cada_tensor_view *views) {
    const int L = c->n_layers, C = c->hidden_size, I = c->intermediate_size, D = c->head_dim;
    const int H = c->n_heads, KVH = c->n_kv_heads;
    const int permute = c->arch == CADA_ARCH_LLAMA; /* llama.cpp permutes Llama's q, k only */
    int n = 0;
#define VIEW(hf, gg, ptr, r, cc, perm, heads)                                             \
    do {                                                                                 \
        if (views) {                                                                     \
            cada_tensor_view *v = &views[n];                                             \
            snprintf(v->hf_name, sizeof v->hf_name, "%s", hf);                           \
            snprintf(v->gguf_name, sizeof v->gguf_name, "%s", gg);                       \
            v->data = (ptr);                                                             \
            v->rows = (r);                                                               \
            v->cols = (cc);                                                              \
            v->ndim = (cc) == 1 ? 1 : 2;                                                 \
            v->rope_permuted = (perm);                                                   \
            v->n_rope_heads = (heads);                                                   \
        }                                                                                \
        n++;                                                                             \
    } while (0)
#define P(field, offset) (p ? p->field + (offset) : NULL)
#define PL(field, offset) (p ? CADA_LAYER(p, field, l) + (offset) : NULL)
    char hf[96], gg[64];
    VIEW("model.embed_tokens.weight", "token_embd.weight", P(embed, 0), c->vocab_size, C, 0, 0);
    for (int l = 0; l < L; l++) {
        snprintf(hf, sizeof hf, "model.layers.%d.input_layernorm.weight", l);
        snprintf(gg, sizeof gg, "blk.%d.attn_norm.weight", l);
        VIEW(hf, gg, PL(attn_norm, 0), C, 1, 0, 0);
        snprintf(hf, sizeof hf, "model.layers.%d.self_attn.q_proj.weight", l);
        snprintf(gg, sizeof gg, "blk.%d.attn_q.weight", l);
        VIEW(hf, gg, PL(qkv_w, 0), H * D, C, permute, H);
        snprintf(hf, sizeof hf, "model.layers.%d.self_attn.k_proj.weight", l);
        snprintf(gg, sizeof gg, "blk.%d.attn_k.weight", l);
        VIEW(hf, gg, PL(qkv_w, (size_t)H * D * C), KVH * D, C, permute, KVH);
        snprintf(hf, sizeof hf, "model.layers.%d.self_attn.v_proj.weight", l);
        snprintf(gg, sizeof gg, "blk.%d.attn_v.weight", l);
        VIEW(hf, gg, PL(qkv_w, (size_t)(H + KVH) * D * C), KVH * D, C, 0, 0);
        if (c->qkv_bias) {
            snprintf(hf, sizeof hf, "model.layers.%d.self_attn.q_proj.bias", l);
            snprintf(gg, sizeof gg, "blk.%d.attn_q.bias", l);
            VIEW(hf, gg, PL(qkv_b, 0), H * D, 1, 0, 0);
            snprintf(hf, sizeof hf, "model.layers.%d.self_attn.k_proj.bias", l);
            snprintf(gg, sizeof gg, "blk.%d.attn_k.bias", l);
            VIEW(hf, gg, PL(qkv_b, (size_t)H * D), KVH * D, 1, 0, 0);
            snprintf(hf, sizeof hf, "model.layers.%d.self_attn.v_proj.bias", l);
            snprintf(gg, sizeof gg, "blk.%d.attn_v.bias", l);
            VIEW(hf, gg, PL(qkv_b, (size_t)(H + KVH) * D), KVH * D, 1, 0, 0);
        }
        snprintf(hf, sizeof hf, "model.layers.%d.self_attn.o_proj.weight", l);
        snprintf(gg, sizeof gg, "blk.%d.attn_output.weight", l);
        VIEW(hf, gg, PL(o_w, 0), C, H * D, 0, 0);
        snprintf(hf, sizeof hf, "model.layers.%d.post_attention_layernorm.weight", l);
        snprintf(gg, sizeof gg, "blk.%d.ffn_norm.weight", l);
        VIEW(hf, gg, PL(ffn_norm, 0), C, 1, 0, 0);
        snprintf(hf, sizeof hf, "model.layers.%d.mlp.gate_proj.weight", l);
        snprintf(gg, sizeof gg, "blk.%d.ffn_gate.weight", l);
        VIEW(hf, gg, PL(gu_w, 0), I, C, 0, 0);
        snprintf(hf, sizeof hf, "model.layers.%d.mlp.up_proj.weight", l);
        snprintf(gg, sizeof gg, "blk.%d.ffn_up.weight", l);
        VIEW(hf, gg, PL(gu_w, (size_t)I * C), I, C, 0, 0);
        snprintf(hf, sizeof hf, "model.layers.%d.mlp.down_proj.weight", l);
        snprintf(gg, sizeof gg, "blk.%d.ffn_down.weight", l);
        VIEW(hf, gg, PL(down_w, 0), C, I, 0, 0);
    }
    VIEW("model.norm.weight", "output_norm.weight", P(final_norm, 0), C, 1, 0, 0);
    if (!c->tie_embeddings) VIEW("lm_head.weight", "output.weight", P(lm_head, 0), c->vocab_size, C, 0, 0);
#undef P
#undef PL
#undef VIEW
    return n;
}

/* ---- batches and activations ------------------------------------------------------------- */

cada_status cada_batch_validate(const cada_batch *b, int V) {
    if (b->B <= 0 || b->T <= 0 || (int64_t)b->B * b->T > (1 << 24))
        return CADA_ERR(CADA_ERR_ARG, "batch: %d rows x %d tokens is out of range", b->B, b->T);
    for (int r = 0; r < b->B; r++) {
        for (int t = 0; t < b->T; t++) {
            int64_t i = (int64_t)r * b->T + t;
            int tok = b->tokens[i], pos = b->positions[i], tgt = b->targets[i];
            if (tok < 0 || tok >= V)
                return CADA_ERR(CADA_ERR_ARG, "batch row %d column %d: token %d outside the vocabulary [0, %d)", r, t, tok, V);
            if (tgt < -1 || tgt >= V)
                return CADA_ERR(CADA_ERR_ARG, "batch row %d column %d: target %d outside [-1, %d)", r, t, tgt, V);
            int want_next = t == 0 ? 0 : b->positions[i - 1] + 1;
            if (pos != 0 && pos != want_next)
                return CADA_ERR(CADA_ERR_ARG,
                                "batch row %d column %d: position %d neither starts a document (0) nor continues one (%d)",
                                r, t, pos, want_next);
        }
    }
    return CADA_OK;
}

cada_status cada_model_set_options(cada_model *m, const cada_model_options *o) {
    if (o->matmul_bf16 != 0 && o->matmul_bf16 != 1)
        return CADA_ERR(CADA_ERR_ARG, "model options: matmul_bf16 = %d, must be 0 or 1", o->matmul_bf16);
    if (o->recompute != 0 && o->recompute != 1)
        return CADA_ERR(CADA_ERR_ARG, "model options: recompute = %d, must be 0 or 1", o->recompute);
    if (o->logits_chunk < 0)
        return CADA_ERR(CADA_ERR_ARG, "model options: logits_chunk = %d, must be 0 (all rows) or positive", o->logits_chunk);
    if (o->targets_only != 0 && o->targets_only != 1)
        return CADA_ERR(CADA_ERR_ARG, "model options: targets_only = %d, must be 0 or 1", o->targets_only);
    free_activations(&m->act);
    m->opt = *o;
    return CADA_OK;
}

/* The activation arena's blocks for a (B, T) batch under options o: fills ptr/bytes
 * pairs (pointers into a, which may be a scratch struct when only sizes are wanted) and
 * returns their count. One list for allocating and for planning. */
typedef struct {
    void **ptr;
    size_t bytes;
} act_block;
#define ACT_BLOCKS 33

static int activation_plan(const cada_model_config *c, int B, int T, const cada_model_options *o, cada_activations *a,
                           act_block *plan) {
    const size_t L = (size_t)c->n_layers, C = (size_t)c->hidden_size, I = (size_t)c->intermediate_size;
    const size_t V = (size_t)c->vocab_size, H = (size_t)c->n_heads, D = (size_t)c->head_dim;
    const size_t QKV = (size_t)(c->n_heads + 2 * c->n_kv_heads) * D;
    const size_t N = (size_t)B * T;
    const size_t Lk = o->recompute ? 1 : L;
    const size_t R = o->logits_chunk > 0 && (size_t)o->logits_chunk < N ? (size_t)o->logits_chunk : N;
    const act_block list[ACT_BLOCKS] = {
        {(void **)&a->residual, sizeof(float) * (L + 1) * N * C},
        {(void **)&a->resmid, sizeof(float) * Lk * N * C},
        {(void **)&a->xn1, sizeof(float) * Lk * N * C},
        {(void **)&a->rstd1, sizeof(float) * Lk * N},
        {(void **)&a->qkv, sizeof(float) * Lk * N * QKV},
        {(void **)&a->attlse, sizeof(float) * Lk * B * H * T},
        {(void **)&a->atty, sizeof(float) * Lk * N * H * D},
        {(void **)&a->xn2, sizeof(float) * Lk * N * C},
        {(void **)&a->rstd2, sizeof(float) * Lk * N},
        {(void **)&a->gu, sizeof(float) * Lk * N * 2 * I},
        {(void **)&a->h, sizeof(float) * Lk * N * I},
        {(void **)&a->xf, sizeof(float) * N * C},
        {(void **)&a->rstdf, sizeof(float) * N},
        {(void **)&a->logits, sizeof(float) * R * V},
        {(void **)&a->lse, sizeof(float) * N},
        {(void **)&a->logprob, sizeof(float) * N},
        {(void **)&a->tokens, sizeof(int) * N},
        {(void **)&a->pos, sizeof(int) * N},
        {(void **)&a->targets, sizeof(int) * N},
        {(void **)&a->rope_cs, sizeof(float) * N * c->head_dim},
        {(void **)&a->dres, sizeof(float) * N * C},
        {(void **)&a->dxn, sizeof(float) * N * C},
        {(void **)&a->dqkv, sizeof(float) * N * QKV},
        {(void **)&a->datty, sizeof(float) * N * H * D},
        {(void **)&a->dgu, sizeof(float) * N * 2 * I},
        {(void **)&a->dh, sizeof(float) * N * I},
        {(void **)&a->lm_rows, sizeof(int) * N},
        /* targets_only: one chunk of the rows with a target, gathered */
        {(void **)&a->sel_x, o->targets_only ? sizeof(float) * R * C : 0},
        {(void **)&a->sel_dx, o->targets_only ? sizeof(float) * R * C : 0},
        {(void **)&a->sel_lp, o->targets_only ? sizeof(float) * R : 0},
        {(void **)&a->sel_lse, o->targets_only ? sizeof(float) * R : 0},
        {(void **)&a->sel_dlp, o->targets_only ? sizeof(float) * R : 0},
        {(void **)&a->sel_tgt, o->targets_only ? sizeof(int) * R : 0},
    };
    memcpy(plan, list, sizeof list);
    a->Lk = (int)Lk;
    a->logit_rows = (int)R;
    return ACT_BLOCKS;
}

size_t cada_model_activation_bytes(const cada_model_config *c, int B, int T, const cada_model_options *o) {
    cada_activations scratch;
    act_block plan[ACT_BLOCKS];
    const int n = activation_plan(c, B, T, o, &scratch, plan);
    size_t total = 0;
    for (int i = 0; i < n; i++) total += cada_arena_round(plan[i].bytes);
    return total;
}

static cada_status ensure_activations(cada_model *m, int B, int T) {
    cada_activations *a = &m->act;
    if (a->residual && B == a->B && T == a->T) return CADA_OK;
    free_activations(a);
    act_block plan[ACT_BLOCKS];
    const int n_plan = activation_plan(&m->cfg, B, T, &m->opt, a, plan);
    size_t total = 0;
    for (int i = 0; i < n_plan; i++) total += cada_arena_round(plan[i].bytes);
    cada_arena arena;
    cada_status st = cada_arena_init(&arena, total, "activations");
    if (st != CADA_OK) {
        cada_error_wrap("batch %d x %d", B, T);
        return st;
    }
    for (int i = 0; i < n_plan; i++) *plan[i].ptr = cada_arena_alloc(&arena, plan[i].bytes);
    /* a->residual is the arena's first block, i.e. its base: freeing it frees all. */
    a->B = B;
    a->T = T;
    a->bytes = total;
    /* attention keeps one log-sum-exp per (layer, row, head, query) for backward; the
     * (T, T) probabilities it replaces would have been Lk B H T^2 floats more */
    const size_t BHT = (size_t)B * m->cfg.n_heads * T;
    CADA_DEBUG("activations for %d x %d tokens: %.1f MiB (%d of %d layers kept, logits %d rows; attention saves lse, "
               "%.1f MiB, not probabilities, %.1f MiB)",
               B, T, (double)total / (1 << 20), a->Lk, m->cfg.n_layers, a->logit_rows,
               (double)(sizeof(float) * a->Lk * BHT) / (1 << 20), (double)(sizeof(float) * a->Lk * BHT * T) / (1 << 20));
    return CADA_OK;
}

/* ---- forward ---------------------------------------------------------------------------- */

int cada_model_vocab(const cada_model *m) { return m->tp ? m->tp->vocab_size : m->cfg.vocab_size; }

/* A partial (N, C) sum made whole over the tensor-parallel group (tp.h); nothing
 * without one. */
static cada_status tp_sum(const cada_model *m, float *buf, size_t n) {
    return m->tp ? m->tp->allreduce_sum(m->tp->ctx, buf, n) : CADA_OK;
}

/* Layer l's activation buffers: slot l, or slot 0 when only one layer is kept. */
typedef struct {
    float *res, *res_next, *resmid, *xn1, *rstd1, *qkv, *attlse, *atty, *xn2, *rstd2, *gu, *h;
} layer_acts;

static layer_acts layer_acts_of(const cada_model *m, int l) {
    const cada_model_config *c = &m->cfg;
    const cada_activations *a = &m->act;
    const size_t N = (size_t)a->B * a->T, NC = N * (size_t)c->hidden_size, I = (size_t)c->intermediate_size;
    const size_t H = (size_t)c->n_heads, D = (size_t)c->head_dim, QKV = (size_t)(c->n_heads + 2 * c->n_kv_heads) * D;
    const size_t k = a->Lk == 1 ? 0 : (size_t)l;
    layer_acts x = {
        .res = a->residual + (size_t)l * NC,
        .res_next = a->residual + (size_t)(l + 1) * NC,
        .resmid = a->resmid + k * NC,
        .xn1 = a->xn1 + k * NC,
        .rstd1 = a->rstd1 + k * N,
        .qkv = a->qkv + k * N * QKV,
        .attlse = a->attlse + k * N * H,
        .atty = a->atty + k * N * H * D,
        .xn2 = a->xn2 + k * NC,
        .rstd2 = a->rstd2 + k * N,
        .gu = a->gu + k * N * 2 * I,
        .h = a->h + k * N * I,
    };
    return x;
}

/* Per-layer pointers (of parameters or gradients) into `block` (one layer's worth of
 * floats, laid out as layer blocks of the parameter buffer are): CADA_LAYER(out, f, 0). */
static void layer_view(const cada_params *g, float *block, cada_params *out) {
    *out = *g;
    out->layer_stride = 0;
    out->attn_norm = block;
    out->qkv_w = block + (g->qkv_w - g->attn_norm);
    out->qkv_b = g->qkv_b ? block + (g->qkv_b - g->attn_norm) : NULL;
    out->o_w = block + (g->o_w - g->attn_norm);
    out->ffn_norm = block + (g->ffn_norm - g->attn_norm);
    out->gu_w = block + (g->gu_w - g->attn_norm);
    out->down_w = block + (g->down_w - g->attn_norm);
}

/* Layer l's parameters as a view: from the param source when one is set, else from
 * the parameter buffer. */
static cada_params layer_params(const cada_model *m, int l, int next) {
    size_t off, count;
    cada_model_layer_range(m, l, &off, &count);
    const float *block = m->param_source ? m->param_source->layer(m->param_source->ctx, l, next) : m->params + off;
    cada_params v;
    layer_view(&m->p, (float *)block, &v);
    return v;
}

/* The linear layers in the precision the options chose (cada_model_options). */
static void linear_forward(const cada_model *m, float *out, const float *inp, const float *w, const float *bias, int N,
                           int C, int OC) {
    if (m->opt.matmul_bf16) matmul_forward_bf16(out, inp, w, bias, N, C, OC);
    else matmul_forward(out, inp, w, bias, N, C, OC);
}
static void linear_backward(const cada_model *m, float *dinp, float *dw, float *db, const float *dout, const float *inp,
                            const float *w, int N, int C, int OC) {
    if (m->opt.matmul_bf16) matmul_backward_bf16(dinp, dw, db, dout, inp, w, N, C, OC);
    else matmul_backward(dinp, dw, db, dout, inp, w, N, C, OC);
}

/* Layer l's forward from residual[l] into its buffers, with its parameters p (a layer
 * view: CADA_LAYER(p, f, 0)); with write_output, also
 * residual[l + 1] (a recomputation skips it: backward needs h, not the down
 * projection's output). */
static cada_status layer_forward(cada_model *m, int l, const cada_params *p, int write_output) {
    const cada_model_config *c = &m->cfg;
    cada_activations *a = &m->act;
    const int B = a->B, T = a->T, N = B * T;
    const int C = c->hidden_size, I = c->intermediate_size;
    const int H = c->n_heads, KVH = c->n_kv_heads, D = c->head_dim, QKV = (H + 2 * KVH) * D;
    const int64_t NC = (int64_t)N * C;
    layer_acts x = layer_acts_of(m, l);

    rmsnorm_forward(x.xn1, x.rstd1, x.res, CADA_LAYER(p, attn_norm, 0), N, C, c->rms_eps);
    linear_forward(m, x.qkv, x.xn1, CADA_LAYER(p, qkv_w, 0), CADA_LAYER(p, qkv_b, 0), N, C, QKV);
    rope_forward_angles(x.qkv, N, QKV, H + KVH, D, a->rope_cs); /* q and k heads, side by side in a row */
    CADA_TRY(attention_forward(x.atty, x.attlse, x.qkv, a->pos, B, T, H, KVH, D));
    linear_forward(m, x.resmid, x.atty, CADA_LAYER(p, o_w, 0), NULL, N, H * D, C);
    CADA_TRY(tp_sum(m, x.resmid, (size_t)NC)); /* o_proj: rows split over the group */
    residual_forward(x.resmid, x.resmid, x.res, NC);

    rmsnorm_forward(x.xn2, x.rstd2, x.resmid, CADA_LAYER(p, ffn_norm, 0), N, C, c->rms_eps);
    linear_forward(m, x.gu, x.xn2, CADA_LAYER(p, gu_w, 0), NULL, N, C, 2 * I);
    swiglu_forward(x.h, x.gu, N, I);
    if (write_output) {
        linear_forward(m, x.res_next, x.h, CADA_LAYER(p, down_w, 0), NULL, N, I, C);
        CADA_TRY(tp_sum(m, x.res_next, (size_t)NC)); /* down: rows split over the group */
        residual_forward(x.res_next, x.res_next, x.resmid, NC);
    }
    return CADA_OK;
}

/* The LM head's rows: every row, or (opt.targets_only) those with a target, as indices
 * into the batch in act.lm_rows[0..n_lm). */
static void select_lm_rows(cada_activations *a, const int *targets, int N, int targets_only) {
    int n = 0;
    for (int i = 0; i < N; i++)
        if (!targets_only || targets[i] >= 0) a->lm_rows[n++] = i;
    a->n_lm = n;
}

/* The LM head's input for chunk [k0, k0 + rows) of the selected rows: xf's rows in place
 * when every row is selected, else gathered into act.sel_x (with their targets). */
static const float *lm_chunk_input(cada_model *m, int k0, int rows) {
    cada_activations *a = &m->act;
    const int C = m->cfg.hidden_size;
    if (!m->opt.targets_only) return a->xf + (size_t)k0 * C;
    for (int i = 0; i < rows; i++) {
        const int r = a->lm_rows[k0 + i];
        memcpy(a->sel_x + (size_t)i * C, a->xf + (size_t)r * C, sizeof(float) * (size_t)C);
        a->sel_tgt[i] = a->targets[r];
    }
    return a->sel_x;
}

/* Logits of chunk [k0, k0 + rows) of the selected rows into act.logits. */
static void logits_chunk_forward(cada_model *m, int k0, int rows) {
    const int C = m->cfg.hidden_size, V = m->cfg.vocab_size;
    linear_forward(m, m->act.logits, lm_chunk_input(m, k0, rows), m->p.lm_head, NULL, rows, C, V);
}

cada_status cada_model_forward(cada_model *m, const cada_batch *b) { return cada_model_forward_observed(m, b, NULL); }

cada_status cada_model_forward_observed(cada_model *m, const cada_batch *b, const cada_logits_observer *obs) {
    const cada_model_config *c = &m->cfg;
    CADA_TRY(cada_batch_validate(b, cada_model_vocab(m)));
    CADA_TRY(ensure_activations(m, b->B, b->T));
    cada_activations *a = &m->act;
    const cada_params *p = &m->p;
    const int N = b->B * b->T, L = c->n_layers, C = c->hidden_size, V = c->vocab_size;

    memcpy(a->tokens, b->tokens, sizeof(int) * N);
    memcpy(a->pos, b->positions, sizeof(int) * N);
    rope_angles(a->rope_cs, N, c->head_dim, a->pos, m->inv_freq);
    memcpy(a->targets, b->targets, sizeof(int) * N);

    if (m->tp) CADA_TRY(cada_tp_embedding_forward(m->tp, a->residual, b->tokens, p->embed, N, C));
    else embedding_forward(a->residual, b->tokens, p->embed, N, C);
    for (int l = 0; l < L; l++) {
        const cada_params lp = layer_params(m, l, l + 1 < L ? l + 1 : -1);
        CADA_TRY(layer_forward(m, l, &lp, 1));
    }
    rmsnorm_forward(a->xf, a->rstdf, a->residual + (size_t)L * N * C, p->final_norm, N, C, c->rms_eps);
    const int sel = m->opt.targets_only;
    select_lm_rows(a, b->targets, N, sel);
    if (sel) {
        memset(a->logprob, 0, sizeof(float) * (size_t)N);
        memset(a->lse, 0, sizeof(float) * (size_t)N);
    }
    for (int k0 = 0; k0 < a->n_lm; k0 += a->logit_rows) {
        const int rows = a->n_lm - k0 < a->logit_rows ? a->n_lm - k0 : a->logit_rows;
        logits_chunk_forward(m, k0, rows);
        /* (rows) outputs: in place for every row, else gathered and put back */
        float *lp = sel ? a->sel_lp : a->logprob + k0, *lse = sel ? a->sel_lse : a->lse + k0;
        const int *tgt = sel ? a->sel_tgt : b->targets + k0;
        if (m->tp) CADA_TRY(cada_tp_logsoftmax_gather(m->tp, lp, lse, a->logits, tgt, rows, V));
        else logsoftmax_gather(lp, lse, a->logits, tgt, rows, V);
        for (int i = 0; sel && i < rows; i++) {
            a->logprob[a->lm_rows[k0 + i]] = lp[i];
            a->lse[a->lm_rows[k0 + i]] = lse[i];
        }
        if (obs && obs->fn) obs->fn(obs->ctx, a->logits, lse, a->lm_rows + k0, rows);
    }

    double sum = 0.0;
    int valid = 0;
    for (int i = 0; i < N; i++)
        if (b->targets[i] >= 0) {
            sum -= a->logprob[i];
            valid++;
        }
    m->n_valid = valid;
    m->loss = valid ? (float)(sum / valid) : 0.0f;
    return CADA_OK;
}

void cada_ce_dlogprob(const int *targets, int n, float *dlogprob) {
    int valid = 0;
    for (int i = 0; i < n; i++) valid += targets[i] >= 0;
    for (int i = 0; i < n; i++) dlogprob[i] = targets[i] >= 0 ? -1.0f / (float)valid : 0.0f;
}

/* ---- backward --------------------------------------------------------------------------- */

cada_status cada_model_backward(cada_model *m, const float *dlogprob) {
    return cada_model_backward_hooked(m, dlogprob, NULL);
}

cada_status cada_model_backward_hooked(cada_model *m, const float *dlogprob, const cada_backward_hooks *hooks) {
    cada_activations *a = &m->act;
    if (!a->residual) return CADA_ERR(CADA_ERR_ARG, "backward called before forward");
    CADA_TRY(cada_model_alloc_grads(m));
    const cada_model_config *c = &m->cfg;
    const cada_params *P = &m->p, *g_full = &m->g; /* the whole buffer's views (layers: lp below) */
    const size_t head_off = (size_t)(m->g.final_norm - m->grads);
    const int B = a->B, T = a->T, N = B * T;
    const int L = c->n_layers, C = c->hidden_size, I = c->intermediate_size, V = c->vocab_size;
    const int H = c->n_heads, KVH = c->n_kv_heads, D = c->head_dim, QKV = (H + 2 * KVH) * D;
    const size_t NC = (size_t)N * C;

    /* logits -> dlogits in place, chunk by chunk (the forward's last chunk is still in
     * the buffer when there is one chunk; others are computed again); then the LM head
     * and the final norm */
    memset(a->dxn, 0, sizeof(float) * NC);
    const int sel = m->opt.targets_only;
    for (int k0 = 0; k0 < a->n_lm; k0 += a->logit_rows) {
        const int rows = a->n_lm - k0 < a->logit_rows ? a->n_lm - k0 : a->logit_rows;
        /* the chunk's logits (one chunk: still in the buffer, and its rows still gathered) */
        if (a->logit_rows < a->n_lm) logits_chunk_forward(m, k0, rows);
        const float *x = sel ? a->sel_x : a->xf + (size_t)k0 * C;
        const float *lse = a->lse + k0, *dlp = dlogprob + k0;
        const int *tgt = a->targets + k0;
        for (int i = 0; sel && i < rows; i++) {
            const int r = a->lm_rows[k0 + i];
            a->sel_lse[i] = a->lse[r], a->sel_dlp[i] = dlogprob[r], a->sel_tgt[i] = a->targets[r];
        }
        if (sel) lse = a->sel_lse, dlp = a->sel_dlp, tgt = a->sel_tgt;
        if (m->tp) cada_tp_logsoftmax_gather_backward(m->tp, a->logits, lse, tgt, dlp, rows, V);
        else logsoftmax_gather_backward(a->logits, lse, tgt, dlp, rows, V);
        float *dx = sel ? a->sel_dx : a->dxn + (size_t)k0 * C;
        if (sel) memset(dx, 0, sizeof(float) * (size_t)rows * C);
        linear_backward(m, dx, g_full->lm_head, NULL, a->logits, x, P->lm_head, rows, C, V);
        for (int i = 0; sel && i < rows; i++)
            memcpy(a->dxn + (size_t)a->lm_rows[k0 + i] * C, dx + (size_t)i * C, sizeof(float) * (size_t)C);
    }
    CADA_TRY(tp_sum(m, a->dxn, NC)); /* the LM head's vocabulary columns */
    memset(a->dres, 0, sizeof(float) * NC);
    rmsnorm_backward(a->dres, g_full->final_norm, a->dxn, a->residual + (size_t)L * NC, P->final_norm, a->rstdf, N, C);
    if (hooks && hooks->range_done) hooks->range_done(hooks->ctx, head_off, m->n_params - head_off);

    /* a->dres holds d/d(residual[l+1]) entering layer l's backward */
    for (int l = L - 1; l >= 0; l--) {
        const cada_params lp = layer_params(m, l, l - 1);
        const cada_params *p = &lp; /* this layer's parameters: CADA_LAYER(p, field, 0) */
        /* recompute: one slot holds the forward's last layer; the others are run again */
        if (a->Lk == 1 && l < L - 1) CADA_TRY(layer_forward(m, l, p, 0));
        const layer_acts x = layer_acts_of(m, l);
        size_t layer_off, layer_count;
        cada_model_layer_range(m, l, &layer_off, &layer_count);
        float *block = hooks && hooks->layer_grads ? hooks->layer_grads(hooks->ctx, l) : m->grads + layer_off;
        cada_params gl;
        layer_view(g_full, block, &gl);
        const cada_params *g = &gl; /* this layer's gradients: CADA_LAYER(g, field, 0) */

        /* MLP: res_next = resmid + down(swiglu(gu(norm2(resmid)))) */
        memset(a->dh, 0, sizeof(float) * (size_t)N * I);
        linear_backward(m, a->dh, CADA_LAYER(g, down_w, 0), NULL, a->dres, x.h, CADA_LAYER(p, down_w, 0), N, I, C);
        swiglu_backward(a->dgu, a->dh, x.gu, N, I);
        memset(a->dxn, 0, sizeof(float) * NC);
        linear_backward(m, a->dxn, CADA_LAYER(g, gu_w, 0), NULL, a->dgu, x.xn2, CADA_LAYER(p, gu_w, 0), N, C, 2 * I);
        CADA_TRY(tp_sum(m, a->dxn, NC)); /* gate/up: output columns split over the group */
        /* dres (now for resmid) += norm2 backward */
        rmsnorm_backward(a->dres, CADA_LAYER(g, ffn_norm, 0), a->dxn, x.resmid, CADA_LAYER(p, ffn_norm, 0), x.rstd2, N, C);

        /* attention: resmid = res + o(attn(rope(qkv(norm1(res))))) */
        memset(a->datty, 0, sizeof(float) * (size_t)N * H * D);
        linear_backward(m, a->datty, CADA_LAYER(g, o_w, 0), NULL, a->dres, x.atty, CADA_LAYER(p, o_w, 0), N, H * D, C);
        CADA_TRY(attention_backward(a->dqkv, a->datty, x.atty, x.attlse, x.qkv, a->pos, B, T, H, KVH, D));
        rope_backward_angles(a->dqkv, N, QKV, H + KVH, D, a->rope_cs);
        memset(a->dxn, 0, sizeof(float) * NC);
        linear_backward(m, a->dxn, CADA_LAYER(g, qkv_w, 0), CADA_LAYER(g, qkv_b, 0), a->dqkv, x.xn1, CADA_LAYER(p, qkv_w, 0), N, C,
                        QKV);
        CADA_TRY(tp_sum(m, a->dxn, NC)); /* qkv: whole heads per rank */
        rmsnorm_backward(a->dres, CADA_LAYER(g, attn_norm, 0), a->dxn, x.res, CADA_LAYER(p, attn_norm, 0), x.rstd1, N, C);
        if (hooks && hooks->range_done) hooks->range_done(hooks->ctx, layer_off, layer_count);
    }
    if (m->tp) cada_tp_embedding_backward(m->tp, g_full->embed, a->dres, a->tokens, N, C);
    else embedding_backward(g_full->embed, a->dres, a->tokens, N, C);
    if (hooks && hooks->range_done) hooks->range_done(hooks->ctx, 0, (size_t)(P->attn_norm - m->params));
    return CADA_OK;
}
