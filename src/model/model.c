/* model/model.c: see model.h. Shapes: N = B*T tokens, C hidden, I intermediate,
 * H/KVH heads, D head dim, QKV = (H + 2 KVH) D, V vocabulary, L layers. */
#define _POSIX_C_SOURCE 200809L
#include "model/model.h"

#include "base/arena.h"
#include "base/log.h"
#include "ops/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- parameters ------------------------------------------------------------------------ */

typedef struct {
    size_t embed, attn_norm, qkv_w, qkv_b, o_w, ffn_norm, gu_w, down_w, final_norm, lm_head;
} param_sizes;

static param_sizes sizes_of(const cada_model_config *c) {
    size_t L = (size_t)c->n_layers, C = (size_t)c->hidden_size, I = (size_t)c->intermediate_size;
    size_t V = (size_t)c->vocab_size, D = (size_t)c->head_dim;
    size_t QKV = (size_t)(c->n_heads + 2 * c->n_kv_heads) * D;
    param_sizes s = {
        .embed = V * C,
        .attn_norm = L * C,
        .qkv_w = L * QKV * C,
        .qkv_b = c->qkv_bias ? L * QKV : 0,
        .o_w = L * C * (size_t)c->n_heads * D,
        .ffn_norm = L * C,
        .gu_w = L * 2 * I * C,
        .down_w = L * C * I,
        .final_norm = C,
        .lm_head = c->tie_embeddings ? 0 : V * C,
    };
    return s;
}

static size_t total_of(param_sizes s) {
    return s.embed + s.attn_norm + s.qkv_w + s.qkv_b + s.o_w + s.ffn_norm + s.gu_w + s.down_w +
           s.final_norm + s.lm_head;
}

static void carve(cada_params *p, float *buf, const cada_model_config *c) {
    param_sizes s = sizes_of(c);
    float *q = buf;
    p->embed = q; q += s.embed;
    p->attn_norm = q; q += s.attn_norm;
    p->qkv_w = q; q += s.qkv_w;
    p->qkv_b = s.qkv_b ? q : NULL; q += s.qkv_b;
    p->o_w = q; q += s.o_w;
    p->ffn_norm = q; q += s.ffn_norm;
    p->gu_w = q; q += s.gu_w;
    p->down_w = q; q += s.down_w;
    p->final_norm = q; q += s.final_norm;
    p->lm_head = s.lm_head ? q : p->embed;
}

