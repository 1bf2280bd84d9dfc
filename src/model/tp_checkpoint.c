/* model/tp_checkpoint.c: see tp_checkpoint.h. */
#include "model/tp_checkpoint.h"

#include "io/safetensors.h"
#include "io/shard_plan.h"
#include "model/load.h"
#include "model/tp_slice.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const cada_tp *tp;
    cada_shard_layout layout;    /* the whole model's tensors (no data) and their files */
    cada_tensor_view *part;      /* the same tensors in this rank's part, with data */
    int first_shard;
    int *order;                  /* per TP rank j: the tensors of file first_shard + j in file order */
    int *start, *count;          /* j's tensors are order[start[j] .. start[j] + count[j]) */
    int rounds, rounds_done;
    int group_failed;            /* a sum over the group failed: no further rounds */
    float *mine, *other;         /* the whole tensor of this rank's file, and of the others' */
} tp_writer;

/* whole tensor i into buf: this rank's block, -0 elsewhere, summed over the group */
static cada_status whole_tensor(tp_writer *w, int i, float *buf) {
    const cada_tensor_view *v = &w->layout.views[i], *p = &w->part[i];
    const size_t n = (size_t)(v->rows * v->cols);
    for (size_t k = 0; k < n; k++) buf[k] = -0.0f;
    const int replicated = p->rows == v->rows && p->cols == v->cols;
    if (!replicated || w->tp->rank == 0) {
        cada_tp_block b;
        CADA_TRY(cada_tp_view_block(v, p, w->tp->rank, w->tp->size, &b));
        for (int64_t r = 0; r < p->rows; r++)
            memcpy(buf + (size_t)(b.row0 + r) * (size_t)v->cols + (size_t)b.col0, p->data + (size_t)r * (size_t)p->cols,
                   sizeof(float) * (size_t)p->cols);
    }
    return w->tp->allreduce_sum(w->tp->ctx, buf, n);
}

/* round k: the k-th tensor of every file of the group, in TP-rank order */
static cada_status round_k(tp_writer *w, int k) {
    for (int j = 0; j < w->tp->size; j++) {
        if (k >= w->count[j]) continue;
        cada_status s = whole_tensor(w, w->order[w->start[j] + k], j == w->tp->rank ? w->mine : w->other);
        if (s != CADA_OK) { /* a peer gone or out of time: every later sum would wait as long */
            w->group_failed = 1;
            return s;
        }
    }
    w->rounds_done = k + 1;
    return CADA_OK;
}

/* the writer's source: tensor k of this rank's file is ready after round k */
static cada_status next_tensor(void *ctx, int k, const void **data) {
    tp_writer *w = ctx;
    if (k != w->rounds_done)
        return CADA_ERR(CADA_ERR_INTERNAL, "TP checkpoint: tensor %d asked for after round %d", k, w->rounds_done);
    CADA_TRY(round_k(w, k));
    *data = w->mine;
    return CADA_OK;
}

static cada_status writer_init(tp_writer *w, const cada_model *part, const cada_tp *tp, const cada_model_config *whole_cfg,
                               int first_shard, int writers) {
    memset(w, 0, sizeof *w);
    w->tp = tp;
    w->first_shard = first_shard;
    CADA_TRY(cada_shard_layout_make(&w->layout, whole_cfg, NULL, writers, CADA_DTYPE_F32));
    const int n = w->layout.n, P = tp->size;
    w->part = CADA_MALLOC(sizeof *w->part * (size_t)n, "tensor views");
    w->order = CADA_MALLOC(sizeof *w->order * (size_t)n, "checkpoint order");
    w->start = CADA_CALLOC((size_t)P, sizeof *w->start, "checkpoint order");
    w->count = CADA_CALLOC((size_t)P, sizeof *w->count, "checkpoint order");
    if (!w->part || !w->order || !w->start || !w->count) return CADA_ERR_NOMEM;
    if (cada_model_tensor_views(&part->cfg, &part->p, NULL) != n)
        return CADA_ERR(CADA_ERR_INTERNAL, "TP checkpoint: the part and the whole model list different tensors");
    cada_model_tensor_views(&part->cfg, &part->p, w->part);
    size_t biggest = 0;
    int at = 0;
    for (int j = 0; j < P; j++) {
        w->start[j] = at;
        for (int i = 0; i < n; i++)
            if (w->layout.shard_of[i] == first_shard + j) {
                w->order[at++] = i;
                w->count[j]++;
                const size_t e = (size_t)(w->layout.views[i].rows * w->layout.views[i].cols);
                if (e > biggest) biggest = e;
            }
        if (w->count[j] > w->rounds) w->rounds = w->count[j];
    }
    w->mine = CADA_MALLOC(sizeof(float) * (biggest ? biggest : 1), "one whole tensor");
    w->other = CADA_MALLOC(sizeof(float) * (biggest ? biggest : 1), "one whole tensor");
    return w->mine && w->other ? CADA_OK : CADA_ERR_NOMEM;
}

static void writer_free(tp_writer *w) {
    cada_shard_layout_free(&w->layout);
    free(w->part);
    free(w->order);
    free(w->start);
    free(w->count);
    free(w->mine);
    free(w->other);
}

cada_status cada_tp_save_shards(const cada_model *part, const cada_tp *tp, const cada_model_config *whole_cfg, const char *dir,
                                int first_shard, int writers) {
    tp_writer w;
    /* a failure here is the same on every rank of the group (the same plan and shapes),
     * bar memory: then this rank returns and the others' sums wait out the timeout */
    cada_status st = writer_init(&w, part, tp, whole_cfg, first_shard, writers);
    const int me = tp->rank, ready = st == CADA_OK;
    if (st == CADA_OK && w.count[me] > 0) {
        cada_st_entry *entries = CADA_CALLOC((size_t)w.count[me], sizeof *entries, "safetensors entries");
        if (!entries) st = CADA_ERR_NOMEM;
        for (int k = 0; st == CADA_OK && k < w.count[me]; k++) {
            const cada_tensor_view *v = &w.layout.views[w.order[w.start[me] + k]];
            entries[k].name = v->hf_name;
            entries[k].dtype = CADA_DTYPE_F32;
            entries[k].ndim = v->ndim;
            entries[k].shape[0] = v->rows;
            entries[k].shape[1] = v->cols;
        }
        char name[64], path[1400];
        cada_shard_file_name(first_shard + me, w.layout.n_shards, name, sizeof name);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        if (st == CADA_OK) st = cada_safetensors_write_stream(path, entries, w.count[me], NULL, next_tensor, &w);
        free(entries);
    }
    /* the rounds this rank's file did not need (or did not reach, after a failed write):
     * the other files of the group still need its blocks */
    for (int k = w.rounds_done; ready && !w.group_failed && k < w.rounds; k++) {
        cada_status s = round_k(&w, k);
        if (st == CADA_OK) st = s;
    }
    writer_free(&w);
    return st;
}
