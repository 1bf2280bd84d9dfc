/* model/tp_slice.h: a whole model's tensors cut into tensor-parallel parts and put back
 * (model/tp.h describes the split), and the gradient norm of a part.
 *
 * Apart from model/tp.h because it works on cada_model and cada_params, while model.c
 * needs only the group and the passes' pieces from model/tp.h. */
#ifndef CADA_MODEL_TP_SLICE_H
#define CADA_MODEL_TP_SLICE_H

#include "model/model.h"
#include "model/tp.h"

#include <stddef.h>
#include <stdint.h>

/* Copies between a whole model's tensors and rank `rank`'s part of them (P ranks):
 * CADA_TP_SCATTER reads full's views and writes the slice into local's; CADA_TP_GATHER
 * writes local's slice into full's (the other ranks' parts of full are untouched).
 * Works on any buffer with the parameter layout: parameters, gradients, optimizer
 * moments. full_cfg is the whole model's shape; the local views must have been
 * carved for cada_tp_local_config(full_cfg, P). */
typedef enum { CADA_TP_SCATTER = 0, CADA_TP_GATHER } cada_tp_direction;
void cada_tp_copy(const cada_model_config *full_cfg, const cada_params *full, const cada_params *local, int rank, int P,
                  cada_tp_direction dir);

/* Where rank `rank`'s part of one published tensor lies in the whole tensor (views of
 * the same tensor from cada_model_tensor_views of the whole and of the local
 * configuration): rows [row0, row0 + part->rows) x columns [col0, col0 + part->cols).
 * The dimension that shrank is the split one and the rank holds its rank-th block of it,
 * which is model/tp.h's split of every tensor (q, k, v, gate, up, the embedding and LM
 * head by rows; o and down by columns; the norms whole). An internal error when the two
 * views are not such a pair. */
typedef struct {
    int64_t row0, col0;
} cada_tp_block;
cada_status cada_tp_view_block(const cada_tensor_view *whole, const cada_tensor_view *part, int rank, int P, cada_tp_block *b);

/* Rank tp->rank's part of a loaded whole model: initialises local (its configuration
 * from cada_tp_local_config), copies the slice, and sets local->tp = tp. */
cada_status cada_tp_model_from_full(cada_model *local, const cada_model *full, const cada_tp *tp);

/* Sum of squares of g, the values (gradients, say) of parameters [off, off + n) of m's
 * layout, in double, in index order, such that summing it over the TP group counts every
 * parameter of the whole model once: the replicated RMSNorm weights count on TP rank 0
 * only (every rank holds the same copy). Without a TP group (m->tp NULL or P = 1): the
 * plain sum of squares. The learner's global gradient norm for clipping. */
double cada_tp_grad_sqnorm(const cada_model *m, const float *g, size_t off, size_t n);

#endif
