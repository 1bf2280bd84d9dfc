/* model/tp.c: slicing a model over a tensor-parallel group, and the group's pieces of
 * the forward and backward passes (see tp.h). */
#include "model/tp.h"

#include "ops/ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

cada_status cada_tp_local_config(const cada_model_config *full, int P, cada_model_config *local) {
    if (P < 1) return CADA_ERR(CADA_ERR_ARG, "tensor parallel size %d is not positive", P);
    const struct {
        const char *name;
        int value;
    } dims[] = {
        {"num_attention_heads", full->n_heads},
        {"num_key_value_heads", full->n_kv_heads},
        {"intermediate_size", full->intermediate_size},
        {"vocab_size", full->vocab_size},
    };
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        if (dims[i].value % P)
            return CADA_ERR(CADA_ERR_ARG, "tensor parallel size %d does not divide the model's %s (%d): each rank needs an "
                            "equal whole part", P, dims[i].name, dims[i].value);
    *local = *full;
    local->n_heads /= P;
    local->n_kv_heads /= P;
    local->intermediate_size /= P;
    local->vocab_size /= P;
    return CADA_OK;
}

/* ---- the MPI (cada_comm) transport ---------------------------------------------------- */

static cada_status comm_sum(void *ctx, float *buf, size_t n) { return cada_comm_allreduce(ctx, buf, n, CADA_RED_SUM); }

static cada_status comm_gather(void *ctx, float *buf, size_t n_each) {
    cada_comm *c = ctx;
    cada_shards sh;
    cada_shards_init(&sh, n_each * (size_t)cada_comm_size(c), cada_comm_size(c), 1); /* shards of exactly n_each */
    return cada_comm_allgather(c, &sh, buf);
}

static cada_status comm_sum_f64(void *ctx, double *buf, int n) {
    return cada_comm_allreduce_f64(ctx, buf, n, CADA_RED_SUM);
}

cada_status cada_tp_init_comm(cada_tp *tp, cada_comm *group, const cada_model_config *full) {
    cada_model_config local;
    CADA_TRY(cada_tp_local_config(full, cada_comm_size(group), &local));
    cada_comm_set_fixed_order(group, 1);
    memset(tp, 0, sizeof *tp);
    tp->rank = cada_comm_rank(group);
    tp->size = cada_comm_size(group);
    tp->vocab_size = full->vocab_size;
    tp->vocab_offset = tp->rank * local.vocab_size;
    tp->allreduce_sum = comm_sum;
    tp->allgather = comm_gather;
    tp->allreduce_sum_f64 = comm_sum_f64;
    tp->ctx = group;
    return CADA_OK;
}

/* ---- the gradient norm --------------------------------------------------------------- */

static double sqsum(const float *g, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)g[i] * g[i];
    return s;
}

double cada_tp_grad_sqnorm(const cada_model *m, const float *g, size_t off, size_t n) {
    if (!m->tp || m->tp->size == 1 || m->tp->rank == 0) return sqsum(g, n);
    /* skip the replicated ranges, which lie in increasing order: per layer attn_norm then
     * ffn_norm (each C floats, layer_stride apart), then final_norm */
    const size_t C = (size_t)m->cfg.hidden_size, end = off + n;
    const size_t a0 = (size_t)(m->p.attn_norm - m->params), f0 = (size_t)(m->p.ffn_norm - m->params);
    double s = 0.0;
    size_t at = off; /* next index not yet summed */
    for (int r = 0; r <= 2 * m->cfg.n_layers; r++) {
        const size_t lo = r == 2 * m->cfg.n_layers ? (size_t)(m->p.final_norm - m->params)
                                                   : (r % 2 ? f0 : a0) + (size_t)(r / 2) * m->p.layer_stride;
        const size_t hi = lo + C;
        if (hi <= at) continue;
        if (lo >= end) break;
        if (lo > at) s += sqsum(g + (at - off), lo - at);
        at = hi < end ? hi : end;
    }
    if (at < end) s += sqsum(g + (at - off), end - at);
    return s;
}

/* ---- slicing ------------------------------------------------------------------------ */

/* Copies `rows` rows of `cols` floats between a (.., full_cols) matrix at column col0
 * and a (.., cols) one. */
static void copy_block(float *fullm, size_t full_cols, size_t col0, float *localm, size_t cols, size_t rows,
                       cada_tp_direction dir) {
    for (size_t r = 0; r < rows; r++) {
        float *f = fullm + r * full_cols + col0, *l = localm + r * cols;
        if (dir == CADA_TP_SCATTER) memcpy(l, f, sizeof(float) * cols);
        else memcpy(f, l, sizeof(float) * cols);
    }
}

