/* comm/comm.c: see comm.h. Structure: every collective is an operation (cada_comm_req)
 * that is started, then advanced by progress_op until done; every wait goes through
 * wait_ops (polling, back-off, timeout, diagnosis). Point-to-point operations (the
 * reduce-scatter and all-gather engines) move chunks of chunk_bytes with tags
 * (operation sequence number, chunk index); MPI collectives are one request each. */
#define _POSIX_C_SOURCE 200809L
#include "comm/comm.h"

#include "base/log.h"

#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef CADA_HAVE_MPI
#include <mpi.h>
#endif

enum { OP_COLL = 1, OP_RS, OP_AG };

#define RS_DEPTH 2 /* receive chunks in flight per peer */
#define POOL 4     /* scratch buffers kept for reuse */

struct cada_comm_req {
    int kind;
    int done;
    unsigned seq;
    char what[128];
    cada_red_op rop;
#ifdef CADA_HAVE_MPI
    MPI_Request coll; /* OP_COLL */
    float *coll_f32;  /* OP_COLL allreduce with AVG: divide by W on completion */
    size_t coll_n;
    double *gather64; /* OP_COLL f64 reduction: all ranks' values, reduced on completion */
    double *result64;
    /* OP_RS */
    const float *in;
    size_t lo;
    float *out;
    size_t my_lo, my_n; /* this rank's part of [lo, hi) */
    size_t chunk;       /* floats per message (the same on every rank) */
    size_t slot_stride; /* floats between receive slots in scratch */
    size_t n_chunks, next_sum;
    float *scratch;         /* RS_DEPTH * (W - 1) * chunk */
    size_t scratch_bytes;
    MPI_Request *rreq;      /* RS: RS_DEPTH * (W - 1); AG: every receive */
    int *rpeer;
    int n_rreq;
    MPI_Request *sreq;      /* every send */
    int *speer;
    int n_sreq;
    /* after the reduce-scatter, all-gather this (fixed-order allreduce) */
    int then_allgather;
    unsigned ag_seq; /* reserved when the operation starts: all ranks must agree on it */
    cada_shards ag_sh;
    float *ag_buf;
#endif
};

struct cada_comm {
    cada_comm_options opt;
    int rank, size;
    int is_mpi;
    int broken;
    int yield;     /* ranks on this node outnumber its cores: yield while spinning */
    unsigned seq;
    size_t scratch, scratch_peak;
    cada_comm_req **pending;
    int n_pending, cap_pending;
    /* receive scratch kept between operations: a fresh malloc of a large block is an
     * mmap whose pages fault in on every operation */
    float *pool[POOL];
    size_t pool_bytes[POOL];
    int *missing; /* (size) 1 for each rank the last timeout found missing */
    int n_missing;
#ifdef CADA_HAVE_MPI
    MPI_Comm mc;   /* data */
    MPI_Comm diag; /* the "who is here" exchange after a timeout */
#endif
};

void cada_comm_options_default(cada_comm_options *o) {
    memset(o, 0, sizeof *o);
    o->timeout_s = 300.0;
    o->fixed_order = 0;
    o->bucket_bytes = (size_t)32 << 20;
    o->chunk_bytes = (size_t)1 << 20;
    o->p2p_min_bytes = (size_t)256 << 10;
    o->spin_us = 2000;
}

static void set_options(cada_comm *c, const cada_comm_options *o) {
    if (o) c->opt = *o;
    else cada_comm_options_default(&c->opt);
    if (c->opt.timeout_s <= 0) c->opt.timeout_s = 300.0;
    if (c->opt.bucket_bytes < 4096) c->opt.bucket_bytes = 4096;
    if (c->opt.chunk_bytes < 256) c->opt.chunk_bytes = 256;
    if (c->opt.chunk_bytes > ((size_t)1 << 30)) c->opt.chunk_bytes = (size_t)1 << 30; /* int counts */
}

cada_status cada_comm_init_self(cada_comm **out, const cada_comm_options *o) {
    cada_comm *c = CADA_CALLOC(1, sizeof *c, "communicator");
    if (!c) return CADA_ERR_NOMEM;
    set_options(c, o);
    c->rank = 0;
    c->size = 1;
    *out = c;
    return CADA_OK;
}

#ifdef CADA_HAVE_MPI
static void backoff(double waited, double spin_s, int yield);

