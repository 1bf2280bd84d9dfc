/* model/tp.c: slicing a model over a tensor-parallel group, and the group's pieces of
 * the forward and backward passes (see tp.h). */
#include "model/tp.h"

#include "ops/ops.h"
#include "ops/vexp.h"

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
        const float mx = cada_max_f32(l, Vl);
        const double sum = cada_sum_exp_shift(l, Vl, mx); /* as ops/logsoftmax.c */
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
        for (int v = 0; v < Vl; v++) l[v] = -g * cada_expf(l[v] - z);
        if (owns(tp, targets[n], Vl)) l[targets[n] - tp->vocab_offset] += g;
    }
}