/* rows [row0, row0 + rows) of a (.., cols) matrix, as one block */
static void copy_rows(float *fullm, size_t row0, float *localm, size_t rows, size_t cols, cada_tp_direction dir) {
    copy_block(fullm + row0 * cols, cols, 0, localm, cols, rows, dir);
}

void cada_tp_copy(const cada_model_config *c, const cada_params *full, const cada_params *local, int rank, int P,
                  cada_tp_direction dir) {
    const size_t C = (size_t)c->hidden_size, D = (size_t)c->head_dim, I = (size_t)c->intermediate_size;
    const size_t H = (size_t)c->n_heads, KVH = (size_t)c->n_kv_heads, V = (size_t)c->vocab_size;
    const size_t Hl = H / P, KVl = KVH / P, Il = I / P, Vl = V / P, r = (size_t)rank;
    copy_rows(full->embed, r * Vl, local->embed, Vl, C, dir);
    for (int l = 0; l < c->n_layers; l++) {
        copy_rows(CADA_LAYER(full, attn_norm, l), 0, CADA_LAYER(local, attn_norm, l), 1, C, dir);
        copy_rows(CADA_LAYER(full, ffn_norm, l), 0, CADA_LAYER(local, ffn_norm, l), 1, C, dir);
        /* qkv (QKV, C): rows [q | k | v]; the local block is [q_r | k_r | v_r] */
        float *fq = CADA_LAYER(full, qkv_w, l), *lq = CADA_LAYER(local, qkv_w, l);
        copy_rows(fq, r * Hl * D, lq, Hl * D, C, dir);
        copy_rows(fq, H * D + r * KVl * D, lq + Hl * D * C, KVl * D, C, dir);
        copy_rows(fq, (H + KVH) * D + r * KVl * D, lq + (Hl + KVl) * D * C, KVl * D, C, dir);
        if (full->qkv_b) {
            float *fb = CADA_LAYER(full, qkv_b, l), *lb = CADA_LAYER(local, qkv_b, l);
            copy_rows(fb, r * Hl * D, lb, Hl * D, 1, dir);
            copy_rows(fb, H * D + r * KVl * D, lb + Hl * D, KVl * D, 1, dir);
            copy_rows(fb, (H + KVH) * D + r * KVl * D, lb + (Hl + KVl) * D, KVl * D, 1, dir);
        }
        /* o (C, H D): input columns of this rank's heads */
        copy_block(CADA_LAYER(full, o_w, l), H * D, r * Hl * D, CADA_LAYER(local, o_w, l), Hl * D, C, dir);
        /* gate/up (2I, C): rows [gate | up] */
        float *fg = CADA_LAYER(full, gu_w, l), *lg = CADA_LAYER(local, gu_w, l);
        copy_rows(fg, r * Il, lg, Il, C, dir);
        copy_rows(fg, I + r * Il, lg + Il * C, Il, C, dir);
        /* down (C, I): input columns of this rank's units */
        copy_block(CADA_LAYER(full, down_w, l), I, r * Il, CADA_LAYER(local, down_w, l), Il, C, dir);
    }
    copy_rows(full->final_norm, 0, local->final_norm, 1, C, dir);
    if (full->lm_head != full->embed) copy_rows(full->lm_head, r * Vl, local->lm_head, Vl, C, dir);
}

cada_status cada_tp_model_from_full(cada_model *local, const cada_model *full, const cada_tp *tp) {
    cada_model_config lc;
    CADA_TRY(cada_tp_local_config(&full->cfg, tp->size, &lc));
    if (tp->vocab_size != full->cfg.vocab_size)
        return CADA_ERR(CADA_ERR_ARG, "tensor parallel group was set up for a vocabulary of %d, the model has %d",
                        tp->vocab_size, full->cfg.vocab_size);
    CADA_TRY(cada_model_init(local, &lc));
    cada_tp_copy(&full->cfg, &full->p, &local->p, tp->rank, tp->size, CADA_TP_SCATTER);
    memcpy(local->source, full->source, sizeof local->source);
    local->tp = tp;
    return CADA_OK;
}

/* ---- pass pieces --------------------------------------------------------------------- */

static int owns(const cada_tp *tp, int token, int Vl) { return token >= tp->vocab_offset && token < tp->vocab_offset + Vl; }

