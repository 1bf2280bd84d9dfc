/* sched/reshard.c: see reshard.h. */
#define _POSIX_C_SOURCE 200809L
#include "sched/reshard.h"

#include "model/tp_slice.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cada_status cada_reshard_check(const cada_reshard_layout *lay, const cada_model_config *full) {
    const int Pl = lay->learn_tp, Pr = lay->rollout_tp;
    if (Pl < 1 || Pr < 1) return CADA_ERR(CADA_ERR_CONFIG, "learn.tp = %d, rollout.tp = %d: both must be >= 1", Pl, Pr);
    if (lay->learners < 1 || lay->learners % Pl)
        return CADA_ERR(CADA_ERR_CONFIG, "learner_ranks = %d is not a multiple of learn.tp = %d", lay->learners, Pl);
    if (lay->rollout < 1 || lay->rollout % Pr)
        return CADA_ERR(CADA_ERR_CONFIG, "rollout_ranks = %d is not a multiple of rollout.tp = %d", lay->rollout, Pr);
    if (Pr % Pl && Pl % Pr)
        return CADA_ERR(CADA_ERR_CONFIG,
                        "rollout.tp = %d and learn.tp = %d: one must be a multiple of the other (the weight sync cuts a "
                        "rollout part from one learner part, or puts it together from whole learner parts)",
                        Pr, Pl);
    cada_model_config part;
    if (cada_tp_local_config(full, Pr > Pl ? Pr : Pl, &part) != CADA_OK) { /* names the field it does not divide */
        char why[256];
        snprintf(why, sizeof why, "%s", cada_error_message());
        return CADA_ERR(CADA_ERR_CONFIG, "%s = %d: %s", Pr > Pl ? "rollout.tp" : "learn.tp", Pr > Pl ? Pr : Pl, why);
    }
    return CADA_OK;
}

void cada_reshard_chunk(size_t n, int d, int W, size_t *off, size_t *count) {
    const size_t lo = n * (size_t)d / (size_t)W, hi = n * (size_t)(d + 1) / (size_t)W;
    *off = lo;
    *count = hi - lo;
}

#ifdef CADA_HAVE_MPI
#include "io/dtype.h"
#include "sched/exchange.h"

#include <mpi.h>
#include <stdint.h>
#include <time.h>

#define HEADER_WORDS 5 /* version, slice floats, chunk offset, chunk count, wire dtype */

/* Waits for reqs[0..n) until timeout_s; on timeout cancels nothing (the job fails) and
 * names the peer of the first request still open. */
static cada_status wait_all(MPI_Request *reqs, int n, const int *peers, double timeout_s, int *peer, const char *what) {
    const double deadline = MPI_Wtime() + timeout_s;
    for (;;) {
        int done = 0;
        if (MPI_Testall(n, reqs, &done, MPI_STATUSES_IGNORE) != MPI_SUCCESS)
            return CADA_ERR(CADA_ERR_MPI, "weight sync: MPI failed while %s", what);
        if (done) return CADA_OK;
        if (MPI_Wtime() > deadline) {
            for (int i = 0; i < n; i++)
                if (reqs[i] != MPI_REQUEST_NULL) {
                    if (peer) *peer = peers[i];
                    return CADA_ERR(CADA_ERR_MPI, "weight sync: rank %d did not answer within %.0f s while %s",
                                    peers[i], timeout_s, what);
                }
        }
        struct timespec ts = {0, 20000}; /* 20 us: leave the cores to the peers */
        nanosleep(&ts, NULL);
    }
}

static size_t bucket_floats(const cada_reshard_options *o) {
    const size_t b = o->bucket_bytes ? o->bucket_bytes : (size_t)16 << 20;
    const size_t esz = o->wire == CADA_WIRE_BF16 ? 2 : 4;
    return b / esz ? b / esz : 1;
}

/* The learner side: for each piece of its part some rollout rank needs (split: each
 * sub-part s of kk; merge: the whole part), its chunk of that piece to every engine's
 * rank taking it. */
