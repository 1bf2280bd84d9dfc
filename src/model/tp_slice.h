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

/* Copies between a whole model's tensors and rank `rank`'s part of them (P ranks):
 * CADA_TP_SCATTER reads full's views and writes the slice into local's; CADA_TP_GATHER
 * writes local's slice into full's (the other ranks' parts of full are untouched).
 * Works on any buffer with the parameter layout: parameters, gradients, optimizer
 * moments. full_cfg is the whole model's shape; the local views must have been
 * carved for cada_tp_local_config(full_cfg, P). */
typedef enum { CADA_TP_SCATTER = 0, CADA_TP_GATHER } cada_tp_direction;
void cada_tp_copy(const cada_model_config *full_cfg, const cada_params *full, const cada_params *local, int rank, int P,
                  cada_tp_direction dir);

/* Rank tp->rank's part of a loaded whole model: initialises local (its configuration
 * from cada_tp_local_config), copies the slice, and sets local->tp = tp. */
cada_status cada_tp_model_from_full(cada_model *local, const cada_model *full, const cada_tp *tp);

/* The whole model on every rank of part's group (a checkpoint): whole is initialised with
 * whole_cfg, each rank writes its slice into it (the replicated norms from rank 0 only)
 * and one all-reduce over the group fills the rest, exactly (each element is summed with
 * zeros). Holds the whole model beside the part for the call (and the transport's
 * scratch): for models whose whole fits a rank's memory. */
cada_status cada_tp_gather_whole(const cada_model *part, const cada_tp *tp, const cada_model_config *whole_cfg,
                                 cada_model *whole);

/* Sum of squares of g, the values (gradients, say) of parameters [off, off + n) of m's
 * layout, in double, in index order, such that summing it over the TP group counts every
 * parameter of the whole model once: the replicated RMSNorm weights count on TP rank 0
 * only (every rank holds the same copy). Without a TP group (m->tp NULL or P = 1): the
 * plain sum of squares. The learner's global gradient norm for clipping. */
double cada_tp_grad_sqnorm(const cada_model *m, const float *g, size_t off, size_t n);

#endif