cada_status cada_tp_embedding_forward(const cada_tp *tp, float *out, const int *tokens, const float *table, int N, int C) {
    const int Vl = tp->vocab_size / tp->size;
    for (int n = 0; n < N; n++) {
        float *dst = out + (size_t)n * C;
        if (owns(tp, tokens[n], Vl)) memcpy(dst, table + (size_t)(tokens[n] - tp->vocab_offset) * C, sizeof(float) * C);
        else memset(dst, 0, sizeof(float) * C);
    }
    /* exactly one rank contributes each row and the others add zeros: the sum is exact */
    return tp->allreduce_sum(tp->ctx, out, (size_t)N * C);
}

void cada_tp_embedding_backward(const cada_tp *tp, float *dtable, const float *dout, const int *tokens, int N, int C) {
    const int Vl = tp->vocab_size / tp->size;
    /* in token order, as embedding_backward: rows shared by tokens add in a fixed order */
    for (int n = 0; n < N; n++) {
        if (!owns(tp, tokens[n], Vl)) continue;
        float *row = dtable + (size_t)(tokens[n] - tp->vocab_offset) * C;
        const float *g = dout + (size_t)n * C;
        for (int i = 0; i < C; i++) row[i] += g[i];
    }
}

cada_status cada_tp_logsoftmax_gather(const cada_tp *tp, float *logprob, float *lse, const float *logits,
                                      const int *targets, int rows, int Vl) {
    const int P = tp->size;
    /* per row and rank: max, sum of exp(x - max), and the target's logit when owned */
    float *parts = malloc(sizeof(float) * 3 * (size_t)rows * P);
    if (!parts) return CADA_ERR(CADA_ERR_NOMEM, "tensor parallel log-softmax: %d rows", rows);
    float *mine = parts + (size_t)tp->rank * 3 * rows;
#pragma omp parallel for schedule(static) if (CADA_PAR((int64_t)rows * Vl))
    for (int n = 0; n < rows; n++) {
        const float *l = logits + (size_t)n * Vl;
        float mx = -INFINITY;
        for (int v = 0; v < Vl; v++) mx = l[v] > mx ? l[v] : mx;
        double sum = 0.0; /* fp64 accumulator, as ops/logsoftmax.c */
        for (int v = 0; v < Vl; v++) sum += expf(l[v] - mx);
        mine[3 * n] = mx;
        mine[3 * n + 1] = (float)sum;
        mine[3 * n + 2] = owns(tp, targets[n], Vl) ? l[targets[n] - tp->vocab_offset] : 0.0f;
    }
    cada_status st = tp->allgather(tp->ctx, parts, (size_t)3 * rows);
    if (st != CADA_OK) {
        free(parts);
        return st;
    }
    /* every rank combines the same numbers in rank order: identical results */
    for (int n = 0; n < rows; n++) {
        float mx = -INFINITY;
        for (int r = 0; r < P; r++) mx = fmaxf(mx, parts[(size_t)r * 3 * rows + 3 * n]);
        double sum = 0.0;
        for (int r = 0; r < P; r++) {
            const float *q = parts + (size_t)r * 3 * rows + 3 * n;
            sum += (double)q[1] * exp((double)q[0] - (double)mx);
        }
        const float z = mx + (float)log(sum);
        lse[n] = z;
        if (targets[n] >= 0) {
            const int owner = targets[n] / Vl;
            logprob[n] = parts[(size_t)owner * 3 * rows + 3 * n + 2] - z;
        } else {
            logprob[n] = 0.0f;
        }
    }
    free(parts);
    return CADA_OK;
}

void cada_tp_logsoftmax_gather_backward(const cada_tp *tp, float *logits, const float *lse, const int *targets,
                                        const float *dlogprob, int rows, int Vl) {
#pragma omp parallel for schedule(static) if (CADA_PAR((int64_t)rows * Vl))
    for (int n = 0; n < rows; n++) {
        float *l = logits + (size_t)n * Vl;
        const float g = targets[n] >= 0 ? dlogprob[n] : 0.0f;
        if (g == 0.0f) {
            memset(l, 0, sizeof(float) * Vl);
            continue;
        }
        const float z = lse[n];
        for (int v = 0; v < Vl; v++) l[v] = -g * expf(l[v] - z);
        if (owns(tp, targets[n], Vl)) l[targets[n] - tp->vocab_offset] += g;
    }
}