static cada_status learner_send(const cada_reshard_options *o, cada_model *m, int k, long long version, int *peer) {
    const cada_reshard_layout *lay = &o->layout;
    const int Pl = lay->learn_tp, Pr = lay->rollout_tp, W = lay->learners / Pl, E = lay->rollout / Pr;
    const int split = Pr >= Pl, kk = split ? Pr / Pl : 1; /* pieces of this part */
    const int i = k % Pl, d = k / Pl;
    const size_t bf = bucket_floats(o), esz = o->wire == CADA_WIRE_BF16 ? 2 : 4;
    cada_model_config sub;
    CADA_TRY(cada_tp_local_config(&m->cfg, kk, &sub));
    cada_model slice;
    memset(&slice, 0, sizeof slice);
    if (kk > 1) CADA_TRY(cada_model_init(&slice, &sub));
    const size_t n_r = kk > 1 ? slice.n_params : m->n_params;
    size_t off, count;
    cada_reshard_chunk(n_r, d, W, &off, &count);
    const int n_buckets = (int)((count + bf - 1) / bf);
    const int per_dest = 1 + n_buckets;
    uint16_t *wire16 = o->wire == CADA_WIRE_BF16 && count ? malloc(2 * count) : NULL;
    MPI_Request *reqs = malloc(sizeof(MPI_Request) * (size_t)per_dest * (size_t)E);
    int *peers = malloc(sizeof(int) * (size_t)per_dest * (size_t)E);
    cada_status st = CADA_OK;
    if ((o->wire == CADA_WIRE_BF16 && count && !wire16) || !reqs || !peers) {
        st = CADA_ERR(CADA_ERR_NOMEM, "weight sync: learner %d: buffers for a chunk of %zu floats", k, count);
        goto done;
    }
    for (int s = 0; s < kk && st == CADA_OK; s++) {
        const float *src = m->params;
        if (kk > 1) {
            cada_tp_copy(&m->cfg, &m->p, &slice.p, s, kk, CADA_TP_SCATTER);
            src = slice.params;
        }
        src += off;
        const void *payload = src;
        if (wire16) {
            cada_convert_from_f32(CADA_DTYPE_BF16, src, wire16, count);
            payload = wire16;
        }
        int64_t head[HEADER_WORDS] = {version, (int64_t)n_r, (int64_t)off, (int64_t)count, (int64_t)o->wire};
        int nr = 0;
        for (int e = 0; e < E; e++) {
            const int dest = lay->learners + e * Pr + (split ? i * kk + s : i / (Pl / Pr));
            peers[nr] = dest;
            MPI_Isend(head, HEADER_WORDS, MPI_INT64_T, dest, CADA_TAG_WEIGHTS, MPI_COMM_WORLD, &reqs[nr++]);
            for (int b = 0; b < n_buckets; b++) {
                const size_t at = (size_t)b * bf, len = count - at < bf ? count - at : bf;
                peers[nr] = dest;
                MPI_Isend((const char *)payload + at * esz, (int)(len * esz), MPI_BYTE, dest, CADA_TAG_WEIGHTS, MPI_COMM_WORLD,
                          &reqs[nr++]);
            }
        }
        /* the slice and the bf16 chunk are reused for the next s: wait until sent */
        st = wait_all(reqs, nr, peers, o->timeout_s, peer, "sending weights");
    }
done:
    free(wire16);
    free(reqs);
    free(peers);
    if (kk > 1) cada_model_free(&slice);
    return st;
}

