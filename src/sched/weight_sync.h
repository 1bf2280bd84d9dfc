/* sched/weight_sync.h: learner 0's weights to the rollout ranks, tagged by version
 * (disaggregated placement).
 *
 * Learner 0 (world rank 0) sends each rollout rank a Control WEIGHTS notice over the
 * wire (each rollout rank waits for it with a message timeout, not inside a
 * collective), then broadcasts on the weights communicator (rank 0 + the rollout
 * ranks) a 4-float header (version and parameter count, in 24-bit halves: exact as
 * floats) and the parameters in 64 MiB buckets. Every receiver checks both header
 * fields before it takes any weight, so no rank samples with a version it did not ask
 * for. */
#ifndef CADA_SCHED_WEIGHT_SYNC_H
#define CADA_SCHED_WEIGHT_SYNC_H

#ifdef CADA_HAVE_MPI
#include "base/error.h"
#include "comm/comm.h"
#include "sched/roles.h"

#include <stddef.h>

/* Told on a receiving rank each time parameters [off, off + n) have landed (final for
 * this sync), so it can use them while the rest arrives (model/infer_weights.h packs
 * and releases them on rollout ranks). */
typedef struct {
    void (*fn)(void *ctx, size_t off, size_t n);
    void *ctx;
} cada_weights_landed;

/* params[0..n) from world rank 0 to the rollout ranks of roles, as `version`; called by
 * rank 0 and every rollout rank. *peer (may be NULL) names the rank waited for. landed
 * (may be NULL) is told of each bucket on receivers. */
cada_status cada_weight_sync(cada_comm *weights, const cada_roles *roles, int rank, float *params, size_t n,
                             long long version, double timeout_s, int *peer, const cada_weights_landed *landed);
#endif

#endif
