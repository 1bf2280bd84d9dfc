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

/* ---- the rollout side: a receive that advances when asked ---------------------------
 *
 * Split (Pr >= Pl): the rollout rank's slice comes straight into its parameters, a chunk
 * from each of the W replicas of learner part j / kk. Merge (Pl = k Pr): each of the k
 * learner parts j k + s comes whole into a scratch part (chunks from its replicas), then
 * goes to its place as sub-part s of this rank's part, one part after the other.
 * A chunk's buckets are posted only once its header has been checked, so nothing lands
 * from a sender of another version or shape. With bf16 on the wire a bucket of len
 * values lands in the upper half of its own fp32 destination (bytes [2 len, 4 len)) and
 * is widened in place front to back: value i is read before anything writes its bytes,
 * so no stage buffer is needed. */
struct cada_reshard_recv {
    cada_reshard_options o;
    cada_model *m;
    long long version;
    int me, j, W, Pl, split, k; /* k: learner parts merged (1 when splitting) */
    int s;                      /* the learner part in flight (merge); k when all landed */
    cada_model part;            /* merge: the scratch learner part */
    float *dst;                 /* where the chunks land: m's parameters or the scratch part's */
    size_t n;                   /* floats of the piece at dst */
    size_t bf;                  /* values per bucket */
    int max_buckets;            /* per chunk */
    int window;                 /* buckets posted at once per chunk (the fp32 in flight) */
    int64_t (*head)[HEADER_WORDS]; /* (W) */
    MPI_Request *head_req;      /* (W) */
    int *next_bucket;           /* (W) -1: header not yet checked; else the next bucket to post */
    MPI_Request *bucket_req;    /* (W, max_buckets) */
    int open;                   /* requests not yet complete */
    size_t landed, total;       /* floats landed and to land over the whole sync */
    double last_progress;       /* MPI_Wtime of the last request completed */
    cada_status failed;
    int failed_peer;
    char why[600];
};

static int src_of(const cada_reshard_recv *r, int d) {
    const int i = r->split ? r->j / (r->o.layout.rollout_tp / r->Pl) : r->j * r->k + r->s; /* the learner part */
    return d * r->Pl + i;
}

static void recv_fail(cada_reshard_recv *r, cada_status st, int peer) {
    if (r->failed != CADA_OK) return;
    r->failed = st;
    r->failed_peer = peer;
    snprintf(r->why, sizeof r->why, "%s", cada_error_message());
}

static void widen_in_place(float *to, size_t len) {
    const char *from = (const char *)to + 2 * len;
    uint16_t h[256];
    float f[256];
    for (size_t at = 0; at < len; at += 256) { /* a block is read whole before it is written */
        const size_t b = len - at < 256 ? len - at : 256;
        memcpy(h, from + 2 * at, 2 * b);
        for (size_t i = 0; i < b; i++) {
            const uint32_t bits = (uint32_t)h[i] << 16;
            memcpy(&f[i], &bits, 4);
        }
        memcpy(to + at, f, 4 * b);
    }
}

static void post_headers(cada_reshard_recv *r) {
    for (int d = 0; d < r->W; d++) {
        r->next_bucket[d] = -1;
        MPI_Irecv(r->head[d], HEADER_WORDS, MPI_INT64_T, src_of(r, d), CADA_TAG_WEIGHTS, MPI_COMM_WORLD, &r->head_req[d]);
        r->open++;
        for (int b = 0; b < r->max_buckets; b++) r->bucket_req[(size_t)d * r->max_buckets + b] = MPI_REQUEST_NULL;
    }
}

static int buckets_of(const cada_reshard_recv *r, int d) {
    size_t off, count;
    cada_reshard_chunk(r->n, d, r->W, &off, &count);
    return (int)((count + r->bf - 1) / r->bf);
}

/* Posts chunk d's next bucket. A bucket of len values lands at its place (bf16: in the
 * upper half of it, widened when it has landed). */
static void post_bucket(cada_reshard_recv *r, int d) {
    size_t off, count;
    cada_reshard_chunk(r->n, d, r->W, &off, &count);
    const int b = r->next_bucket[d]++;
    const size_t at = (size_t)b * r->bf, len = count - at < r->bf ? count - at : r->bf;
    const size_t esz = r->o.wire == CADA_WIRE_BF16 ? 2 : 4;
    char *to = (char *)(r->dst + off + at) + (r->o.wire == CADA_WIRE_BF16 ? 2 * len : 0);
    MPI_Irecv(to, (int)(len * esz), MPI_BYTE, src_of(r, d), CADA_TAG_WEIGHTS, MPI_COMM_WORLD,
              &r->bucket_req[(size_t)d * r->max_buckets + b]);
    r->open++;
}

/* Chunk d's header has come: check it, then post its first buckets (the rest as these
 * land, so that no more than `window` buckets of fp32 a chunk are in flight: with
 * rollout.weights = bf16 each is packed and its pages released as it lands). */