/* Chunk d of a piece of n floats from learner rank src into dst[0..n) (its place). */
static cada_status recv_chunk(const cada_reshard_options *o, int me, int src, int d, int W, size_t n, float *dst,
                              uint16_t *stage, long long version, int *peer, int tell) {
    const size_t bf = bucket_floats(o), esz = o->wire == CADA_WIRE_BF16 ? 2 : 4;
    int64_t head[HEADER_WORDS];
    MPI_Request req;
    MPI_Irecv(head, HEADER_WORDS, MPI_INT64_T, src, CADA_TAG_WEIGHTS, MPI_COMM_WORLD, &req);
    CADA_TRY(wait_all(&req, 1, &src, o->timeout_s, peer, "waiting for a weight header"));
    size_t off, count;
    cada_reshard_chunk(n, d, W, &off, &count);
    if (head[0] != version || head[1] != (int64_t)n || head[2] != (int64_t)off || head[3] != (int64_t)count ||
        head[4] != (int64_t)o->wire)
        return CADA_ERR(CADA_ERR_FORMAT,
                        "weight sync: rank %d from learner rank %d: header says version %lld, slice %lld floats, chunk "
                        "[%lld, +%lld), wire %s; this rank expects version %lld, slice %zu, chunk [%zu, +%zu), wire %s",
                        me, src, (long long)head[0], (long long)head[1], (long long)head[2], (long long)head[3],
                        head[4] == CADA_WIRE_BF16 ? "bf16" : head[4] == CADA_WIRE_F32 ? "fp32" : "?", version, n, off, count,
                        o->wire == CADA_WIRE_BF16 ? "bf16" : "fp32");
    for (size_t at = 0; at < count; at += bf) {
        const size_t len = count - at < bf ? count - at : bf;
        float *to = dst + off + at;
        MPI_Irecv(stage ? (void *)stage : (void *)to, (int)(len * esz), MPI_BYTE, src, CADA_TAG_WEIGHTS, MPI_COMM_WORLD, &req);
        CADA_TRY(wait_all(&req, 1, &src, o->timeout_s, peer, "receiving weights"));
        if (stage) cada_convert_to_f32(CADA_DTYPE_BF16, stage, to, len);
        if (tell && o->landed && o->landed->fn) o->landed->fn(o->landed->ctx, off + at, len);
    }
    return CADA_OK;
}

/* The rollout side: split (Pr >= Pl), its slice straight into its parameters, a chunk
 * from each of the W replicas of learner part j / kk; merge (Pl = k Pr), each of the k
 * learner parts j k + s whole into a scratch part (chunks from their replicas), then
 * into its place as sub-part s of this rank's part. */
static cada_status rollout_recv(const cada_reshard_options *o, cada_model *m, int r, long long version, int *peer) {
    const cada_reshard_layout *lay = &o->layout;
    const int Pl = lay->learn_tp, Pr = lay->rollout_tp, W = lay->learners / Pl;
    const int j = r % Pr, me = lay->learners + r;
    const int split = Pr >= Pl, k = split ? 1 : Pl / Pr;
    uint16_t *stage = o->wire == CADA_WIRE_BF16 ? malloc(2 * bucket_floats(o)) : NULL;
    if (o->wire == CADA_WIRE_BF16 && !stage)
        return CADA_ERR(CADA_ERR_NOMEM, "weight sync: rank %d: a bucket of %zu bf16 values", me, bucket_floats(o));
    cada_model part;
    memset(&part, 0, sizeof part);
    cada_status st = CADA_OK;
    if (!split) {
        cada_model_config sub;
        st = cada_tp_local_config(&m->cfg, k, &sub);
        if (st == CADA_OK) st = cada_model_init(&part, &sub);
    }
    for (int s = 0; s < k && st == CADA_OK; s++) {
        const int i = split ? j / (Pr / Pl) : j * k + s; /* the learner part */
        float *dst = split ? m->params : part.params;
        const size_t n = split ? m->n_params : part.n_params;
        for (int d = 0; d < W && st == CADA_OK; d++)
            st = recv_chunk(o, me, d * Pl + i, d, W, n, dst, stage, version, peer, split);
        if (st == CADA_OK && !split) cada_tp_copy(&m->cfg, &m->p, &part.p, s, k, CADA_TP_GATHER);
    }
    if (st == CADA_OK && !split && o->landed && o->landed->fn) o->landed->fn(o->landed->ctx, 0, m->n_params);
    cada_model_free(&part);
    free(stage);
    return st;
}

cada_status cada_reshard_sync(const cada_reshard_options *o, cada_model *m, long long version, int *peer) {
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    const cada_reshard_layout *lay = &o->layout;
    if (lay->learn_tp < 1 || lay->rollout_tp < 1 || (lay->rollout_tp % lay->learn_tp && lay->learn_tp % lay->rollout_tp) ||
        lay->learners % lay->learn_tp || lay->rollout % lay->rollout_tp)
        return CADA_ERR(CADA_ERR_CONFIG, "weight sync: rank %d: layout not checked (cada_reshard_check)", rank);
    if (peer) *peer = -1;
    if (rank < lay->learners) return learner_send(o, m, rank, version, peer);
    if (rank < lay->learners + lay->rollout) return rollout_recv(o, m, rank - lay->learners, version, peer);
    return CADA_ERR(CADA_ERR_ARG, "weight sync: rank %d is neither a learner nor a rollout rank", rank);
}
#endif
