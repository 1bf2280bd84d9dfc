/* sched/reshard.h: the weight sync resharded from tensor-parallel learners to
 * tensor-parallel rollout engines, spread over every learner.
 *
 * Layout (world ranks as sched/roles.h orders them, learners first):
 *   learners  L = Pl x W ranks: learner k holds TP part k % Pl of Pl (model/tp.h) and is
 *             data-parallel replica k / Pl (after cada_learner_gather_params its part is
 *             whole and the same on its W replicas);
 *   rollout   R = E x Pr ranks: rollout rank r is TP rank r % Pr of engine r / Pr.
 * One of Pr, Pl must be a multiple of the other (heads, KV heads, intermediate units and
 * vocabulary rows then nest):
 *   split (Pr = k Pl, k >= 1)  rollout part j is sub-part j % k of learner part j / k: a
 *                              learner cuts it from its own part (cada_tp_copy with the
 *                              learner part's configuration as the whole);
 *   merge (Pl = k Pr, k > 1)   rollout part j is learner parts j k .. j k + k - 1 put
 *                              together: the rollout rank receives each whole into a
 *                              scratch part and copies it to its place (sub-part s).
 * A piece is what one learner part gives one rollout rank (split: the rollout slice;
 * merge: the learner part). No rank holds more than its part and one piece.
 *
 * Who sends what: the W replicas of learner part i each send one contiguous chunk of
 * each piece (chunk d of W, cada_reshard_chunk), so every learner sends about
 * R n_r / L floats per sync (n_r: a rollout part's parameter count) and the bytes are
 * spread over all learners instead of funnelled through learner 0. With
 * bf16 on the wire a chunk travels as bf16 (round to nearest even) and is widened on
 * arrival: the rollout computes with the bf16-rounded weights; fp32 sends them exactly.
 *
 * Checked before any weight is taken: each chunk is preceded by a header {version,
 * slice floats, chunk offset, chunk count, wire dtype}; a receiver that finds another
 * version or shape fails with CADA_ERR_FORMAT naming both ranks, and its parameters are
 * untouched by that chunk. Chunks travel in buckets of `bucket_bytes`; every wait has
 * the timeout and a silent peer fails the sync naming it (*peer).
 *
 * Memory: a learner holds one scratch slice of a rollout part when splitting with k > 1
 * (none otherwise: it sends from its own parameters), and with bf16 on the wire its
 * chunk in bf16; a rollout rank, when merging, one learner part (a bf16 bucket lands in
 * the upper half of its own fp32 destination and is widened in place).
 * Cost: when splitting with k > 1 every replica cuts each whole slice and sends a 1/W
 * chunk of it (W - 1 of W cuts are redundant: measured 0.3-3 s for SmolLM2 from 3
 * learners to a TP-3 engine on 2 cores, against 0.03-0.05 s when the parts match);
 * cutting only the chunk would remove that. */
#ifndef CADA_SCHED_RESHARD_H
#define CADA_SCHED_RESHARD_H

#include "sched/weight_sync.h"
#include "base/error.h"
#include "model/model.h"

#include <stddef.h>

typedef enum { CADA_WIRE_F32 = 0, CADA_WIRE_BF16 = 1 } cada_wire_dtype;

typedef struct {
    int learners, learn_tp;   /* L = Pl x W */
    int rollout, rollout_tp;  /* R = E x Pr */
} cada_reshard_layout;

/* Checks the layout against the whole model's shape (errors name learn.tp, rollout.tp,
 * learner_ranks, rollout_ranks, or the model field the larger tp does not divide). */
cada_status cada_reshard_check(const cada_reshard_layout *lay, const cada_model_config *full);

/* The chunk [*off, *off + *count) of a slice of n floats that replica d of W sends. */
void cada_reshard_chunk(size_t n, int d, int W, size_t *off, size_t *count);

typedef struct {
    cada_reshard_layout layout;
    cada_wire_dtype wire;
    size_t bucket_bytes;   /* 0: 16 MiB */
    double timeout_s;
    /* rollout ranks: told of each bucket of parameters as it lands (when Pr >= Pl; when
     * learner parts are merged, of the whole part once they are); NULL: not told */
    const cada_weights_landed *landed;
} cada_reshard_options;

#ifdef CADA_HAVE_MPI
/* One sync, over MPI_COMM_WORLD point-to-point. Called by every learner (world rank k
 * < L, m = its TP part, whole) and every rollout rank (world rank L + r, m = its part,
 * whose parameters it overwrites); other ranks do not call it. *peer (may be NULL)
 * names the rank being waited for when it fails. */
cada_status cada_reshard_sync(const cada_reshard_options *o, cada_model *m, long long version, int *peer);

/* The rollout side of the same sync, split into calls so that it can run beside the
 * rollout (rollout.mode = async; the learners' side is cada_reshard_sync unchanged):
 *   begin     posts the receives of version `version` into m (every chunk's header at
 *             once; its buckets once its header has been checked) and returns;
 *   progress  takes what has arrived (cheap when nothing has: one MPI_Test a request);
 *             an error is kept for finish;
 *   finish    waits for the rest: fails when nothing arrived for o->timeout_s since
 *             its call or the last arrival, whichever is later (naming
 *             the learner rank that owes a chunk in *peer), or with the first error
 *             progress met (a header of another version or shape: m then holds part of
 *             this sync, so the caller must not use m; the blocking sync above stops
 *             the run there);
 *   free      ends it; receives still open are cancelled.
 * m must not be read while a receive is open: the overlapped sync gives it a second
 * copy of the rollout part (sched/disagg.c). o is copied; o->landed must stay valid.
 * landed: the share of this sync's floats landed so far (0..1). */
typedef struct cada_reshard_recv cada_reshard_recv;
cada_status cada_reshard_recv_begin(const cada_reshard_options *o, cada_model *m, long long version, cada_reshard_recv **out);
void cada_reshard_recv_progress(cada_reshard_recv *r);
double cada_reshard_recv_landed(const cada_reshard_recv *r);
cada_status cada_reshard_recv_finish(cada_reshard_recv *r, int *peer);
void cada_reshard_recv_free(cada_reshard_recv *r);
#endif

#endif