static void take_header(cada_reshard_recv *r, int d) {
    const int src = src_of(r, d);
    const int64_t *head = r->head[d];
    size_t off, count;
    cada_reshard_chunk(r->n, d, r->W, &off, &count);
    const cada_wire_dtype wire = r->o.wire;
    if (head[0] != r->version || head[1] != (int64_t)r->n || head[2] != (int64_t)off || head[3] != (int64_t)count ||
        head[4] != (int64_t)wire) {
        recv_fail(r, CADA_ERR(CADA_ERR_FORMAT,
                              "weight sync: rank %d from learner rank %d: header says version %lld, slice %lld floats, chunk "
                              "[%lld, +%lld), wire %s; this rank expects version %lld, slice %zu, chunk [%zu, +%zu), wire %s",
                              r->me, src, (long long)head[0], (long long)head[1], (long long)head[2], (long long)head[3],
                              head[4] == CADA_WIRE_BF16 ? "bf16" : head[4] == CADA_WIRE_F32 ? "fp32" : "?", r->version, r->n, off,
                              count, wire == CADA_WIRE_BF16 ? "bf16" : "fp32"),
                  src);
        return;
    }
    r->next_bucket[d] = 0;
    const int nb = buckets_of(r, d);
    while (r->next_bucket[d] < nb && r->next_bucket[d] < r->window) post_bucket(r, d);
}

