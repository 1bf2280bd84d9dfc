/* model/tp_slice.c: see tp_slice.h. */
#include "model/tp_slice.h"

#include <stdlib.h>
#include <string.h>

/* ---- the gradient norm --------------------------------------------------------------- */

static double sqsum(const float *g, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)g[i] * g[i];
    return s;
}

/* The r-th of the 2 L + 1 replicated ranges of the layout (each C floats), in increasing
 * order: per layer attn_norm then ffn_norm (layer_stride apart), then final_norm. */
static size_t replicated_start(const cada_model_config *c, const cada_params *p, const float *base, int r) {
    if (r == 2 * c->n_layers) return (size_t)(p->final_norm - base);
    return (size_t)((r % 2 ? p->ffn_norm : p->attn_norm) - base) + (size_t)(r / 2) * p->layer_stride;
}

double cada_tp_grad_sqnorm(const cada_model *m, const float *g, size_t off, size_t n) {
    if (!m->tp || m->tp->size == 1 || m->tp->rank == 0) return sqsum(g, n);
    /* skip the replicated ranges */
    const size_t C = (size_t)m->cfg.hidden_size, end = off + n;
    double s = 0.0;
    size_t at = off; /* next index not yet summed */
    for (int r = 0; r <= 2 * m->cfg.n_layers; r++) {
        const size_t lo = replicated_start(&m->cfg, &m->p, m->params, r);
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

cada_status cada_tp_view_block(const cada_tensor_view *whole, const cada_tensor_view *part, int rank, int P, cada_tp_block *b) {
    const int rows_split = part->rows != whole->rows, cols_split = part->cols != whole->cols;
    if (rows_split + cols_split > 1 || (rows_split && part->rows * P != whole->rows) || (cols_split && part->cols * P != whole->cols))
        return CADA_ERR(CADA_ERR_INTERNAL, "tensor '%s': a part of (%lld, %lld) is not 1/%d of (%lld, %lld) along one dimension",
                        whole->hf_name, (long long)part->rows, (long long)part->cols, P, (long long)whole->rows,
                        (long long)whole->cols);
    b->row0 = rows_split ? (int64_t)rank * part->rows : 0;
    b->col0 = cols_split ? (int64_t)rank * part->cols : 0;
    return CADA_OK;
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