static cada_status init_from_mpi(cada_comm **out, MPI_Comm base, int dup, const cada_comm_options *o) {
    cada_comm *c = CADA_CALLOC(1, sizeof *c, "communicator");
    if (!c) return CADA_ERR_NOMEM;
    set_options(c, o);
    c->is_mpi = 1;
    /* MPI_Comm_dup and MPI_Comm_split_type below block without a timeout: a timed
     * barrier first, so a rank that never arrives (hung loading, say) fails the set-up
     * after timeout_s instead of hanging every other rank */
    MPI_Request arrive;
    int rc = MPI_Ibarrier(base, &arrive);
    for (double t0 = cada_now(); rc == MPI_SUCCESS;) {
        int done = 0;
        rc = MPI_Test(&arrive, &done, MPI_STATUS_IGNORE);
        if (done || rc != MPI_SUCCESS) break;
        double waited = cada_now() - t0;
        if (waited > c->opt.timeout_s) {
            int me = -1, n = 0;
            MPI_Comm_rank(base, &me);
            MPI_Comm_size(base, &n);
            free(c);
            return CADA_ERR(CADA_ERR_MPI, "comm rank %d of %d: set-up: not every rank arrived within %.1f s (comm timeout)", me, n,
                            waited);
        }
        backoff(waited, c->opt.spin_us * 1e-6, 1);
    }
    if (rc != MPI_SUCCESS) {
        free(c);
        return cada_mpi_error(rc, "communicator set-up (MPI_Ibarrier)", __FILE__, __LINE__);
    }
    rc = dup ? MPI_Comm_dup(base, &c->mc) : MPI_SUCCESS;
    if (!dup) c->mc = base;
    if (rc == MPI_SUCCESS) rc = MPI_Comm_set_errhandler(c->mc, MPI_ERRORS_RETURN);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_dup(c->mc, &c->diag);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_rank(c->mc, &c->rank);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_size(c->mc, &c->size);
    if (rc != MPI_SUCCESS) {
        free(c);
        return cada_mpi_error(rc, "communicator set-up (MPI_Comm_dup/set_errhandler)", __FILE__, __LINE__);
    }
    /* oversubscribed node? (ranks sharing memory with this one vs online cores) */
    MPI_Comm node;
    if (MPI_Comm_split_type(c->mc, MPI_COMM_TYPE_SHARED, c->rank, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
        int local = 1;
        MPI_Comm_size(node, &local);
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        c->yield = cores > 0 && local > cores;
        MPI_Comm_free(&node);
    }
    /* tags: ((seq & 2047) << 12) | (chunk & 4095) < 2^23 */
    int *ub = NULL, flag = 0;
    MPI_Comm_get_attr(c->mc, MPI_TAG_UB, &ub, &flag);
    if (flag && ub && *ub < (1 << 23) - 1) {
        int have = *ub;
        MPI_Comm_free(&c->diag);
        MPI_Comm_free(&c->mc);
        free(c);
        return CADA_ERR(CADA_ERR_UNSUPPORTED, "comm: this MPI allows tags up to %d; cada needs 2^23 - 1", have);
    }
    *out = c;
    return CADA_OK;
}
#endif

cada_status cada_comm_init_world(cada_comm **out, const cada_comm_options *o) {
#ifdef CADA_HAVE_MPI
    int inited = 0, finalized = 0;
    MPI_Initialized(&inited);
    MPI_Finalized(&finalized);
    if (inited && !finalized) return init_from_mpi(out, MPI_COMM_WORLD, 1, o);
#endif
    return cada_comm_init_self(out, o);
}

cada_status cada_comm_split(cada_comm *parent, int color, int key, cada_comm **out) {
    if (parent->broken) return CADA_ERR(CADA_ERR_MPI, "comm rank %d: communicator broken by an earlier timeout", parent->rank);
#ifdef CADA_HAVE_MPI
    if (parent->is_mpi) {
        MPI_Comm sub;
        CADA_MPI_TRY(MPI_Comm_split(parent->mc, color, key, &sub));
        return init_from_mpi(out, sub, 0, &parent->opt);
    }
#endif
    (void)color;
    (void)key;
    return cada_comm_init_self(out, &parent->opt);
}

static void free_req(cada_comm *c, cada_comm_req *r);

void cada_comm_free(cada_comm *c) {
    if (!c) return;
    for (int i = 0; i < c->n_pending; i++) free_req(c, c->pending[i]);
    free(c->pending);
    for (int i = 0; i < POOL; i++) free(c->pool[i]);
    free(c->missing);
#ifdef CADA_HAVE_MPI
    if (c->is_mpi) {
        int finalized = 0;
        MPI_Finalized(&finalized);
        if (!finalized) {
            MPI_Comm_free(&c->diag);
            MPI_Comm_free(&c->mc);
        }
    }
#endif
    free(c);
}

int cada_comm_rank(const cada_comm *c) { return c->rank; }
int cada_comm_missing(const cada_comm *c, int *ranks, int cap) {
    int n = 0;
    for (int j = 0; c->missing && j < c->size; j++)
        if (c->missing[j]) {
            if (n < cap) ranks[n] = j;
            n++;
        }
    return n;
}
int cada_comm_size(const cada_comm *c) { return c->size; }
const char *cada_comm_backend(const cada_comm *c) { return c->is_mpi ? "mpi" : "self"; }
const cada_comm_options *cada_comm_get_options(const cada_comm *c) { return &c->opt; }
void cada_comm_set_fixed_order(cada_comm *c, int fixed_order) { c->opt.fixed_order = fixed_order; }
size_t cada_comm_scratch_bytes(const cada_comm *c) { return c->scratch; }

void cada_comm_release_scratch(cada_comm *c) {
    for (int i = 0; i < POOL; i++)
        if (c->pool[i]) {
            free(c->pool[i]);
            c->scratch -= c->pool_bytes[i];
            c->pool[i] = NULL;
        }
}
size_t cada_comm_scratch_peak(const cada_comm *c) { return c->scratch_peak; }

/* ---- shards ----------------------------------------------------------------------------- */

void cada_shards_init(cada_shards *s, size_t total, int size, size_t align) {
    if (align == 0) align = 1;
    if (size < 1) size = 1;
    size_t per = (total + (size_t)size - 1) / (size_t)size;
    per = (per + align - 1) / align * align;
    s->total = total;
    s->size = size;
    s->chunk = per;
}

size_t cada_shards_offset(const cada_shards *s, int rank) {
    size_t off = (size_t)rank * s->chunk;
    return off < s->total ? off : s->total;
}

size_t cada_shards_count(const cada_shards *s, int rank) {
    return cada_shards_offset(s, rank + 1) - cada_shards_offset(s, rank);
}

/* ---- the canonical tree ----------------------------------------------------------------- */

float cada_tree_sum(const float *x, int n) {
    if (n <= 0) return 0.0f;
    float v[64], *w = n <= 64 ? v : malloc(sizeof(float) * (size_t)n);
    if (!w) return NAN;
    memcpy(w, x, sizeof(float) * (size_t)n);
    for (int s = 1; s < n; s *= 2)
        for (int i = 0; i + s < n; i += 2 * s) w[i] += w[i + s];
    float r = w[0];
    if (w != v) free(w);
    return r;
}

/* The canonical tree over slot[0..n) (each len floats), written to out. Levels combine
 * in place (left += right) into scratch slots; slot[ro] (this rank's own input) is
 * never written: when it is a left child, its partial sum goes to out instead; the top
 * level writes out directly. No copies, and the same additions as cada_tree_sum. */
__attribute__((unused)) static void tree_sum_into(float **slot, int n, size_t len, int ro, float *out) {
    if (n == 1) {
        if (slot[0] != out) memcpy(out, slot[0], sizeof(float) * len);
        return;
    }
    for (int s = 1; s < n; s *= 2)
        for (int i = 0; i + s < n; i += 2 * s) {
            const float *a = slot[i], *b = slot[i + s];
            float *dst = 2 * s >= n || (i == ro && slot[i] != out) ? out : slot[i];
            for (size_t k = 0; k < len; k++) dst[k] = a[k] + b[k];
            slot[i] = dst;
        }
}

/* ---- waiting ---------------------------------------------------------------------------- */

/* Polling policy: for the first spin_us microseconds, poll back to back (a collective
 * of a few hundred microseconds completes at full speed; Open MPI's shared-memory
 * transport moves large messages in 32 KiB fragments that need both sides polling).
 * Between those polls the rank yields its core only when ranks outnumber cores on
 * this node: measured on a machine busy with other jobs, yielding handed the core to
 * them for whole time slices and made a 1 MiB allreduce 40x slower. After the spin,
 * sleep between polls for 1/50 of the time already waited, between 20 us and 1 ms: the
 * added latency stays near 2% and a rank that waits long uses almost no CPU (2-3% of
 * a core measured). nanosleep rounds up to the timer slack (~50 us), so shorter sleeps
 * would be no cheaper. */
__attribute__((unused)) static void backoff(double waited, double spin_s, int yield) {
    if (waited < spin_s) {
        if (yield) sched_yield();
        return;
    }
    double d = waited / 50.0;
    if (d < 20e-6) d = 20e-6;
    if (d > 1e-3) d = 1e-3;
    struct timespec ts = {0, (long)(d * 1e9)};
    nanosleep(&ts, NULL);
}

/* Remembers which ranks the timeout being reported found missing (cada_comm_missing). */
__attribute__((unused)) static void note_missing(cada_comm *c, int rank) {
    if (!c->missing) c->missing = calloc((size_t)c->size, sizeof(int));
    if (c->missing && rank >= 0 && rank < c->size) {
        c->n_missing += !c->missing[rank];
        c->missing[rank] = 1;
    }
}

static cada_status broken_error(const cada_comm *c) {
    return CADA_ERR(CADA_ERR_MPI, "comm rank %d of %d: the communicator is broken by an earlier timeout", c->rank, c->size);
}

__attribute__((unused)) static void account(cada_comm *c, long long delta) {
    c->scratch = (size_t)((long long)c->scratch + delta);
    if (c->scratch > c->scratch_peak) c->scratch_peak = c->scratch;
}

/* Scratch of at least `bytes` from the pool (smallest that fits) or malloc. */
__attribute__((unused)) static float *scratch_take(cada_comm *c, size_t bytes, size_t *got) {
    int best = -1;
    for (int i = 0; i < POOL; i++)
        if (c->pool[i] && c->pool_bytes[i] >= bytes && (best < 0 || c->pool_bytes[i] < c->pool_bytes[best])) best = i;
    if (best >= 0) {
        float *p = c->pool[best];
        *got = c->pool_bytes[best];
        c->pool[best] = NULL;
        return p; /* pooled bytes are already accounted */
    }
    float *p = malloc(bytes);
    if (p) {
        *got = bytes;
        account(c, (long long)bytes);
    }
    return p;
}

/* Back to the pool; when it is full, the smallest buffer is released. */
__attribute__((unused)) static void scratch_give(cada_comm *c, float *p, size_t bytes) {
    if (!p) return;
    int slot = -1;
    for (int i = 0; i < POOL && slot < 0; i++)
        if (!c->pool[i]) slot = i;
    if (slot < 0) {
        slot = 0;
        for (int i = 1; i < POOL; i++)
            if (c->pool_bytes[i] < c->pool_bytes[slot]) slot = i;
        if (c->pool_bytes[slot] >= bytes) {
            free(p);
            account(c, -(long long)bytes);
            return;
        }
        free(c->pool[slot]);
        account(c, -(long long)c->pool_bytes[slot]);
    }
    c->pool[slot] = p;
    c->pool_bytes[slot] = bytes;
}

__attribute__((unused)) static cada_comm_req *new_req(cada_comm *c, int kind, const char *fmt_what, size_t bytes) {
    cada_comm_req *r = CADA_CALLOC(1, sizeof *r, "comm operation");
    if (!r) return NULL;
    r->kind = kind;
    r->seq = c->seq++;
    snprintf(r->what, sizeof r->what, "%s #%u (%.2f MiB)", fmt_what, r->seq, (double)bytes / (1 << 20));
    return r;
}

static void free_req(cada_comm *c, cada_comm_req *r) {
    if (!r) return;
#ifdef CADA_HAVE_MPI
    scratch_give(c, r->scratch, r->scratch_bytes);
    free(r->rreq);
    free(r->rpeer);
    free(r->sreq);
    free(r->speer);
    free(r->gather64);
#else
    (void)c;
#endif
    free(r);
}

__attribute__((unused)) static cada_status add_pending(cada_comm *c, cada_comm_req *r) {
    if (c->n_pending == c->cap_pending) {
        int cap = c->cap_pending ? 2 * c->cap_pending : 16;
        cada_comm_req **p = realloc(c->pending, sizeof *p * (size_t)cap);
        if (!p) return CADA_ERR(CADA_ERR_NOMEM, "comm: pending operation list");
        c->pending = p;
        c->cap_pending = cap;
    }
    c->pending[c->n_pending++] = r;
    return CADA_OK;
}

static void remove_pending(cada_comm *c, cada_comm_req *r) {
    for (int i = 0; i < c->n_pending; i++)
        if (c->pending[i] == r) {
            c->pending[i] = c->pending[--c->n_pending];
            return;
        }
}

#ifdef CADA_HAVE_MPI

static int make_tag(unsigned seq, size_t chunk) { return (int)(((seq & 2047u) << 12) | (unsigned)(chunk & 4095u)); }

static cada_status start_allgather_p2p(cada_comm *c, cada_comm_req *r, const cada_shards *sh, const float *src, size_t lo,
                                       size_t hi, float *dst);

/* Reduce-scatter engine: sums chunk next_sum when its W - 1 receives are in, then
 * posts the receives of chunk next_sum + RS_DEPTH into the freed slot. */
static cada_status rs_post_recv(cada_comm *c, cada_comm_req *r, size_t k) {
    const int W = c->size, P = W - 1;
    const size_t slot = k % RS_DEPTH, off = k * r->chunk;
    const size_t len = r->my_n - off < r->chunk ? r->my_n - off : r->chunk;
    for (int j = 0, q = 0; j < W; j++) {
        if (j == c->rank) continue;
        float *dst = r->scratch + (slot * (size_t)P + (size_t)q) * r->slot_stride;
        MPI_Request *rq = &r->rreq[slot * (size_t)P + (size_t)q];
        CADA_MPI_TRY(MPI_Irecv(dst, (int)len, MPI_FLOAT, j, make_tag(r->seq, k), c->mc, rq));
        r->rpeer[slot * (size_t)P + (size_t)q] = j;
        q++;
    }
    return CADA_OK;
}

static cada_status progress_rs(cada_comm *c, cada_comm_req *r) {
    const int W = c->size, P = W - 1;
    while (r->next_sum < r->n_chunks) {
        const size_t k = r->next_sum, slot = k % RS_DEPTH;
        int flag = 0;
        CADA_MPI_TRY(MPI_Testall(P, &r->rreq[slot * (size_t)P], &flag, MPI_STATUSES_IGNORE));
        if (!flag) break;
        const size_t off = k * r->chunk;
        const size_t len = r->my_n - off < r->chunk ? r->my_n - off : r->chunk;
        float *out = r->out + off;
        float *mine = (float *)(r->in + (r->my_lo - r->lo) + off); /* read only (tree_sum_into) */
        float *slots[1024] = {0};
        float **sl = W <= 1024 ? slots : malloc(sizeof(float *) * (size_t)W);
        if (!sl) return CADA_ERR(CADA_ERR_NOMEM, "comm: reduction slots");
        for (int j = 0, q = 0; j < W; j++) sl[j] = j == c->rank ? mine : r->scratch + (slot * (size_t)P + (size_t)q++) * r->slot_stride;
        tree_sum_into(sl, W, len, c->rank, out);
        if (sl != slots) free(sl);
        if (r->rop == CADA_RED_AVG) {
            const float w = (float)W;
            for (size_t i = 0; i < len; i++) out[i] /= w;
        }
        r->next_sum++;
        if (k + RS_DEPTH < r->n_chunks) CADA_TRY(rs_post_recv(c, r, k + RS_DEPTH));
    }
    if (r->next_sum < r->n_chunks) return CADA_OK;
    int flag = 1;
    if (r->n_sreq) CADA_MPI_TRY(MPI_Testall(r->n_sreq, r->sreq, &flag, MPI_STATUSES_IGNORE));
    if (!flag) return CADA_OK;
    if (r->then_allgather) {
        /* the fixed-order allreduce's second half, under a fresh sequence number */
        free(r->rreq); free(r->rpeer); free(r->sreq); free(r->speer);
        r->rreq = r->sreq = NULL;
        r->rpeer = r->speer = NULL;
        scratch_give(c, r->scratch, r->scratch_bytes);
        r->scratch = NULL;
        r->then_allgather = 0;
        r->seq = r->ag_seq;
        return start_allgather_p2p(c, r, &r->ag_sh, r->ag_buf, 0, r->ag_sh.total, r->ag_buf);
    }
    r->done = 1;
    return CADA_OK;
}

static cada_status progress_ag(cada_comm *c, cada_comm_req *r) {
    (void)c;
    int fr = 1, fs = 1;
    if (r->n_rreq) CADA_MPI_TRY(MPI_Testall(r->n_rreq, r->rreq, &fr, MPI_STATUSES_IGNORE));
    if (r->n_sreq) CADA_MPI_TRY(MPI_Testall(r->n_sreq, r->sreq, &fs, MPI_STATUSES_IGNORE));
    r->done = fr && fs;
    return CADA_OK;
}

/* f64 reductions gather every rank's values and reduce them locally in rank order (a
 * canonical tree for sums), so every rank gets the same bits whatever MPI does. */
static void reduce_gathered64(cada_comm *c, cada_comm_req *r) {
    const int W = c->size;
    const size_t n = r->coll_n;
    double *g = r->gather64;
    for (size_t i = 0; i < n; i++) {
        if (r->rop == CADA_RED_MAX) {
            double m = g[i];
            for (int j = 1; j < W; j++) m = g[(size_t)j * n + i] > m ? g[(size_t)j * n + i] : m;
            r->result64[i] = m;
        } else {
            for (int s2 = 1; s2 < W; s2 *= 2)
                for (int j = 0; j + s2 < W; j += 2 * s2) g[(size_t)j * n + i] += g[(size_t)(j + s2) * n + i];
            r->result64[i] = r->rop == CADA_RED_AVG ? g[i] / W : g[i];
        }
    }
}

static cada_status progress_op(cada_comm *c, cada_comm_req *r) {
    if (r->done) return CADA_OK;
    switch (r->kind) {
    case OP_COLL: {
        int flag = 0;
        CADA_MPI_TRY(MPI_Test(&r->coll, &flag, MPI_STATUS_IGNORE));
        if (flag) {
            if (r->coll_f32 && r->rop == CADA_RED_AVG) {
                const float w = (float)c->size;
                for (size_t i = 0; i < r->coll_n; i++) r->coll_f32[i] /= w;
            }
            if (r->gather64) reduce_gathered64(c, r);
            r->done = 1;
        }
        return CADA_OK;
    }
    case OP_RS: return progress_rs(c, r);
    case OP_AG: return progress_ag(c, r);
    }
    return CADA_ERR(CADA_ERR_INTERNAL, "comm: operation of kind %d", r->kind);
}

/* After a collective timed out: every rank that timed out tells every other one, then
 * listens briefly. Whoever stays silent did not reach the operation (or is dead). */
static void who_is_here(cada_comm *c, const cada_comm_req *r, char *msg, size_t cap) {
    const int W = c->size;
    int *heard = calloc((size_t)W, sizeof(int));
    MPI_Request *sr = calloc((size_t)W, sizeof(MPI_Request));
    int payload[2] = {c->rank, (int)r->seq};
    if (!heard || !sr) {
        snprintf(msg, cap, "(no memory to ask which ranks are missing)");
        free(heard);
        free(sr);
        return;
    }
    for (int j = 0; j < W; j++)
        if (j != c->rank) MPI_Isend(payload, 2, MPI_INT, j, 1, c->diag, &sr[j]);
        else sr[j] = MPI_REQUEST_NULL;
    double grace = c->opt.timeout_s / 2 < 2.0 ? c->opt.timeout_s / 2 : 2.0, t0 = cada_now();
    if (grace < 0.2) grace = 0.2;
    int n_heard = 1;
    heard[c->rank] = 1;
    while (n_heard < W && cada_now() - t0 < grace) {
        int flag = 0;
        MPI_Status st;
        MPI_Iprobe(MPI_ANY_SOURCE, 1, c->diag, &flag, &st);
        if (flag) {
            int got[2];
            MPI_Recv(got, 2, MPI_INT, st.MPI_SOURCE, 1, c->diag, MPI_STATUS_IGNORE);
            if (!heard[st.MPI_SOURCE]) n_heard++;
            heard[st.MPI_SOURCE] = 1;
        } else {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    }
    size_t at = (size_t)snprintf(msg, cap, "rank(s) not in it:");
    int missing = 0;
    for (int j = 0; j < W && at < cap; j++)
        if (!heard[j]) {
            at += (size_t)snprintf(msg + at, cap - at, " %d", j);
            missing++;
            note_missing(c, j);
        }
    if (!missing && at < cap) snprintf(msg + at, cap - at, " none (all %d ranks are waiting in it)", W);
    for (int j = 0; j < W; j++)
        if (sr[j] != MPI_REQUEST_NULL) MPI_Request_free(&sr[j]);
    free(heard);
    free(sr);
}

/* Peers whose point-to-point messages are outstanding. */
static void pending_peers(cada_comm *c, const cada_comm_req *r, char *msg, size_t cap) {
    int *from = calloc((size_t)c->size, sizeof(int)), *to = calloc((size_t)c->size, sizeof(int));
    if (!from || !to) {
        snprintf(msg, cap, "(no memory to list peers)");
        free(from);
        free(to);
        return;
    }
    for (int i = 0; i < r->n_rreq; i++) {
        int flag = 1;
        if (r->rreq[i] != MPI_REQUEST_NULL) MPI_Request_get_status(r->rreq[i], &flag, MPI_STATUS_IGNORE);
        if (!flag) from[r->rpeer[i]] = 1;
        if (!flag) note_missing(c, r->rpeer[i]);
    }
    for (int i = 0; i < r->n_sreq; i++) {
        int flag = 1;
        if (r->sreq[i] != MPI_REQUEST_NULL) MPI_Request_get_status(r->sreq[i], &flag, MPI_STATUS_IGNORE);
        if (!flag) to[r->speer[i]] = 1;
        if (!flag) note_missing(c, r->speer[i]);
    }
    size_t at = (size_t)snprintf(msg, cap, "waiting for data from rank(s):");
    for (int j = 0; j < c->size && at < cap; j++)
        if (from[j]) at += (size_t)snprintf(msg + at, cap - at, " %d", j);
    if (at < cap) at += (size_t)snprintf(msg + at, cap - at, "; sends not taken by rank(s):");
    for (int j = 0; j < c->size && at < cap; j++)
        if (to[j]) at += (size_t)snprintf(msg + at, cap - at, " %d", j);
    free(from);
    free(to);
}

static cada_status timeout_error(cada_comm *c, const cada_comm_req *r, double waited) {
    char who[512];
    if (r->kind == OP_COLL) who_is_here(c, r, who, sizeof who);
    else pending_peers(c, r, who, sizeof who);
    c->broken = 1;
    return CADA_ERR(CADA_ERR_MPI, "comm rank %d of %d: %s timed out after %.1f s; %s", c->rank, c->size, r->what, waited, who);
}

#endif /* CADA_HAVE_MPI */

/* Waits for ops[0..n) (NULL entries are skipped), advancing every pending operation. */
static cada_status wait_ops(cada_comm *c, cada_comm_req **ops, int n) {
#ifdef CADA_HAVE_MPI
    const double t0 = cada_now();
    for (;;) {
        for (int i = 0; i < c->n_pending; i++) CADA_TRY(progress_op(c, c->pending[i]));
        int all = 1;
        const cada_comm_req *late = NULL;
        for (int i = 0; i < n; i++)
            if (ops[i] && !ops[i]->done) {
                all = 0;
                if (!late) late = ops[i];
            }
        if (all) return CADA_OK;
        double waited = cada_now() - t0;
        if (waited > c->opt.timeout_s) return timeout_error(c, late, waited);
        backoff(waited, c->opt.spin_us * 1e-6, c->yield);
    }
#else
    (void)c;
    (void)ops;
    (void)n;
    return CADA_OK;
#endif
}

static cada_status finish(cada_comm *c, cada_comm_req *r) {
    cada_status s = wait_ops(c, &r, 1);
    if (s != CADA_OK) return s; /* a timed-out operation stays pending: MPI may still write to its buffers */
    remove_pending(c, r);
    free_req(c, r);
    return CADA_OK;
}

/* ---- starting operations ----------------------------------------------------------------- */

cada_status cada_comm_reduce_scatter_start(cada_comm *c, const cada_shards *sh, const float *in, size_t lo, size_t hi,
                                           float *out, cada_red_op op, cada_comm_req **req) {
    *req = NULL;
    if (c->broken) return broken_error(c);
    if (hi < lo || hi > sh->total || sh->size != c->size)
        return CADA_ERR(CADA_ERR_ARG, "comm rank %d: reduce-scatter of [%zu, %zu) over shards of %zu floats for %d ranks (comm has %d)",
                        c->rank, lo, hi, sh->total, sh->size, c->size);
    if (op == CADA_RED_MAX) return CADA_ERR(CADA_ERR_ARG, "comm: reduce-scatter supports SUM and AVG");
    size_t mo = cada_shards_offset(sh, c->rank), mc = cada_shards_count(sh, c->rank);
    size_t a = lo > mo ? lo : mo, b = hi < mo + mc ? hi : mo + mc;
    if (c->size == 1 || !c->is_mpi) {
        if (b > a && out != in + (a - lo)) memmove(out, in + (a - lo), sizeof(float) * (b - a));
        return CADA_OK; /* AVG over one rank is the identity */
    }
#ifdef CADA_HAVE_MPI
    cada_comm_req *r = new_req(c, OP_RS, "reduce-scatter", (hi - lo) * sizeof(float));
    if (!r) return CADA_ERR_NOMEM;
    const int W = c->size, P = W - 1, me = c->rank;
    r->in = in;
    r->lo = lo;
    r->out = out;
    r->rop = op;
    /* every rank must cut every part into the same chunks: the chunk size is fixed */
    r->chunk = c->opt.chunk_bytes / sizeof(float);
    r->my_lo = a;
    r->my_n = b > a ? b - a : 0;
    r->n_chunks = (r->my_n + r->chunk - 1) / r->chunk;
    size_t n_send = 0;
    for (int j = 0; j < W; j++) {
        if (j == me) continue;
        size_t jo = cada_shards_offset(sh, j), jc = cada_shards_count(sh, j);
        size_t ja = lo > jo ? lo : jo, jb = hi < jo + jc ? hi : jo + jc;
        if (jb > ja) n_send += (jb - ja + r->chunk - 1) / r->chunk;
    }
    const size_t n_slots = (size_t)RS_DEPTH * (size_t)P;
    size_t slot_floats = r->my_n < r->chunk ? r->my_n : r->chunk;
    r->sreq = malloc(sizeof(MPI_Request) * (n_send ? n_send : 1));
    r->speer = malloc(sizeof(int) * (n_send ? n_send : 1));
    r->rreq = malloc(sizeof(MPI_Request) * n_slots);
    r->rpeer = malloc(sizeof(int) * n_slots);
    if (r->n_chunks) r->scratch = scratch_take(c, sizeof(float) * n_slots * slot_floats, &r->scratch_bytes);
    if (!r->sreq || !r->speer || !r->rreq || !r->rpeer || (r->n_chunks && !r->scratch)) {
        cada_status s = CADA_ERR(CADA_ERR_NOMEM, "comm rank %d: %s: buffers", c->rank, r->what);
        free_req(c, r);
        return s;
    }
    r->slot_stride = slot_floats;
    for (size_t i = 0; i < n_slots; i++) {
        r->rreq[i] = MPI_REQUEST_NULL;
        r->rpeer[i] = -1;
    }
    r->n_rreq = (int)n_slots;
    cada_status s = CADA_OK;
    for (int j = 0; j < W && s == CADA_OK; j++) {
        if (j == me) continue;
        size_t jo = cada_shards_offset(sh, j), jc = cada_shards_count(sh, j);
        size_t ja = lo > jo ? lo : jo, jb = hi < jo + jc ? hi : jo + jc;
        for (size_t k = 0; jb > ja && k * r->chunk < jb - ja; k++) {
            size_t len = jb - ja - k * r->chunk < r->chunk ? jb - ja - k * r->chunk : r->chunk;
            int rc = MPI_Isend(in + (ja - lo) + k * r->chunk, (int)len, MPI_FLOAT, j, make_tag(r->seq, k), c->mc,
                               &r->sreq[r->n_sreq]);
            if (rc != MPI_SUCCESS) {
                s = cada_mpi_error(rc, "MPI_Isend (reduce-scatter)", __FILE__, __LINE__);
                break;
            }
            r->speer[r->n_sreq++] = j;
        }
    }
    for (size_t k = 0; k < RS_DEPTH && k < r->n_chunks && s == CADA_OK; k++) s = rs_post_recv(c, r, k);
    if (s != CADA_OK || (s = add_pending(c, r)) != CADA_OK) {
        c->broken = 1; /* requests may be in flight: the buffers cannot be released safely */
        return s;
    }
    *req = r;
    return CADA_OK;
#else
    return CADA_ERR(CADA_ERR_INTERNAL, "comm: MPI operation without MPI");
#endif
}

#ifdef CADA_HAVE_MPI
/* All-gather engine: my shard to every peer, every peer's shard straight into buf. */
/* The elements [lo, hi) of a sharded buffer into dst[0..hi-lo): rank j's part of the
 * range, [lo, hi) intersected with its shard, is read from its src (full-buffer
 * coordinates: src[e] is element e) and sent to every other rank, which receives it at
 * its place in dst; this rank's own part is copied unless it is there already. */
static cada_status start_allgather_p2p(cada_comm *c, cada_comm_req *r, const cada_shards *sh, const float *src, size_t lo,
                                       size_t hi, float *dst) {
    const int W = c->size, me = c->rank;
    const size_t chunk = c->opt.chunk_bytes / sizeof(float);
    r->kind = OP_AG;
    r->done = 0;
    size_t n_send = 0, n_recv = 0;
    for (int j = 0; j < W; j++) {
        const size_t jo = cada_shards_offset(sh, j), jc = cada_shards_count(sh, j);
        const size_t a = lo > jo ? lo : jo, b = hi < jo + jc ? hi : jo + jc;
        const size_t k = b > a ? (b - a + chunk - 1) / chunk : 0;
        if (j == me) n_send = k * (size_t)(W - 1);
        else n_recv += k;
    }
    r->sreq = malloc(sizeof(MPI_Request) * (n_send ? n_send : 1));
    r->speer = malloc(sizeof(int) * (n_send ? n_send : 1));
    r->rreq = malloc(sizeof(MPI_Request) * (n_recv ? n_recv : 1));
    r->rpeer = malloc(sizeof(int) * (n_recv ? n_recv : 1));
    r->n_sreq = r->n_rreq = 0;
    if (!r->sreq || !r->speer || !r->rreq || !r->rpeer) return CADA_ERR(CADA_ERR_NOMEM, "comm rank %d: %s: requests", me, r->what);
    for (int j = 0; j < W; j++) {
        const size_t jo = cada_shards_offset(sh, j), jc = cada_shards_count(sh, j);
        const size_t a = lo > jo ? lo : jo, b = hi < jo + jc ? hi : jo + jc;
        if (b <= a) continue;
        if (j == me && dst + (a - lo) != src + a) memcpy(dst + (a - lo), src + a, sizeof(float) * (b - a));
        for (size_t k = 0; k * chunk < b - a; k++) {
            const size_t len = b - a - k * chunk < chunk ? b - a - k * chunk : chunk;
            if (j == me) {
                for (int q = 0; q < W; q++) {
                    if (q == me) continue;
                    CADA_MPI_TRY(MPI_Isend(src + a + k * chunk, (int)len, MPI_FLOAT, q, make_tag(r->seq, k), c->mc,
                                           &r->sreq[r->n_sreq]));
                    r->speer[r->n_sreq++] = q;
                }
            } else {
                CADA_MPI_TRY(MPI_Irecv(dst + (a - lo) + k * chunk, (int)len, MPI_FLOAT, j, make_tag(r->seq, k), c->mc,
                                       &r->rreq[r->n_rreq]));
                r->rpeer[r->n_rreq++] = j;
            }
        }
    }
    return CADA_OK;
}

#define MAX_PIECE ((size_t)1 << 30) /* MPI counts are ints */

/* One allreduce of at most MAX_PIECE floats, started. */
static cada_status allreduce_start(cada_comm *c, float *buf, size_t n, cada_red_op op, cada_comm_req **out) {
    *out = NULL;
    cada_comm_req *r;
    /* the direct exchange sends 2 (W - 1) messages: its break-even size grows with W */
    if (c->opt.fixed_order || n * sizeof(float) >= c->opt.p2p_min_bytes * (size_t)(c->size - 1)) {
        r = new_req(c, OP_RS, "allreduce (reduce-scatter + all-gather)", n * sizeof(float));
        if (!r) return CADA_ERR_NOMEM;
        free(r);
        c->seq--; /* the reduce-scatter below takes the number */
        cada_shards sh;
        cada_shards_init(&sh, n, c->size, 16);
        CADA_TRY(cada_comm_reduce_scatter_start(c, &sh, buf, 0, n, buf + cada_shards_offset(&sh, c->rank), op, &r));
        snprintf(r->what, sizeof r->what, "allreduce #%u (%.2f MiB, reduce-scatter + all-gather)", r->seq, (double)n * 4 / (1 << 20));
        r->then_allgather = 1;
        r->ag_seq = c->seq++;
        r->ag_sh = sh;
        r->ag_buf = buf;
        *out = r;
        return CADA_OK;
    }
    r = new_req(c, OP_COLL, "allreduce", n * sizeof(float));
    if (!r) return CADA_ERR_NOMEM;
    r->rop = op;
    r->coll_f32 = buf;
    r->coll_n = n;
    int rc = MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, c->mc, &r->coll);
    if (rc != MPI_SUCCESS) {
        free_req(c, r);
        return cada_mpi_error(rc, "MPI_Iallreduce", __FILE__, __LINE__);
    }
    cada_status s = add_pending(c, r);
    if (s != CADA_OK) {
        c->broken = 1;
        return s;
    }
    *out = r;
    return CADA_OK;
}
#endif

cada_status cada_comm_allreduce(cada_comm *c, float *buf, size_t n, cada_red_op op) {
    if (c->broken) return broken_error(c);
    if (op == CADA_RED_MAX) return CADA_ERR(CADA_ERR_ARG, "comm: float allreduce supports SUM and AVG");
    if (c->size == 1 || !c->is_mpi || n == 0) return CADA_OK;
#ifdef CADA_HAVE_MPI
    /* pieces of MAX_PIECE floats, two in flight */
    cada_comm_req *inflight[2] = {NULL, NULL};
    int k = 0;
    for (size_t at = 0; at < n; at += MAX_PIECE, k ^= 1) {
        if (inflight[k]) CADA_TRY(finish(c, inflight[k]));
        size_t len = n - at < MAX_PIECE ? n - at : MAX_PIECE;
        CADA_TRY(allreduce_start(c, buf + at, len, op, &inflight[k]));
    }
    for (int i = 0; i < 2; i++)
        if (inflight[i]) CADA_TRY(finish(c, inflight[i]));
    return CADA_OK;
#else
    return CADA_OK;
#endif
}

cada_status cada_comm_allreduce_f64(cada_comm *c, double *buf, int n, cada_red_op op) {
    if (c->broken) return broken_error(c);
    if (c->size == 1 || !c->is_mpi || n <= 0) return CADA_OK;
#ifdef CADA_HAVE_MPI
    cada_comm_req *r = new_req(c, OP_COLL, "allreduce (f64)", (size_t)n * sizeof(double));
    if (!r) return CADA_ERR_NOMEM;
    r->rop = op;
    r->coll_n = (size_t)n;
    r->result64 = buf;
    r->gather64 = malloc(sizeof(double) * (size_t)n * (size_t)c->size);
    if (!r->gather64) {
        free_req(c, r);
        return CADA_ERR(CADA_ERR_NOMEM, "comm: f64 reduction");
    }
    int rc = MPI_Iallgather(buf, n, MPI_DOUBLE, r->gather64, n, MPI_DOUBLE, c->mc, &r->coll);
    if (rc != MPI_SUCCESS) {
        free_req(c, r);
        return cada_mpi_error(rc, "MPI_Iallgather", __FILE__, __LINE__);
    }
    CADA_TRY(add_pending(c, r));
    return finish(c, r);
#else
    return CADA_OK;
#endif
}

cada_status cada_comm_allreduce_ranges(cada_comm *c, const cada_range *ranges, int n_ranges, cada_red_op op) {
    if (c->broken) return broken_error(c);
    if (op == CADA_RED_MAX) return CADA_ERR(CADA_ERR_ARG, "comm: float allreduce supports SUM and AVG");
    if (c->size == 1 || !c->is_mpi) return CADA_OK;
#ifdef CADA_HAVE_MPI
    const size_t cap = c->opt.bucket_bytes / sizeof(float);
    typedef struct {
        cada_comm_req *req;
        float *stage;
        int first, last; /* ranges [first, last) staged in it; last == first: direct */
    } bucket;
    bucket b[2] = {{NULL, NULL, 0, 0}, {NULL, NULL, 0, 0}};
    float *stage_mem[2] = {NULL, NULL};
    cada_status s = CADA_OK;
    int k = 0, i = 0;
    while (i < n_ranges && s == CADA_OK) {
        bucket *cur = &b[k];
        if (cur->req) { /* retire the older bucket first: copy back what it staged */
            s = finish(c, cur->req);
            if (s != CADA_OK) break;
            size_t at = 0;
            for (int j = cur->first; j < cur->last; j++) {
                memcpy(ranges[j].data, cur->stage + at, sizeof(float) * ranges[j].n);
                at += ranges[j].n;
            }
            cur->req = NULL;
        }
        if (ranges[i].n >= cap || ranges[i].n > MAX_PIECE) {
            /* large: reduced where it lies (pieces if huge), no staging */
            if (ranges[i].n > MAX_PIECE) {
                s = cada_comm_allreduce(c, ranges[i].data, ranges[i].n, op);
                i++;
                continue;
            }
            cur->first = cur->last = i;
            s = allreduce_start(c, ranges[i].data, ranges[i].n, op, &cur->req);
            i++;
        } else {
            if (!stage_mem[k]) {
                stage_mem[k] = malloc(sizeof(float) * cap);
                if (!stage_mem[k]) {
                    s = CADA_ERR(CADA_ERR_NOMEM, "comm: bucket of %zu bytes", c->opt.bucket_bytes);
                    break;
                }
                account(c, (long long)(sizeof(float) * cap));
            }
            cur->stage = stage_mem[k];
            size_t at = 0;
            cur->first = i;
            while (i < n_ranges && ranges[i].n < cap && at + ranges[i].n <= cap) {
                memcpy(cur->stage + at, ranges[i].data, sizeof(float) * ranges[i].n);
                at += ranges[i].n;
                i++;
            }
            cur->last = i;
            s = allreduce_start(c, cur->stage, at, op, &cur->req);
        }
        k ^= 1;
    }
    for (int j = 0; j < 2; j++) {
        int q = (k + j) % 2; /* b[k] was started first among the two */
        bucket *cur = &b[q];
        if (!cur->req || s != CADA_OK) continue;
        s = finish(c, cur->req);
        if (s != CADA_OK) break;
        size_t at = 0;
        for (int r = cur->first; r < cur->last; r++) {
            memcpy(ranges[r].data, cur->stage + at, sizeof(float) * ranges[r].n);
            at += ranges[r].n;
        }
        cur->req = NULL;
    }
    if (s == CADA_OK)
        for (int j = 0; j < 2; j++)
            if (stage_mem[j]) {
                free(stage_mem[j]);
                account(c, -(long long)(sizeof(float) * cap));
            }
    /* on failure the staging may still be a receive buffer of a pending operation:
     * it is leaked on purpose (the communicator is broken and the caller aborts) */
    return s;
#else
    return CADA_OK;
#endif
}

cada_status cada_comm_reduce_scatter(cada_comm *c, const cada_shards *sh, const float *in, size_t lo, size_t hi, float *out,
                                     cada_red_op op) {
    cada_comm_req *r = NULL;
    CADA_TRY(cada_comm_reduce_scatter_start(c, sh, in, lo, hi, out, op, &r));
    return r ? finish(c, r) : CADA_OK;
}

cada_status cada_comm_allgather(cada_comm *c, const cada_shards *sh, float *buf) {
    if (c->broken) return broken_error(c);
    if (sh->size != c->size)
        return CADA_ERR(CADA_ERR_ARG, "comm rank %d: all-gather over shards for %d ranks (comm has %d)", c->rank, sh->size, c->size);
    if (c->size == 1 || !c->is_mpi) return CADA_OK;
#ifdef CADA_HAVE_MPI
    cada_comm_req *r = new_req(c, OP_AG, "all-gather", sh->total * sizeof(float));
    if (!r) return CADA_ERR_NOMEM;
    cada_status s = start_allgather_p2p(c, r, sh, buf, 0, sh->total, buf);
    if (s == CADA_OK) s = add_pending(c, r);
    if (s != CADA_OK) {
        c->broken = 1;
        return s;
    }
    return finish(c, r);
#else
    return CADA_OK;
#endif
}

cada_status cada_comm_allgather_range_start(cada_comm *c, const cada_shards *sh, const float *src, size_t lo, size_t hi,
                                            float *dst, cada_comm_req **req) {
    *req = NULL;
    if (c->broken) return broken_error(c);
    if (hi < lo || hi > sh->total || sh->size != c->size)
        return CADA_ERR(CADA_ERR_ARG, "comm rank %d: all-gather of [%zu, %zu) over shards of %zu floats for %d ranks (comm has %d)",
                        c->rank, lo, hi, sh->total, sh->size, c->size);
    if (c->size == 1 || !c->is_mpi) {
        if (hi > lo && dst != src + lo) memmove(dst, src + lo, sizeof(float) * (hi - lo));
        return CADA_OK;
    }
#ifdef CADA_HAVE_MPI
    cada_comm_req *r = new_req(c, OP_AG, "all-gather of a range", (hi - lo) * sizeof(float));
    if (!r) return CADA_ERR_NOMEM;
    cada_status s = start_allgather_p2p(c, r, sh, src, lo, hi, dst);
    if (s == CADA_OK) s = add_pending(c, r);
    if (s != CADA_OK) {
        c->broken = 1;
        return s;
    }
    *req = r;
    return CADA_OK;
#else
    return CADA_OK;
#endif
}

cada_status cada_comm_allgather_range(cada_comm *c, const cada_shards *sh, const float *src, size_t lo, size_t hi, float *dst) {
    cada_comm_req *r = NULL;
    CADA_TRY(cada_comm_allgather_range_start(c, sh, src, lo, hi, dst, &r));
    return cada_comm_wait(c, r);
}

cada_status cada_comm_broadcast(cada_comm *c, float *buf, size_t n, int root) {
    if (c->broken) return broken_error(c);
    if (root < 0 || root >= c->size) return CADA_ERR(CADA_ERR_ARG, "comm: broadcast root %d of %d ranks", root, c->size);
    if (c->size == 1 || !c->is_mpi) return CADA_OK;
#ifdef CADA_HAVE_MPI
    for (size_t at = 0; at < n; at += MAX_PIECE) {
        size_t len = n - at < MAX_PIECE ? n - at : MAX_PIECE;
        cada_comm_req *r = new_req(c, OP_COLL, "broadcast", len * sizeof(float));
        if (!r) return CADA_ERR_NOMEM;
        int rc = MPI_Ibcast(buf + at, (int)len, MPI_FLOAT, root, c->mc, &r->coll);
        if (rc != MPI_SUCCESS) {
            free_req(c, r);
            return cada_mpi_error(rc, "MPI_Ibcast", __FILE__, __LINE__);
        }
        CADA_TRY(add_pending(c, r));
        CADA_TRY(finish(c, r));
    }
    return CADA_OK;
#else
    return CADA_OK;
#endif
}

cada_status cada_comm_barrier(cada_comm *c) {
    if (c->broken) return broken_error(c);
    if (c->size == 1 || !c->is_mpi) return CADA_OK;
#ifdef CADA_HAVE_MPI
    cada_comm_req *r = new_req(c, OP_COLL, "barrier", 0);
    if (!r) return CADA_ERR_NOMEM;
    int rc = MPI_Ibarrier(c->mc, &r->coll);
    if (rc != MPI_SUCCESS) {
        free_req(c, r);
        return cada_mpi_error(rc, "MPI_Ibarrier", __FILE__, __LINE__);
    }
    CADA_TRY(add_pending(c, r));
    return finish(c, r);
#else
    return CADA_OK;
#endif
}

cada_status cada_comm_progress(cada_comm *c) {
    if (c->broken) return broken_error(c);
#ifdef CADA_HAVE_MPI
    for (int i = 0; i < c->n_pending; i++) CADA_TRY(progress_op(c, c->pending[i]));
#endif
    return CADA_OK;
}

cada_status cada_comm_wait(cada_comm *c, cada_comm_req *req) {
    if (!req) return CADA_OK; /* operations that completed at once (one rank) */
    if (c->broken) return broken_error(c);
    return finish(c, req);
}

cada_status cada_comm_wait_all(cada_comm *c) {
    if (c->broken) return broken_error(c);
    while (c->n_pending > 0) CADA_TRY(finish(c, c->pending[0]));
    return CADA_OK;
}