cada_status cada_model_init(cada_model *m, const cada_model_config *cfg) {
    memset(m, 0, sizeof *m);
    CADA_TRY(cada_config_validate(cfg, "model configuration"));
    m->cfg = *cfg;
    m->n_params = total_of(sizes_of(cfg));
    m->params = CADA_CALLOC(m->n_params, sizeof(float), "model parameters");
    m->inv_freq = CADA_MALLOC(sizeof(float) * (size_t)(cfg->head_dim / 2), "RoPE frequencies");
    if (!m->params || !m->inv_freq) {
        cada_model_free(m);
        return CADA_ERR_NOMEM;
    }
    carve(&m->p, m->params, cfg);
    cada_config_rope_inv_freq(cfg, m->inv_freq);
    return CADA_OK;
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
    const int H = c->n_heads, KVH = c->n_kv_heads, QKV = (H + 2 * KVH) * D;
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
    char hf[96], gg[64];
    VIEW("model.embed_tokens.weight", "token_embd.weight", P(embed, 0), c->vocab_size, C, 0, 0);
    for (int l = 0; l < L; l++) {
        size_t qkv0 = (size_t)l * QKV * C;
        snprintf(hf, sizeof hf, "model.layers.%d.input_layernorm.weight", l);
        snprintf(gg, sizeof gg, "blk.%d.attn_norm.weight", l);
        VIEW(hf, gg, P(attn_norm, (size_t)l * C), C, 1, 0, 0);
        snprintf(hf, sizeof hf, "model.layers.%d.self_attn.q_proj.weight", l);
        snprintf(gg, sizeof gg, "blk.%d.attn_q.weight", l);
        VIEW(hf, gg, P(qkv_w, qkv0), H * D, C, permute, H);
        snprintf(hf, sizeof hf, "model.layers.%d.self_attn.k_proj.weight", l);
        snprintf(gg, sizeof gg, "blk.%d.attn_k.weight", l);
        VIEW(hf, gg, P(qkv_w, qkv0 + (size_t)H * D * C), KVH * D, C, permute, KVH);
        snprintf(hf, sizeof hf, "model.layers.%d.self_attn.v_proj.weight", l);
        snprintf(gg, sizeof gg, "blk.%d.attn_v.weight", l);
        VIEW(hf, gg, P(qkv_w, qkv0 + (size_t)(H + KVH) * D * C), KVH * D, C, 0, 0);
        if (c->qkv_bias) {
            size_t b0 = (size_t)l * QKV;
            snprintf(hf, sizeof hf, "model.layers.%d.self_attn.q_proj.bias", l);
            snprintf(gg, sizeof gg, "blk.%d.attn_q.bias", l);
            VIEW(hf, gg, P(qkv_b, b0), H * D, 1, 0, 0);
            snprintf(hf, sizeof hf, "model.layers.%d.self_attn.k_proj.bias", l);
            snprintf(gg, sizeof gg, "blk.%d.attn_k.bias", l);
            VIEW(hf, gg, P(qkv_b, b0 + (size_t)H * D), KVH * D, 1, 0, 0);
            snprintf(hf, sizeof hf, "model.layers.%d.self_attn.v_proj.bias", l);
            snprintf(gg, sizeof gg, "blk.%d.attn_v.bias", l);
            VIEW(hf, gg, P(qkv_b, b0 + (size_t)(H + KVH) * D), KVH * D, 1, 0, 0);
        }
        snprintf(hf, sizeof hf, "model.layers.%d.self_attn.o_proj.weight", l);
        snprintf(gg, sizeof gg, "blk.%d.attn_output.weight", l);
        VIEW(hf, gg, P(o_w, (size_t)l * C * H * D), C, H * D, 0, 0);
        snprintf(hf, sizeof hf, "model.layers.%d.post_attention_layernorm.weight", l);
        snprintf(gg, sizeof gg, "blk.%d.ffn_norm.weight", l);
        VIEW(hf, gg, P(ffn_norm, (size_t)l * C), C, 1, 0, 0);
        snprintf(hf, sizeof hf, "model.layers.%d.mlp.gate_proj.weight", l);
        snprintf(gg, sizeof gg, "blk.%d.ffn_gate.weight", l);
        VIEW(hf, gg, P(gu_w, (size_t)l * 2 * I * C), I, C, 0, 0);
        snprintf(hf, sizeof hf, "model.layers.%d.mlp.up_proj.weight", l);
        snprintf(gg, sizeof gg, "blk.%d.ffn_up.weight", l);
        VIEW(hf, gg, P(gu_w, (size_t)l * 2 * I * C + (size_t)I * C), I, C, 0, 0);
        snprintf(hf, sizeof hf, "model.layers.%d.mlp.down_proj.weight", l);
        snprintf(gg, sizeof gg, "blk.%d.ffn_down.weight", l);
        VIEW(hf, gg, P(down_w, (size_t)l * C * I), C, I, 0, 0);
    }
    VIEW("model.norm.weight", "output_norm.weight", P(final_norm, 0), C, 1, 0, 0);
    if (!c->tie_embeddings) VIEW("lm_head.weight", "output.weight", P(lm_head, 0), c->vocab_size, C, 0, 0);
#undef P
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

static cada_status ensure_activations(cada_model *m, int B, int T) {
    cada_activations *a = &m->act;
    if (a->residual && B == a->B && T == a->T) return CADA_OK;
    free_activations(a);
    const cada_model_config *c = &m->cfg;
    const size_t L = (size_t)c->n_layers, C = (size_t)c->hidden_size, I = (size_t)c->intermediate_size;
    const size_t V = (size_t)c->vocab_size, H = (size_t)c->n_heads, D = (size_t)c->head_dim;
    const size_t QKV = (size_t)(c->n_heads + 2 * c->n_kv_heads) * D;
    const size_t N = (size_t)B * T, TT = (size_t)T * T;
    struct { void **ptr; size_t bytes; } plan[] = {
        {(void **)&a->residual, sizeof(float) * (L + 1) * N * C},
        {(void **)&a->resmid, sizeof(float) * L * N * C},
        {(void **)&a->xn1, sizeof(float) * L * N * C},
        {(void **)&a->rstd1, sizeof(float) * L * N},
        {(void **)&a->qkv, sizeof(float) * L * N * QKV},
        {(void **)&a->att, sizeof(float) * L * B * H * TT},
        {(void **)&a->atty, sizeof(float) * L * N * H * D},
        {(void **)&a->xn2, sizeof(float) * L * N * C},
        {(void **)&a->rstd2, sizeof(float) * L * N},
        {(void **)&a->gu, sizeof(float) * L * N * 2 * I},
        {(void **)&a->h, sizeof(float) * L * N * I},
        {(void **)&a->xf, sizeof(float) * N * C},
        {(void **)&a->rstdf, sizeof(float) * N},
        {(void **)&a->logits, sizeof(float) * N * V},
        {(void **)&a->lse, sizeof(float) * N},
        {(void **)&a->logprob, sizeof(float) * N},
        {(void **)&a->tokens, sizeof(int) * N},
        {(void **)&a->pos, sizeof(int) * N},
        {(void **)&a->targets, sizeof(int) * N},
        {(void **)&a->dres, sizeof(float) * N * C},
        {(void **)&a->dxn, sizeof(float) * N * C},
        {(void **)&a->dqkv, sizeof(float) * N * QKV},
        {(void **)&a->datty, sizeof(float) * N * H * D},
        {(void **)&a->dgu, sizeof(float) * N * 2 * I},
        {(void **)&a->dh, sizeof(float) * N * I},
        {(void **)&a->datt, sizeof(float) * TT},
    };
    const int n_plan = (int)(sizeof plan / sizeof plan[0]);
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
    CADA_DEBUG("activations for %d x %d tokens: %.1f MiB", B, T, (double)total / (1 << 20));
    return CADA_OK;
}

/* ---- forward ---------------------------------------------------------------------------- */

cada_status cada_model_forward(cada_model *m, const cada_batch *b) {
    const cada_model_config *c = &m->cfg;
    CADA_TRY(cada_batch_validate(b, c->vocab_size));
    CADA_TRY(ensure_activations(m, b->B, b->T));
    cada_activations *a = &m->act;
    const cada_params *p = &m->p;
    const int B = b->B, T = b->T, N = B * T;
    const int L = c->n_layers, C = c->hidden_size, I = c->intermediate_size, V = c->vocab_size;
    const int H = c->n_heads, KVH = c->n_kv_heads, D = c->head_dim, QKV = (H + 2 * KVH) * D;
    const size_t NC = (size_t)N * C;

    memcpy(a->tokens, b->tokens, sizeof(int) * N);
    memcpy(a->pos, b->positions, sizeof(int) * N);
    memcpy(a->targets, b->targets, sizeof(int) * N);

    embedding_forward(a->residual, b->tokens, p->embed, N, C);
    for (int l = 0; l < L; l++) {
        float *res = a->residual + l * NC, *res_next = a->residual + (l + 1) * NC;
        float *resmid = a->resmid + l * NC;
        float *xn1 = a->xn1 + l * NC, *xn2 = a->xn2 + l * NC;
        float *qkv = a->qkv + (size_t)l * N * QKV;
        float *att = a->att + (size_t)l * B * H * T * T;
        float *atty = a->atty + (size_t)l * N * H * D;
        float *gu = a->gu + (size_t)l * N * 2 * I, *h = a->h + (size_t)l * N * I;

        rmsnorm_forward(xn1, a->rstd1 + (size_t)l * N, res, p->attn_norm + (size_t)l * C, N, C, c->rms_eps);
        matmul_forward(qkv, xn1, p->qkv_w + (size_t)l * QKV * C, p->qkv_b ? p->qkv_b + (size_t)l * QKV : NULL, N, C, QKV);
        rope_forward(qkv, N, QKV, H, D, b->positions, m->inv_freq);          /* q heads */
        rope_forward(qkv + H * D, N, QKV, KVH, D, b->positions, m->inv_freq); /* k heads */
        attention_forward(atty, att, qkv, b->positions, B, T, H, KVH, D);
        matmul_forward(resmid, atty, p->o_w + (size_t)l * C * H * D, NULL, N, H * D, C);
        residual_forward(resmid, resmid, res, (int64_t)NC);

        rmsnorm_forward(xn2, a->rstd2 + (size_t)l * N, resmid, p->ffn_norm + (size_t)l * C, N, C, c->rms_eps);
        matmul_forward(gu, xn2, p->gu_w + (size_t)l * 2 * I * C, NULL, N, C, 2 * I);
        swiglu_forward(h, gu, N, I);
        matmul_forward(res_next, h, p->down_w + (size_t)l * C * I, NULL, N, I, C);
        residual_forward(res_next, res_next, resmid, (int64_t)NC);
    }
    rmsnorm_forward(a->xf, a->rstdf, a->residual + (size_t)L * NC, p->final_norm, N, C, c->rms_eps);
    matmul_forward(a->logits, a->xf, p->lm_head, NULL, N, C, V);
    logsoftmax_gather(a->logprob, a->lse, a->logits, b->targets, N, V);

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
    cada_activations *a = &m->act;
    if (!a->residual) return CADA_ERR(CADA_ERR_ARG, "backward called before forward");
    CADA_TRY(cada_model_alloc_grads(m));
    const cada_model_config *c = &m->cfg;
    const cada_params *p = &m->p, *g = &m->g;
    const int B = a->B, T = a->T, N = B * T;
    const int L = c->n_layers, C = c->hidden_size, I = c->intermediate_size, V = c->vocab_size;
    const int H = c->n_heads, KVH = c->n_kv_heads, D = c->head_dim, QKV = (H + 2 * KVH) * D;
    const size_t NC = (size_t)N * C;

    /* logits -> dlogits in place; then the LM head and the final norm */
    logsoftmax_gather_backward(a->logits, a->lse, a->targets, dlogprob, N, V);
    memset(a->dxn, 0, sizeof(float) * NC);
    matmul_backward(a->dxn, g->lm_head, NULL, a->logits, a->xf, p->lm_head, N, C, V);
    memset(a->dres, 0, sizeof(float) * NC);
    rmsnorm_backward(a->dres, g->final_norm, a->dxn, a->residual + (size_t)L * NC, p->final_norm, a->rstdf, N, C);

    /* a->dres holds d/d(residual[l+1]) entering layer l's backward */
    for (int l = L - 1; l >= 0; l--) {
        float *res = a->residual + l * NC, *resmid = a->resmid + l * NC;
        float *xn1 = a->xn1 + l * NC, *xn2 = a->xn2 + l * NC;
        float *qkv = a->qkv + (size_t)l * N * QKV;
        float *att = a->att + (size_t)l * B * H * T * T;
        float *atty = a->atty + (size_t)l * N * H * D;
        float *gu = a->gu + (size_t)l * N * 2 * I, *h = a->h + (size_t)l * N * I;

        /* MLP: res_next = resmid + down(swiglu(gu(norm2(resmid)))) */
        memset(a->dh, 0, sizeof(float) * (size_t)N * I);
        matmul_backward(a->dh, g->down_w + (size_t)l * C * I, NULL, a->dres, h, p->down_w + (size_t)l * C * I, N, I, C);
        swiglu_backward(a->dgu, a->dh, gu, N, I);
        memset(a->dxn, 0, sizeof(float) * NC);
        matmul_backward(a->dxn, g->gu_w + (size_t)l * 2 * I * C, NULL, a->dgu, xn2, p->gu_w + (size_t)l * 2 * I * C, N, C, 2 * I);
        /* dres (now for resmid) += norm2 backward */
        rmsnorm_backward(a->dres, g->ffn_norm + (size_t)l * C, a->dxn, resmid, p->ffn_norm + (size_t)l * C,
                         a->rstd2 + (size_t)l * N, N, C);

        /* attention: resmid = res + o(attn(rope(qkv(norm1(res))))) */
        memset(a->datty, 0, sizeof(float) * (size_t)N * H * D);
        matmul_backward(a->datty, g->o_w + (size_t)l * C * H * D, NULL, a->dres, atty, p->o_w + (size_t)l * C * H * D, N, H * D, C);
        attention_backward(a->dqkv, a->datt, a->datty, att, qkv, a->pos, B, T, H, KVH, D);
        rope_backward(a->dqkv, N, QKV, H, D, a->pos, m->inv_freq);
        rope_backward(a->dqkv + H * D, N, QKV, KVH, D, a->pos, m->inv_freq);
        memset(a->dxn, 0, sizeof(float) * NC);
        matmul_backward(a->dxn, g->qkv_w + (size_t)l * QKV * C, g->qkv_b ? g->qkv_b + (size_t)l * QKV : NULL, a->dqkv, xn1,
                        p->qkv_w + (size_t)l * QKV * C, N, C, QKV);
        rmsnorm_backward(a->dres, g->attn_norm + (size_t)l * C, a->dxn, res, p->attn_norm + (size_t)l * C,
                         a->rstd1 + (size_t)l * N, N, C);
    }
    embedding_backward(g->embed, a->dres, a->tokens, N, C);
    return CADA_OK;
}
