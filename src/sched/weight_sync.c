/* sched/weight_sync.c: see weight_sync.h. */
#include "sched/weight_sync.h"
#include "model/infer_weights.h"

#ifdef CADA_HAVE_MPI
#include "sched/exchange.h"
#include "sched/wire.h"

#include <mpi.h>

#define WEIGHT_BUCKET CADA_SYNC_BUCKET_FLOATS /* floats per broadcast: 64 MiB (the plan counts it) */

static cada_status notice(const cada_roles *roles, int rank, long long version, double timeout_s, int *peer) {
    cada_wire_options o = cada_wire_defaults();
    if (rank == 0) {
        Cada__Control ctl = CADA__CONTROL__INIT;
        ctl.kind = CADA__CONTROL__KIND__WEIGHTS;
        ctl.step = (uint64_t)version;
        Cada__Envelope env = CADA__ENVELOPE__INIT;
        env.body_case = CADA__ENVELOPE__BODY_CONTROL;
        env.control = &ctl;
        for (int r = 0; r < roles->rollout; r++) {
            int dest = cada_roles_rank(roles, CADA_ROLE_ROLLOUT, r);
            if (peer) *peer = dest;
            CADA_TRY(cada_wire_send(MPI_COMM_WORLD, dest, CADA_TAG_WORK, &env, &o, timeout_s));
        }
        return CADA_OK;
    }
    Cada__Envelope *env = NULL;
    if (peer) *peer = 0;
    CADA_TRY(cada_wire_recv(MPI_COMM_WORLD, 0, CADA_TAG_WORK, timeout_s, &o, &env, NULL));
    int ok = env->body_case == CADA__ENVELOPE__BODY_CONTROL && env->control->kind == CADA__CONTROL__KIND__WEIGHTS &&
             env->control->step == (uint64_t)version;
    long long got = env->body_case == CADA__ENVELOPE__BODY_CONTROL ? (long long)env->control->step : -1;
    cada_wire_free(env);
    if (!ok)
        return CADA_ERR(CADA_ERR_FORMAT, "rank %d: expected the notice of weights version %lld from rank 0, got another message (step %lld)",
                        rank, version, got);
    return CADA_OK;
}

cada_status cada_weight_sync(cada_comm *weights, const cada_roles *roles, int rank, float *params, size_t n,
                             long long version, double timeout_s, int *peer, const cada_weights_landed *landed) {
    CADA_TRY(notice(roles, rank, version, timeout_s, peer));
    if (peer) *peer = -1;
    const float M = 16777216.0f; /* 2^24 */
    float head[4] = {(float)(version % (1 << 24)), (float)(version >> 24), (float)(n % (1u << 24)), (float)(n >> 24)};
    CADA_TRY(cada_comm_broadcast(weights, head, 4, 0));
    long long got_version = (long long)head[0] + (long long)(head[1] * M);
    size_t got_n = (size_t)head[2] + (size_t)head[3] * (size_t)M;
    if (got_version != version || got_n != n)
        return CADA_ERR(CADA_ERR_FORMAT,
                        "rank %d: weight broadcast header says version %lld, %zu parameters; this rank expects version %lld, %zu",
                        rank, got_version, got_n, version, n);
    for (size_t at = 0; at < n; at += WEIGHT_BUCKET) {
        const size_t len = n - at < WEIGHT_BUCKET ? n - at : WEIGHT_BUCKET;
        CADA_TRY(cada_comm_broadcast(weights, params + at, len, 0));
        if (landed && landed->fn && rank != 0) landed->fn(landed->ctx, at, len);
    }
    return CADA_OK;
}
#endif
