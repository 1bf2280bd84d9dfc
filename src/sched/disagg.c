/* sched/disagg.c: the disaggregated placement's entry and shared pieces (disagg.h). */
#include "sched/disagg.h"

#ifdef CADA_HAVE_MPI
#include "base/log.h"
#include "model/infer_weights.h"
#include "sched/lifecycle.h"
#include "sched/placement.h"
#include "sched/reshard.h"
#include "sched/weight_sync.h"

#include <mpi.h>
#include <string.h>

double disagg_wait(const trainer *t, double tier) { return t->cfg.timeout_seconds * tier; }

int disagg_async(const trainer *t) { return !strcmp(t->cfg.mode, "async"); }

cada_status disagg_flush_sends(trainer *t) {
    cada_status st = CADA_OK;
    for (int i = 0; i < t->n_pending; i++) {
        cada_status s = cada_wire_wait(t->pending[i], disagg_wait(t, 1.5));
        if (st == CADA_OK) st = s;
    }
    t->n_pending = 0;
    return st;
}

cada_status disagg_start_send(trainer *t, int dest, int tag, const Cada__Envelope *env) {
    if (t->n_pending == (int)(sizeof t->pending / sizeof t->pending[0])) CADA_TRY(disagg_flush_sends(t));
    cada_wire_options o = cada_wire_defaults();
    cada_wire_pending *p = NULL;
    CADA_TRY(cada_wire_isend(MPI_COMM_WORLD, dest, tag, env, &o, &p));
    t->pending[t->n_pending++] = p;
    return CADA_OK;
}

int disagg_overlapped(const trainer *t) { return disagg_async(t) && t->cfg.sync_overlap; }

int disagg_resharded(const trainer *t) {
    return t->roles.rollout_tp > 1 || t->cfg.learn_tp > 1 || !strcmp(t->cfg.weight_sync, "bf16") || disagg_overlapped(t);
}

/* rollout.weights = bf16 on a rollout rank: each bucket of the sync packed into the
 * copy the engine reads, and its fp32 matrices released, as it lands
 * (model/infer_weights.h) */
static void land_bf16(void *ctx, size_t off, size_t n) {
    cada_model *m = ctx;
    if (cada_infer_weights_pack_range(m, off, n) == CADA_OK) cada_infer_weights_release_fp32(m, off, n);
}

static cada_reshard_options reshard_options(const trainer *t, const cada_weights_landed *landed) {
    const cada_reshard_options o = {{t->roles.learners, t->cfg.learn_tp, t->roles.rollout, t->roles.rollout_tp},
                                    strcmp(t->cfg.weight_sync, "bf16") ? CADA_WIRE_F32 : CADA_WIRE_BF16, 0,
                                    disagg_wait(t, 1.5), landed};
    return o;
}

cada_status disagg_sync_begin(trainer *t, long long version) {
    cada_model *next = &t->policy_next;
    /* the second copy: the part's shape; only its parameters and bf16 copy are used, swapped into policy */
    if (!next->params) CADA_TRY(cada_model_init(next, &t->policy.cfg));
    if (t->policy.bf16) CADA_TRY(cada_infer_weights_alloc(next)); /* packed bucket by bucket as they land */
    t->next_landed = (cada_weights_landed){land_bf16, next};
    const cada_reshard_options o = reshard_options(t, t->policy.bf16 ? &t->next_landed : NULL);
    CADA_TRY(cada_reshard_recv_begin(&o, next, version, &t->sync_next));
    t->sync_next_version = version;
    return CADA_OK;
}

void disagg_sync_progress(void *sync_next) { cada_reshard_recv_progress(sync_next); }

cada_status disagg_sync_finish(trainer *t) {
    t->watch.phase = "weight sync (overlapped)";
    const double during = cada_reshard_recv_landed(t->sync_next);
    const double t0 = cada_now();
    cada_status st = cada_reshard_recv_finish(t->sync_next, &t->watch.peer);
    if (st != CADA_OK) return st; /* t->policy is untouched; teardown ends the receive */
    cada_reshard_recv_free(t->sync_next);
    t->sync_next = NULL;
    const long long version = t->sync_next_version;
    cada_model_swap_weights(&t->policy, &t->policy_next);
    if (t->policy.bf16) t->policy.bf16->version = version;
    t->version = version;
    t->watch.peer = -1;
    CADA_DEBUG("rank %d: weights of version %lld: %.0f%% had landed when the rollout ended; %.3f s for the rest", t->rank, version,
               100 * during, cada_now() - t0);
    return CADA_OK;
}

cada_status disagg_sync_weights(trainer *t, long long version) {
    const int rollout = cada_roles_of(&t->roles, t->rank) == CADA_ROLE_ROLLOUT;
    const cada_weights_landed bf16 = {land_bf16, &t->policy}, *landed = rollout && t->policy.bf16 ? &bf16 : NULL;
    if (disagg_resharded(t)) {
        /* every learner sends each engine rank a chunk of exactly its slice (fp32: the
         * learner's weights bit for bit, as the broadcast below; bf16: rounded) */
        t->watch.phase = "weight sync (resharded)";
        const cada_reshard_options o = reshard_options(t, landed);
        CADA_TRY(cada_reshard_sync(&o, &t->policy, version, &t->watch.peer));
    } else {
        t->watch.phase = "weight broadcast";
        CADA_TRY(cada_weight_sync(t->weights_comm, &t->roles, t->rank, t->policy.params, t->policy.n_params, version,
                                  disagg_wait(t, 1.5), &t->watch.peer, landed));
    }
    /* rollout.weights = bf16: rollout ranks packed the copy as the buckets landed; it is
     * now of this version (learners hold no copy) */
    if (landed) t->policy.bf16->version = version;
    else if (t->policy.bf16) CADA_TRY(cada_infer_weights_pack(&t->policy, version));
    t->version = version;
    return CADA_OK;
}

Cada__Metric *disagg_metric(Cada__Metric *m, const char *name, double v) {
    cada__metric__init(m);
    m->name = (char *)name;
    m->value = v;
    return m;
}

double disagg_metric_of(Cada__Metric **m, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (m[i]->name && !strcmp(m[i]->name, name)) return m[i]->value;
    return 0;
}

cada_status cada_disagg_run(trainer *t) {
    int stopped = 0;
    t->version = t->start_step;
    /* a resumed run's rollout ranks start from the checkpoint's weights, which only the
     * learners loaded (a fresh run's ranks all loaded model.path) */
    const int syncs = disagg_resharded(t) ? cada_roles_of(&t->roles, t->rank) != CADA_ROLE_REWARD : t->weights_comm != NULL;
    if (syncs && t->start_step > 0) CADA_TRY(disagg_sync_weights(t, t->start_step));
    if (cada_roles_of(&t->roles, t->rank) == CADA_ROLE_LEARNER) CADA_TRY(disagg_run_learner(t, &stopped));
    else CADA_TRY(disagg_run_worker(t, &stopped));
    return trainer_finish(t, stopped);
}
#endif