/* Everything that has arrived, taken; returns 1 when the sync has wholly landed. */
static int pump(cada_reshard_recv *r) {
    while (r->failed == CADA_OK && r->s < r->k) {
        for (int d = 0; d < r->W && r->failed == CADA_OK; d++) {
            int flag = 0;
            if (r->next_bucket[d] < 0) {
                if (MPI_Test(&r->head_req[d], &flag, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
                    recv_fail(r, CADA_ERR(CADA_ERR_MPI, "weight sync: rank %d: MPI failed waiting for a weight header from rank %d",
                                          r->me, src_of(r, d)), src_of(r, d));
                    break;
                }
                if (!flag) continue;
                r->open--;
                r->last_progress = MPI_Wtime();
                take_header(r, d);
                continue;
            }
            size_t off, count;
            cada_reshard_chunk(r->n, d, r->W, &off, &count);
            const int nb = buckets_of(r, d);
            for (int b = 0; b < r->next_bucket[d] && r->failed == CADA_OK; b++) {
                const size_t at = (size_t)b * r->bf;
                MPI_Request *q = &r->bucket_req[(size_t)d * r->max_buckets + b];
                if (*q == MPI_REQUEST_NULL) continue; /* landed before */
                if (MPI_Test(q, &flag, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
                    recv_fail(r, CADA_ERR(CADA_ERR_MPI, "weight sync: rank %d: MPI failed receiving weights from rank %d", r->me,
                                          src_of(r, d)), src_of(r, d));
                    break;
                }
                if (!flag) continue;
                r->open--;
                r->last_progress = MPI_Wtime();
                const size_t len = count - at < r->bf ? count - at : r->bf;
                if (r->o.wire == CADA_WIRE_BF16) widen_in_place(r->dst + off + at, len);
                r->landed += len;
                if (r->split && r->o.landed && r->o.landed->fn) r->o.landed->fn(r->o.landed->ctx, off + at, len);
                if (r->next_bucket[d] < nb) post_bucket(r, d);
            }
        }
        if (r->failed != CADA_OK || r->open > 0) return 0;
        /* every chunk of this piece has landed */
        if (r->split) {
            r->s = r->k;
            break;
        }
        cada_tp_copy(&r->m->cfg, &r->m->p, &r->part.p, r->s, r->k, CADA_TP_GATHER);
        if (++r->s < r->k) post_headers(r);
        else if (r->o.landed && r->o.landed->fn) r->o.landed->fn(r->o.landed->ctx, 0, r->m->n_params);
    }
    return r->failed == CADA_OK && r->s == r->k;
}

cada_status cada_reshard_recv_begin(const cada_reshard_options *o, cada_model *m, long long version, cada_reshard_recv **out) {
    *out = NULL;
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    const cada_reshard_layout *lay = &o->layout;
    const int Pl = lay->learn_tp, Pr = lay->rollout_tp;
    if (Pl < 1 || Pr < 1 || (Pr % Pl && Pl % Pr) || lay->learners % Pl || lay->rollout % Pr || rank < lay->learners ||
        rank >= lay->learners + lay->rollout)
        return CADA_ERR(CADA_ERR_CONFIG, "weight sync: rank %d is not a rollout rank of a checked layout (cada_reshard_check)", rank);
    cada_reshard_recv *r = calloc(1, sizeof *r);
    if (!r) return CADA_ERR(CADA_ERR_NOMEM, "weight sync: rank %d: receive state", rank);
    r->o = *o;
    r->m = m;
    r->version = version;
    r->me = rank;
    r->j = (rank - lay->learners) % Pr;
    r->W = lay->learners / Pl;
    r->Pl = Pl;
    r->split = Pr >= Pl;
    r->k = r->split ? 1 : Pl / Pr;
    r->bf = bucket_floats(o);
    cada_status st = CADA_OK;
    if (!r->split) {
        cada_model_config sub;
        st = cada_tp_local_config(&m->cfg, r->k, &sub);
        if (st == CADA_OK) st = cada_model_init(&r->part, &sub);
    }
    r->dst = r->split ? m->params : r->part.params;
    r->n = r->split ? m->n_params : r->part.n_params;
    r->total = r->n * (size_t)r->k;
    size_t off, count;
    cada_reshard_chunk(r->n, 0, r->W, &off, &count); /* chunk 0 is the largest or as large */
    r->max_buckets = (int)((count + r->bf - 1) / r->bf);
    if (r->max_buckets < 1) r->max_buckets = 1;
    r->window = r->W >= 4 ? 1 : 4 / r->W; /* about 4 buckets (64 MiB of fp32) in flight over all chunks */
    r->head = calloc((size_t)r->W, sizeof *r->head);
    r->head_req = calloc((size_t)r->W, sizeof *r->head_req);
    r->next_bucket = calloc((size_t)r->W, sizeof *r->next_bucket);
    r->bucket_req = calloc((size_t)r->W * (size_t)r->max_buckets, sizeof *r->bucket_req);
    if (st == CADA_OK && (!r->head || !r->head_req || !r->next_bucket || !r->bucket_req))
        st = CADA_ERR(CADA_ERR_NOMEM, "weight sync: rank %d: receive state for %d chunks", rank, r->W);
    if (st != CADA_OK) {
        cada_reshard_recv_free(r);
        return st;
    }
    r->last_progress = MPI_Wtime();
    post_headers(r);
    pump(r);
    *out = r;
    return CADA_OK;
}

void cada_reshard_recv_progress(cada_reshard_recv *r) {
    if (r) pump(r);
}

double cada_reshard_recv_landed(const cada_reshard_recv *r) { return r && r->total ? (double)r->landed / (double)r->total : 0; }

cada_status cada_reshard_recv_finish(cada_reshard_recv *r, int *peer) {
    /* the silence that fails the sync is counted from here at the earliest: while the
     * rollout ran, the learners may still have been training */
    r->last_progress = MPI_Wtime();
    for (;;) {
        if (pump(r)) return CADA_OK;
        if (r->failed != CADA_OK) {
            if (peer) *peer = r->failed_peer;
            return CADA_ERR(r->failed, "%s", r->why);
        }
        if (MPI_Wtime() - r->last_progress > r->o.timeout_s) { /* nothing arrived for that long: name who owes it */
            int who = -1;
            for (int d = 0; d < r->W && who < 0; d++) {
                int open = r->next_bucket[d] < buckets_of(r, d);
                for (int b = 0; !open && b < r->max_buckets; b++) open = r->bucket_req[(size_t)d * r->max_buckets + b] != MPI_REQUEST_NULL;
                if (open) who = src_of(r, d);
            }
            if (peer) *peer = who;
            return CADA_ERR(CADA_ERR_MPI, "weight sync: rank %d did not answer within %.0f s while sending rank %d the weights of version %lld",
                            who, r->o.timeout_s, r->me, r->version);
        }
        struct timespec ts = {0, 20000}; /* 20 us: leave the cores to the peers */
        nanosleep(&ts, NULL);
    }
}

void cada_reshard_recv_free(cada_reshard_recv *r) {
    if (!r) return;
    /* a receive still open (a failed or abandoned sync) is cancelled; if one cannot be
     * (already matched), its buffers are left allocated rather than freed under it */
    int stuck = 0;
    const size_t nq = (size_t)r->W * (size_t)r->max_buckets;
    for (size_t i = 0; r->bucket_req && i < nq + (size_t)r->W; i++) {
        MPI_Request *q = i < nq ? &r->bucket_req[i] : (r->head_req ? &r->head_req[i - nq] : NULL);
        if (!q || *q == MPI_REQUEST_NULL) continue;
        MPI_Cancel(q);
        int done = 0;
        for (int tries = 0; tries < 1000 && !done; tries++) {
            if (MPI_Test(q, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) break;
            if (!done) {
                struct timespec ts = {0, 100000};
                nanosleep(&ts, NULL);
            }
        }
        stuck |= !done;
    }
    if (stuck) return;
    cada_model_free(&r->part);
    free(r->head);
    free(r->head_req);
    free(r->next_bucket);
    free(r->bucket_req);
    free(r);
}

static cada_status rollout_recv(const cada_reshard_options *o, cada_model *m, long long version, int *peer) {
    cada_reshard_recv *r = NULL;
    CADA_TRY(cada_reshard_recv_begin(o, m, version, &r));
    cada_status st = cada_reshard_recv_finish(r, peer);
    cada_reshard_recv_free(r);
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
    if (rank < lay->learners + lay->rollout) return rollout_recv(o, m, version, peer);
    return CADA_ERR(CADA_ERR_ARG, "weight sync: rank %d is neither a learner nor a rollout rank", rank);
}
#endif
