/* comm/nccl.c: see nccl.h. Structure: every collective is issued, then "settled" (a
 * non-blocking communicator may answer ncclInProgress while it enqueues; it is polled
 * until enqueued, with the timeout), then marked by a CUDA event in a ring of pending
 * operations, so a wait that fails can name the oldest unfinished operation. Every
 * failure, and every timeout, aborts the NCCL communicator and leaves it broken. */
#define _POSIX_C_SOURCE 200809L
#include "comm/nccl.h"

#if defined(CADA_HAVE_NCCL) && defined(CADA_HAVE_MPI)

#include "base/log.h"

#include <cuda_runtime.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* nccl.h declares ncclGroupStart() and a few others without (void) */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <nccl.h>
#pragma GCC diagnostic pop

#define OPS_RING 256                                 /* operations tracked between waits */
#define DEFAULT_RANGE_BUCKET ((size_t)32 << 20)      /* allreduce_ranges */
#define DEFAULT_BROADCAST_BUCKET ((size_t)256 << 20) /* broadcast_buckets */
#define SPIN_S 2e-3                                  /* poll without sleeping this long */
#define TAG_WORDS 4                                  /* version, count, type, magic */
#define TAG_MAGIC 0x63616461u                        /* "cada" */

typedef struct {
    unsigned long long seq;
    cudaEvent_t ev;
    char what[120];
} nccl_op;

struct cada_nccl {
    char name[32];
    int rank, size, world_rank, device;
    double timeout_s;
    ncclComm_t comm;
    cudaStream_t stream;
    cudaEvent_t order_ev; /* cada_nccl_after / join */
    int broken;
    unsigned long long seq; /* number of the last operation issued */
    nccl_op ring[OPS_RING];
    int ring_head, ring_n;
    unsigned long long untracked_upto; /* operations dropped from a full ring */
    uint64_t *tag_dev;  /* TAG_WORDS on the device */
    uint64_t *tag_host; /* 2 x TAG_WORDS pinned: [0..) sent by root, [TAG_WORDS..) received */
    cudaEvent_t tag_ev;
    uint64_t received_version;
};

size_t cada_nccl_dtype_size(cada_nccl_dtype t) { return t == CADA_NCCL_BF16 ? 2 : 4; }

static const char *dtype_name(cada_nccl_dtype t) { return t == CADA_NCCL_BF16 ? "bf16" : "fp32"; }

static double mib(size_t bytes) { return (double)bytes / (1024.0 * 1024.0); }

/* Polling policy, as comm.c: back to back for SPIN_S (a small collective finishes at
 * full speed), then sleep 1/50 of the time already waited, 20 us to 1 ms: under 2%
 * added latency, and a rank waiting for a slow peer uses almost no CPU. */
static void backoff(double waited) {
    if (waited < SPIN_S) return;
    double d = waited / 50.0;
    if (d < 20e-6) d = 20e-6;
    if (d > 1e-3) d = 1e-3;
    struct timespec ts = {0, (long)(d * 1e9)};
    nanosleep(&ts, NULL);
}

/* Records the message, aborts the communicator (once) and marks it broken. */
static cada_status fail(cada_nccl *nc, cada_status s, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static cada_status fail(cada_nccl *nc, cada_status s, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (nc->comm && !nc->broken) {
        ncclCommAbort(nc->comm);
        nc->comm = NULL;
    }
    nc->broken = 1;
    return CADA_ERR(s, "rank %d (world rank %d): NCCL communicator '%s' (%d ranks): %s; the communicator is aborted",
                    nc->rank, nc->world_rank, nc->name, nc->size, msg);
}

static cada_status check_nc(const cada_nccl *nc, const char *op) {
    if (!nc) return CADA_ERR(CADA_ERR_ARG, "cada_nccl_%s: the communicator is NULL", op);
    if (nc->broken)
        return CADA_ERR(CADA_ERR_CUDA,
                        "rank %d (world rank %d): NCCL communicator '%s': %s refused: the communicator was aborted "
                        "after an earlier failure; the job must stop",
                        nc->rank, nc->world_rank, nc->name, op);
    return CADA_OK;
}

static cada_status check_dtype(const cada_nccl *nc, cada_nccl_dtype t, const char *op, ncclDataType_t *out) {
    if (t == CADA_NCCL_F32) *out = ncclFloat32;
    else if (t == CADA_NCCL_BF16) *out = ncclBfloat16;
    else return CADA_ERR(CADA_ERR_ARG, "NCCL communicator '%s': %s: unknown data type %d", nc->name, op, (int)t);
    return CADA_OK;
}

static cada_status check_redop(const cada_nccl *nc, cada_red_op op, const char *what, ncclRedOp_t *out) {
    if (op == CADA_RED_SUM) *out = ncclSum;
    else if (op == CADA_RED_AVG) *out = ncclAvg;
    else return CADA_ERR(CADA_ERR_ARG, "NCCL communicator '%s': %s: only SUM and AVG are supported (op %d)",
                         nc->name, what, (int)op);
    return CADA_OK;
}

/* Waits while the communicator's state is ncclInProgress (non-blocking init, enqueue,
 * finalize), up to the timeout. */
static cada_status settle(cada_nccl *nc, ncclResult_t r, const char *call, const char *what) {
    if (r != ncclSuccess && r != ncclInProgress)
        return fail(nc, CADA_ERR_CUDA, "#%llu %s: %s failed: %s (%s)", nc->seq, what, call, ncclGetErrorString(r),
                    ncclGetLastError(nc->comm));
    if (r == ncclSuccess) return CADA_OK;
    const double t0 = cada_now();
    for (;;) {
        ncclResult_t state = ncclSuccess;
        ncclResult_t q = ncclCommGetAsyncError(nc->comm, &state);
        if (q != ncclSuccess)
            return fail(nc, CADA_ERR_CUDA, "#%llu %s: ncclCommGetAsyncError failed: %s", nc->seq, what,
                        ncclGetErrorString(q));
        if (state == ncclSuccess) return CADA_OK;
        if (state != ncclInProgress)
            return fail(nc, CADA_ERR_CUDA, "#%llu %s: %s failed asynchronously: %s (%s); a peer rank may have died",
                        nc->seq, what, call, ncclGetErrorString(state), ncclGetLastError(nc->comm));
        const double waited = cada_now() - t0;
        if (waited > nc->timeout_s)
            return fail(nc, CADA_ERR_CUDA,
                        "#%llu %s: %s still in progress after %.1f s (timeout %.1f s); the job must stop: a peer "
                        "rank died or stopped answering",
                        nc->seq, what, call, waited, nc->timeout_s);
        backoff(waited);
    }
}

/* cudaEventQuery / cudaStreamQuery may record cudaErrorNotReady as the thread's last
 * error, which the next kernel launcher's cudaGetLastError would then report as its
 * own failure: clear it, and only it. */
static cudaError_t query(cudaEvent_t ev, cudaStream_t stream) {
    cudaError_t q = ev ? cudaEventQuery(ev) : cudaStreamQuery(stream);
    if (q == cudaErrorNotReady) cudaGetLastError();
    return q;
}

/* Drops finished operations from the head of the ring. */
static void retire(cada_nccl *nc) {
    while (nc->ring_n > 0 && query(nc->ring[nc->ring_head].ev, NULL) == cudaSuccess) {
        nc->ring_head = (nc->ring_head + 1) % OPS_RING;
        nc->ring_n--;
    }
}

/* Marks the end of operation nc->seq on the stream. */
static cada_status push_op(cada_nccl *nc, const char *what) {
    retire(nc);
    if (nc->ring_n == OPS_RING) { /* forget the oldest: its number is reported as untracked */
        nc->untracked_upto = nc->ring[nc->ring_head].seq;
        nc->ring_head = (nc->ring_head + 1) % OPS_RING;
        nc->ring_n--;
    }
    nccl_op *o = &nc->ring[(nc->ring_head + nc->ring_n) % OPS_RING];
    o->seq = nc->seq;
    snprintf(o->what, sizeof o->what, "%s", what);
    cudaError_t rc = cudaEventRecord(o->ev, nc->stream);
    if (rc != cudaSuccess)
        return fail(nc, CADA_ERR_CUDA, "#%llu %s: cudaEventRecord failed: %s", nc->seq, what, cudaGetErrorString(rc));
    nc->ring_n++;
    return CADA_OK;
}

/* "operation #N (what)": the oldest one not finished yet. */
static void oldest_pending(cada_nccl *nc, char *buf, size_t n) {
    for (int i = 0; i < nc->ring_n; i++) {
        const nccl_op *o = &nc->ring[(nc->ring_head + i) % OPS_RING];
        if (query(o->ev, NULL) != cudaSuccess) {
            snprintf(buf, n, "operation #%llu (%s)", o->seq, o->what);
            return;
        }
    }
    if (nc->untracked_upto)
        snprintf(buf, n, "an operation up to #%llu (more than %d issued since the last wait)", nc->untracked_upto,
                 OPS_RING);
    else
        snprintf(buf, n, "operations up to #%llu", nc->seq);
}

/* Polls until `ev` (or, when NULL, the whole stream) has completed. */
static cada_status wait_until(cada_nccl *nc, cudaEvent_t ev, const char *what) {
    const double t0 = cada_now();
    for (;;) {
        cudaError_t q = query(ev, nc->stream);
        if (q == cudaSuccess) return CADA_OK;
        if (q != cudaErrorNotReady) {
            cudaGetLastError();
            char op[200];
            oldest_pending(nc, op, sizeof op);
            return fail(nc, CADA_ERR_CUDA, "%s: %s failed on the device: %s (%s)", what, op, cudaGetErrorString(q),
                        cudaGetErrorName(q));
        }
        ncclResult_t state = ncclSuccess;
        ncclResult_t r = ncclCommGetAsyncError(nc->comm, &state);
        if (r == ncclSuccess && state != ncclSuccess && state != ncclInProgress) {
            char op[200];
            oldest_pending(nc, op, sizeof op);
            return fail(nc, CADA_ERR_CUDA,
                        "%s: %s failed after %.1f s: asynchronous NCCL error %s (%s); the job must stop: a peer "
                        "rank died or stopped answering",
                        what, op, cada_now() - t0, ncclGetErrorString(state), ncclGetLastError(nc->comm));
        }
        if (r != ncclSuccess)
            return fail(nc, CADA_ERR_CUDA, "%s: ncclCommGetAsyncError failed: %s", what, ncclGetErrorString(r));
        const double waited = cada_now() - t0;
        if (waited > nc->timeout_s) {
            char op[200];
            oldest_pending(nc, op, sizeof op);
            return fail(nc, CADA_ERR_CUDA,
                        "%s: %s not finished after %.1f s (timeout %.1f s); the job must stop: a peer rank died or "
                        "stopped answering",
                        what, op, waited, nc->timeout_s);
        }
        backoff(waited);
    }
}

/* ---- creation ------------------------------------------------------------------------------ */

static cada_status mpi_wait(MPI_Request *req, double timeout_s, const char *what, const char *name, int rank) {
    const double t0 = cada_now();
    for (;;) {
        int done = 0;
        int rc = MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) return cada_mpi_error(rc, what, __FILE__, __LINE__);
        if (done) return CADA_OK;
        const double waited = cada_now() - t0;
        if (waited > timeout_s)
            return CADA_ERR(CADA_ERR_MPI,
                            "rank %d: NCCL communicator '%s': %s not finished after %.1f s: a peer rank died or "
                            "stopped answering",
                            rank, name, what, waited);
        backoff(waited);
    }
}

/* What rank 0 sends: the id, or why it has none (so the others fail with the reason
 * instead of joining a communicator that cannot exist). */
typedef struct {
    int ok;
    char why[200];
    ncclUniqueId id;
} id_msg;

static void free_parts(cada_nccl *nc) {
    for (int i = 0; i < OPS_RING; i++)
        if (nc->ring[i].ev) cudaEventDestroy(nc->ring[i].ev);
    if (nc->order_ev) cudaEventDestroy(nc->order_ev);
    if (nc->tag_ev) cudaEventDestroy(nc->tag_ev);
    if (nc->stream) cudaStreamDestroy(nc->stream);
    if (nc->tag_dev) cudaFree(nc->tag_dev);
    if (nc->tag_host) cudaFreeHost(nc->tag_host);
    cudaGetLastError();
    free(nc);
}

static cada_status create_resources(cada_nccl *nc) {
    cudaError_t rc = cudaStreamCreateWithFlags(&nc->stream, cudaStreamNonBlocking);
    for (int i = 0; i < OPS_RING && rc == cudaSuccess; i++)
        rc = cudaEventCreateWithFlags(&nc->ring[i].ev, cudaEventDisableTiming);
    if (rc == cudaSuccess) rc = cudaEventCreateWithFlags(&nc->order_ev, cudaEventDisableTiming);
    if (rc == cudaSuccess) rc = cudaEventCreateWithFlags(&nc->tag_ev, cudaEventDisableTiming);
    if (rc == cudaSuccess) rc = cudaMalloc((void **)&nc->tag_dev, TAG_WORDS * sizeof(uint64_t));
    if (rc == cudaSuccess) rc = cudaMallocHost((void **)&nc->tag_host, 2 * TAG_WORDS * sizeof(uint64_t));
    if (rc != cudaSuccess) {
        cudaGetLastError();
        return CADA_ERR(CADA_ERR_CUDA,
                        "rank %d (world rank %d): NCCL communicator '%s': creating its stream, events and tag "
                        "buffers on device %d failed: %s",
                        nc->rank, nc->world_rank, nc->name, nc->device, cudaGetErrorString(rc));
    }
    return CADA_OK;
}

cada_status cada_nccl_create(cada_nccl **out, MPI_Comm comm, int device, double timeout_s, const char *name) {
    if (!out) return CADA_ERR(CADA_ERR_ARG, "cada_nccl_create: out is NULL");
    *out = NULL;
    const int wr = cada_get_rank();
    if (!name || !name[0]) return CADA_ERR(CADA_ERR_ARG, "cada_nccl_create: the communicator needs a name");
    if (strlen(name) >= sizeof(((cada_nccl *)0)->name))
        return CADA_ERR(CADA_ERR_ARG, "cada_nccl_create: name '%s' is longer than %zu characters", name,
                        sizeof(((cada_nccl *)0)->name) - 1);
    if (!(timeout_s > 0))
        return CADA_ERR(CADA_ERR_ARG, "cada_nccl_create: communicator '%s': timeout_s must be positive (got %g)",
                        name, timeout_s);
    if (device < 0)
        return CADA_ERR(CADA_ERR_ARG, "cada_nccl_create: communicator '%s': device %d is negative", name, device);

    /* the device first: a machine without a usable GPU fails here, on its own, with
     * the reason (the job's fatal path then stops the other ranks) */
    int n_dev = 0;
    cudaError_t crc = cudaGetDeviceCount(&n_dev);
    if (crc != cudaSuccess) {
        cudaGetLastError();
        return CADA_ERR(CADA_ERR_CUDA, "world rank %d: NCCL communicator '%s': cannot use CUDA device %d: %s (%s)",
                        wr, name, device, cudaGetErrorString(crc), cudaGetErrorName(crc));
    }
    if (device >= n_dev)
        return CADA_ERR(CADA_ERR_CUDA,
                        "world rank %d: NCCL communicator '%s': CUDA device %d does not exist (%d visible; "
                        "CUDA_VISIBLE_DEVICES=%s)",
                        wr, name, device, n_dev, getenv("CUDA_VISIBLE_DEVICES") ? getenv("CUDA_VISIBLE_DEVICES") : "unset");
    crc = cudaSetDevice(device);
    if (crc != cudaSuccess) {
        cudaGetLastError();
        return CADA_ERR(CADA_ERR_CUDA, "world rank %d: NCCL communicator '%s': cudaSetDevice(%d) failed: %s", wr,
                        name, device, cudaGetErrorString(crc));
    }

    int inited = 0, finalized = 0;
    MPI_Initialized(&inited);
    MPI_Finalized(&finalized);
    if (!inited || finalized)
        return CADA_ERR(CADA_ERR_MPI,
                        "world rank %d: NCCL communicator '%s': MPI is not initialised (the NCCL id travels over "
                        "MPI; run under mpirun)",
                        wr, name);
    if (comm == MPI_COMM_NULL)
        return CADA_ERR(CADA_ERR_ARG, "world rank %d: NCCL communicator '%s': the MPI communicator is MPI_COMM_NULL",
                        wr, name);

    cada_nccl *nc = calloc(1, sizeof *nc);
    if (!nc) return CADA_ERR(CADA_ERR_NOMEM, "NCCL communicator '%s': %zu bytes for the record", name, sizeof *nc);
    snprintf(nc->name, sizeof nc->name, "%s", name);
    nc->world_rank = wr;
    nc->device = device;
    nc->timeout_s = timeout_s;
    nc->received_version = CADA_NCCL_ANY_VERSION;
    int rc = MPI_Comm_rank(comm, &nc->rank);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_size(comm, &nc->size);
    if (rc != MPI_SUCCESS) {
        free(nc);
        return cada_mpi_error(rc, "MPI_Comm_rank/size (cada_nccl_create)", __FILE__, __LINE__);
    }
    cada_status s = create_resources(nc);
    if (s != CADA_OK) {
        free_parts(nc);
        return s;
    }

    id_msg msg;
    memset(&msg, 0, sizeof msg);
    if (nc->rank == 0) {
        ncclResult_t r = ncclGetUniqueId(&msg.id);
        msg.ok = r == ncclSuccess;
        if (!msg.ok) snprintf(msg.why, sizeof msg.why, "ncclGetUniqueId failed: %s", ncclGetErrorString(r));
    }
    MPI_Request req;
    rc = MPI_Ibcast(&msg, (int)sizeof msg, MPI_BYTE, 0, comm, &req);
    if (rc != MPI_SUCCESS) {
        free_parts(nc);
        return cada_mpi_error(rc, "MPI_Ibcast of the NCCL id", __FILE__, __LINE__);
    }
    s = mpi_wait(&req, timeout_s, "the broadcast of the NCCL id from rank 0", name, nc->rank);
    if (s != CADA_OK) {
        free_parts(nc); /* the request cannot be cancelled: the caller must abort the job */
        return s;
    }
    if (!msg.ok) {
        s = CADA_ERR(CADA_ERR_CUDA, "rank %d (world rank %d): NCCL communicator '%s': rank 0 could not make the id: %s",
                     nc->rank, wr, name, msg.why);
        free_parts(nc);
        return s;
    }

    /* non-blocking: the init returns at once and is polled, so a rank that never joins
     * costs a timeout, not a hang */
    ncclConfig_t cfg = NCCL_CONFIG_INITIALIZER;
    cfg.blocking = 0;
    ncclResult_t r = ncclGroupStart();
    ncclResult_t r_init = ncclSuccess;
    if (r == ncclSuccess) {
        r_init = ncclCommInitRankConfig(&nc->comm, nc->size, msg.id, nc->rank, &cfg);
        r = ncclGroupEnd();
    }
    if (r_init != ncclSuccess && r_init != ncclInProgress) r = r_init;
    if (r != ncclSuccess && r != ncclInProgress) {
        s = CADA_ERR(CADA_ERR_CUDA,
                     "rank %d (world rank %d): NCCL communicator '%s' (%d ranks, device %d): "
                     "ncclCommInitRankConfig failed: %s (%s)",
                     nc->rank, wr, name, nc->size, device, ncclGetErrorString(r), ncclGetLastError(nc->comm));
        if (nc->comm) ncclCommAbort(nc->comm);
        free_parts(nc);
        return s;
    }
    if (!nc->comm) {
        s = CADA_ERR(CADA_ERR_INTERNAL, "NCCL communicator '%s': ncclCommInitRankConfig returned no communicator",
                     name);
        free_parts(nc);
        return s;
    }
    s = settle(nc, r, "ncclCommInitRankConfig", "communicator creation");
    if (s != CADA_OK) { /* settle aborted the communicator */
        free_parts(nc);
        return s;
    }
    *out = nc;
    return CADA_OK;
}

/* Failure paths: no finalize (it waits for the peers), just abort and free. */
static void abort_free(cada_nccl *nc) {
    if (!nc) return;
    if (nc->comm && !nc->broken) ncclCommAbort(nc->comm);
    nc->comm = NULL;
    free_parts(nc);
}

cada_status cada_nccl_create_roles(cada_nccl **grads, cada_nccl **weights, MPI_Comm world, int is_learner,
                                   int holds_policy, int device, double timeout_s) {
    if (!grads || !weights) return CADA_ERR(CADA_ERR_ARG, "cada_nccl_create_roles: grads or weights is NULL");
    *grads = *weights = NULL;
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited)
        return CADA_ERR(CADA_ERR_MPI, "cada_nccl_create_roles: MPI is not initialised (run under mpirun)");
    int wr = 0, ws = 0;
    CADA_MPI_TRY(MPI_Comm_rank(world, &wr));
    CADA_MPI_TRY(MPI_Comm_size(world, &ws));
    /* learners keep their world order and come first in "weights", so its rank 0 is
     * learner 0 (the broadcaster) */
    MPI_Comm g = MPI_COMM_NULL, w = MPI_COMM_NULL;
    CADA_MPI_TRY(MPI_Comm_split(world, is_learner ? 0 : MPI_UNDEFINED, wr, &g));
    int rc = MPI_Comm_split(world, (is_learner || holds_policy) ? 0 : MPI_UNDEFINED, is_learner ? wr : ws + wr, &w);
    if (rc != MPI_SUCCESS) {
        if (g != MPI_COMM_NULL) MPI_Comm_free(&g);
        return cada_mpi_error(rc, "MPI_Comm_split (weights)", __FILE__, __LINE__);
    }
    cada_status s = CADA_OK;
    if (g != MPI_COMM_NULL) s = cada_nccl_create(grads, g, device, timeout_s, "gradients");
    if (s == CADA_OK && w != MPI_COMM_NULL) s = cada_nccl_create(weights, w, device, timeout_s, "weights");
    if (g != MPI_COMM_NULL) MPI_Comm_free(&g);
    if (w != MPI_COMM_NULL) MPI_Comm_free(&w);
    if (s != CADA_OK) {
        abort_free(*grads);
        *grads = NULL;
    }
    return s;
}

void cada_nccl_destroy(cada_nccl *nc) {
    if (!nc) return;
    int prev = -1;
    if (cudaGetDevice(&prev) != cudaSuccess) prev = -1;
    cudaSetDevice(nc->device);
    if (nc->comm && !nc->broken) {
        /* Finalize flushes what was issued and waits until the peers are done with this
         * communicator; non-blocking, so it is polled with the timeout */
        nc->seq++;
        if (settle(nc, ncclCommFinalize(nc->comm), "ncclCommFinalize", "destroy") == CADA_OK) {
            ncclCommDestroy(nc->comm);
        } else {
            CADA_WARN("%s", cada_error_message()); /* settle aborted it */
            cada_error_clear();
        }
        nc->comm = NULL;
    }
    free_parts(nc);
    if (prev >= 0) cudaSetDevice(prev);
}

int cada_nccl_rank(const cada_nccl *nc) { return nc ? nc->rank : -1; }
int cada_nccl_size(const cada_nccl *nc) { return nc ? nc->size : 0; }
const char *cada_nccl_name(const cada_nccl *nc) { return nc ? nc->name : "(none)"; }
void *cada_nccl_stream(const cada_nccl *nc) { return nc ? (void *)nc->stream : NULL; }
uint64_t cada_nccl_received_version(const cada_nccl *nc) { return nc ? nc->received_version : CADA_NCCL_ANY_VERSION; }

/* ---- ordering ---------------------------------------------------------------------------- */

static cada_status order(cada_nccl *nc, cudaStream_t from, cudaStream_t to, const char *op) {
    CADA_TRY(check_nc(nc, op));
    cudaError_t rc = cudaEventRecord(nc->order_ev, from);
    if (rc == cudaSuccess) rc = cudaStreamWaitEvent(to, nc->order_ev, 0);
    if (rc != cudaSuccess) {
        cudaGetLastError();
        return CADA_ERR(CADA_ERR_CUDA, "rank %d: NCCL communicator '%s': %s: ordering the streams failed: %s",
                        nc->rank, nc->name, op, cudaGetErrorString(rc));
    }
    return CADA_OK;
}

cada_status cada_nccl_after(cada_nccl *nc, void *stream) {
    return order(nc, (cudaStream_t)stream, nc ? nc->stream : NULL, "after");
}

cada_status cada_nccl_join(cada_nccl *nc, void *stream) {
    return order(nc, nc ? nc->stream : NULL, (cudaStream_t)stream, "join");
}

/* ---- collectives ------------------------------------------------------------------------- */

cada_status cada_nccl_allreduce(cada_nccl *nc, void *buf, size_t count, cada_nccl_dtype t, cada_red_op op) {
    CADA_TRY(check_nc(nc, "allreduce"));
    ncclDataType_t dt = ncclFloat32;
    ncclRedOp_t rop = ncclSum;
    CADA_TRY(check_dtype(nc, t, "allreduce", &dt));
    CADA_TRY(check_redop(nc, op, "allreduce", &rop));
    if (count == 0) return CADA_OK;
    if (!buf) return CADA_ERR(CADA_ERR_ARG, "NCCL communicator '%s': allreduce: buf is NULL", nc->name);
    char what[120];
    snprintf(what, sizeof what, "allreduce of %zu %s (%.2f MiB)", count, dtype_name(t),
             mib(count * cada_nccl_dtype_size(t)));
    nc->seq++;
    CADA_TRY(settle(nc, ncclAllReduce(buf, buf, count, dt, rop, nc->comm, nc->stream), "ncclAllReduce", what));
    return push_op(nc, what);
}

cada_status cada_nccl_reduce_scatter(cada_nccl *nc, const void *in, void *out, size_t recv_count, cada_nccl_dtype t,
                                     cada_red_op op) {
    CADA_TRY(check_nc(nc, "reduce_scatter"));
    ncclDataType_t dt = ncclFloat32;
    ncclRedOp_t rop = ncclSum;
    CADA_TRY(check_dtype(nc, t, "reduce_scatter", &dt));
    CADA_TRY(check_redop(nc, op, "reduce_scatter", &rop));
    if (recv_count == 0) return CADA_OK;
    if (!in || !out) return CADA_ERR(CADA_ERR_ARG, "NCCL communicator '%s': reduce_scatter: in or out is NULL", nc->name);
    char what[120];
    snprintf(what, sizeof what, "reduce_scatter of %zu x %d %s (%.2f MiB in)", recv_count, nc->size, dtype_name(t),
             mib(recv_count * (size_t)nc->size * cada_nccl_dtype_size(t)));
    nc->seq++;
    CADA_TRY(settle(nc, ncclReduceScatter(in, out, recv_count, dt, rop, nc->comm, nc->stream), "ncclReduceScatter",
                    what));
    return push_op(nc, what);
}

cada_status cada_nccl_all_gather(cada_nccl *nc, const void *in, void *out, size_t send_count, cada_nccl_dtype t) {
    CADA_TRY(check_nc(nc, "all_gather"));
    ncclDataType_t dt = ncclFloat32;
    CADA_TRY(check_dtype(nc, t, "all_gather", &dt));
    if (send_count == 0) return CADA_OK;
    if (!in || !out) return CADA_ERR(CADA_ERR_ARG, "NCCL communicator '%s': all_gather: in or out is NULL", nc->name);
    char what[120];
    snprintf(what, sizeof what, "all_gather of %d x %zu %s (%.2f MiB out)", nc->size, send_count, dtype_name(t),
             mib(send_count * (size_t)nc->size * cada_nccl_dtype_size(t)));
    nc->seq++;
    CADA_TRY(settle(nc, ncclAllGather(in, out, send_count, dt, nc->comm, nc->stream), "ncclAllGather", what));
    return push_op(nc, what);
}

static cada_status check_root(const cada_nccl *nc, int root, const char *op) {
    if (root < 0 || root >= nc->size)
        return CADA_ERR(CADA_ERR_ARG, "NCCL communicator '%s': %s: root %d is outside [0, %d)", nc->name, op, root,
                        nc->size);
    return CADA_OK;
}

cada_status cada_nccl_broadcast(cada_nccl *nc, void *buf, size_t count, cada_nccl_dtype t, int root) {
    CADA_TRY(check_nc(nc, "broadcast"));
    ncclDataType_t dt = ncclFloat32;
    CADA_TRY(check_dtype(nc, t, "broadcast", &dt));
    CADA_TRY(check_root(nc, root, "broadcast"));
    if (count == 0) return CADA_OK;
    if (!buf) return CADA_ERR(CADA_ERR_ARG, "NCCL communicator '%s': broadcast: buf is NULL", nc->name);
    char what[120];
    snprintf(what, sizeof what, "broadcast of %zu %s (%.2f MiB) from rank %d", count, dtype_name(t),
             mib(count * cada_nccl_dtype_size(t)), root);
    nc->seq++;
    CADA_TRY(settle(nc, ncclBroadcast(buf, buf, count, dt, root, nc->comm, nc->stream), "ncclBroadcast", what));
    return push_op(nc, what);
}

/* ---- ranges and buckets ------------------------------------------------------------------ */

typedef struct {
    size_t offset, count;
    int index; /* in the caller's list, for messages */
} span;

static int span_cmp(const void *a, const void *b) {
    const span *x = a, *y = b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    return x->index - y->index;
}

/* One operation: spans[0..n) reduced in one NCCL group (one launch), or a single call. */
static cada_status issue_group(cada_nccl *nc, char *base, const span *spans, int n, size_t esize, ncclDataType_t dt,
                               ncclRedOp_t rop, int bucket, cada_nccl_dtype t) {
    size_t elems = 0;
    for (int i = 0; i < n; i++) elems += spans[i].count;
    char what[120];
    snprintf(what, sizeof what, "allreduce_ranges bucket %d (%d span%s from element %zu, %.2f MiB %s)", bucket, n,
             n == 1 ? "" : "s", spans[0].offset, mib(elems * esize), dtype_name(t));
    nc->seq++;
    if (n == 1) {
        void *p = base + spans[0].offset * esize;
        CADA_TRY(settle(nc, ncclAllReduce(p, p, spans[0].count, dt, rop, nc->comm, nc->stream), "ncclAllReduce", what));
        return push_op(nc, what);
    }
    ncclResult_t first = ncclGroupStart();
    if (first != ncclSuccess) return settle(nc, first, "ncclGroupStart", what);
    for (int i = 0; i < n; i++) {
        void *p = base + spans[i].offset * esize;
        ncclResult_t r = ncclAllReduce(p, p, spans[i].count, dt, rop, nc->comm, nc->stream);
        if (r != ncclSuccess && r != ncclInProgress && first == ncclSuccess) first = r;
    }
    ncclResult_t r = ncclGroupEnd(); /* always closes the group, even after an error */
    if (first != ncclSuccess) return settle(nc, first, "ncclAllReduce (grouped)", what);
    CADA_TRY(settle(nc, r, "ncclGroupEnd", what));
    return push_op(nc, what);
}

cada_status cada_nccl_allreduce_ranges(cada_nccl *nc, void *base, size_t total, const cada_nccl_range *ranges,
                                       int n_ranges, cada_nccl_dtype t, cada_red_op op, size_t bucket_bytes) {
    CADA_TRY(check_nc(nc, "allreduce_ranges"));
    ncclDataType_t dt = ncclFloat32;
    ncclRedOp_t rop = ncclSum;
    CADA_TRY(check_dtype(nc, t, "allreduce_ranges", &dt));
    CADA_TRY(check_redop(nc, op, "allreduce_ranges", &rop));
    if (n_ranges < 0 || (n_ranges > 0 && !ranges))
        return CADA_ERR(CADA_ERR_ARG, "NCCL communicator '%s': allreduce_ranges: %d ranges at %p", nc->name, n_ranges,
                        (const void *)ranges);
    if (n_ranges == 0) return CADA_OK;
    if (!base) return CADA_ERR(CADA_ERR_ARG, "NCCL communicator '%s': allreduce_ranges: base is NULL", nc->name);
    const size_t esize = cada_nccl_dtype_size(t);
    if (bucket_bytes == 0) bucket_bytes = DEFAULT_RANGE_BUCKET;
    size_t be = bucket_bytes / esize; /* elements per bucket */
    if (be == 0) be = 1;

    span *sp = malloc((size_t)n_ranges * sizeof *sp);
    if (!sp) return CADA_ERR(CADA_ERR_NOMEM, "NCCL communicator '%s': allreduce_ranges: %d ranges", nc->name, n_ranges);
    int n = 0;
    for (int i = 0; i < n_ranges; i++) {
        const cada_nccl_range *r = &ranges[i];
        if (r->offset > total || r->count > total - r->offset) {
            free(sp);
            return CADA_ERR(CADA_ERR_ARG,
                            "NCCL communicator '%s': allreduce_ranges: range %d [%zu, +%zu) is outside the buffer of "
                            "%zu elements",
                            nc->name, i, r->offset, r->count, total);
        }
        if (r->count == 0) continue;
        sp[n].offset = r->offset;
        sp[n].count = r->count;
        sp[n].index = i;
        n++;
    }
    if (n == 0) {
        free(sp);
        return CADA_OK;
    }
    qsort(sp, (size_t)n, sizeof *sp, span_cmp);
    /* overlap check, then merge adjacent ranges into spans */
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (m > 0) {
            span *prev = &sp[m - 1];
            const size_t prev_end = prev->offset + prev->count;
            if (sp[i].offset < prev_end) {
                cada_status s = CADA_ERR(CADA_ERR_ARG,
                                         "NCCL communicator '%s': allreduce_ranges: range %d [%zu, +%zu) overlaps an "
                                         "earlier range ending at %zu (it would be reduced twice)",
                                         nc->name, sp[i].index, sp[i].offset, sp[i].count, prev_end);
                free(sp);
                return s;
            }
            if (sp[i].offset == prev_end) {
                prev->count += sp[i].count;
                continue;
            }
        }
        sp[m++] = sp[i];
    }
    /* buckets: small spans share a group up to `be` elements; a large span goes alone,
     * cut into pieces of `be` */
    cada_status s = CADA_OK;
    int bucket = 0, g0 = 0;
    size_t g_elems = 0;
    char *b = base;
    for (int i = 0; i < m && s == CADA_OK; i++) {
        if (sp[i].count > be || g_elems + sp[i].count > be) {
            if (i > g0) s = issue_group(nc, b, sp + g0, i - g0, esize, dt, rop, bucket++, t);
            g0 = i;
            g_elems = 0;
        }
        if (s != CADA_OK) break;
        if (sp[i].count > be) {
            for (size_t off = 0; off < sp[i].count && s == CADA_OK; off += be) {
                span piece = {sp[i].offset + off, sp[i].count - off < be ? sp[i].count - off : be, sp[i].index};
                s = issue_group(nc, b, &piece, 1, esize, dt, rop, bucket++, t);
            }
            g0 = i + 1;
            continue;
        }
        g_elems += sp[i].count;
    }
    if (s == CADA_OK && m > g0) s = issue_group(nc, b, sp + g0, m - g0, esize, dt, rop, bucket++, t);
    free(sp);
    return s;
}

cada_status cada_nccl_broadcast_buckets(cada_nccl *nc, void *buf, size_t count, cada_nccl_dtype t, int root,
                                        size_t bucket_bytes, uint64_t version) {
    CADA_TRY(check_nc(nc, "broadcast_buckets"));
    ncclDataType_t dt = ncclFloat32;
    CADA_TRY(check_dtype(nc, t, "broadcast_buckets", &dt));
    CADA_TRY(check_root(nc, root, "broadcast_buckets"));
    if (count > 0 && !buf)
        return CADA_ERR(CADA_ERR_ARG, "NCCL communicator '%s': broadcast_buckets: buf is NULL", nc->name);
    const size_t esize = cada_nccl_dtype_size(t);
    if (bucket_bytes == 0) bucket_bytes = DEFAULT_BROADCAST_BUCKET;
    size_t be = bucket_bytes / esize;
    if (be == 0) be = 1;

    /* 1. the tag, waited for on the receivers: a rank whose count, type or expected
     *    version differs stops here, before any bucket is issued */
    char what[120];
    snprintf(what, sizeof what, "broadcast_buckets tag (policy version %llu, %zu %s) from rank %d",
             (unsigned long long)version, count, dtype_name(t), root);
    cudaError_t rc = cudaSuccess;
    const int is_root = nc->rank == root;
    if (is_root) {
        /* the pinned source must not change before the copy has run: wait for the
         * previous tag's copy first (long done, in practice) */
        CADA_TRY(wait_until(nc, nc->tag_ev, "broadcast_buckets (previous tag)"));
        nc->tag_host[0] = version;
        nc->tag_host[1] = (uint64_t)count;
        nc->tag_host[2] = (uint64_t)t;
        nc->tag_host[3] = TAG_MAGIC;
        rc = cudaMemcpyAsync(nc->tag_dev, nc->tag_host, TAG_WORDS * sizeof(uint64_t), cudaMemcpyHostToDevice,
                             nc->stream);
        if (rc == cudaSuccess) rc = cudaEventRecord(nc->tag_ev, nc->stream);
        if (rc != cudaSuccess)
            return fail(nc, CADA_ERR_CUDA, "%s: staging the tag failed: %s", what, cudaGetErrorString(rc));
    }
    nc->seq++;
    CADA_TRY(settle(nc, ncclBroadcast(nc->tag_dev, nc->tag_dev, TAG_WORDS, ncclUint64, root, nc->comm, nc->stream),
                    "ncclBroadcast", what));
    CADA_TRY(push_op(nc, what));
    if (!is_root) {
        uint64_t *got = nc->tag_host + TAG_WORDS;
        rc = cudaMemcpyAsync(got, nc->tag_dev, TAG_WORDS * sizeof(uint64_t), cudaMemcpyDeviceToHost, nc->stream);
        if (rc == cudaSuccess) rc = cudaEventRecord(nc->tag_ev, nc->stream);
        if (rc != cudaSuccess)
            return fail(nc, CADA_ERR_CUDA, "%s: reading the tag back failed: %s", what, cudaGetErrorString(rc));
        CADA_TRY(wait_until(nc, nc->tag_ev, what));
        if (got[3] != TAG_MAGIC || got[1] != (uint64_t)count || got[2] != (uint64_t)t)
            return fail(nc, CADA_ERR_FORMAT,
                        "broadcast_buckets from rank %d: the root sends %llu elements of type %llu (magic %llx) but "
                        "this rank expects %zu %s: the ranks disagree about the weight buffer",
                        root, (unsigned long long)got[1], (unsigned long long)got[2], (unsigned long long)got[3],
                        count, dtype_name(t));
        if (version != CADA_NCCL_ANY_VERSION && got[0] != version)
            return fail(nc, CADA_ERR_FORMAT,
                        "broadcast_buckets from rank %d: received policy version %llu, expected %llu", root,
                        (unsigned long long)got[0], (unsigned long long)version);
        nc->received_version = got[0];
    } else {
        nc->received_version = version;
    }

    /* 2. the data, one collective per bucket */
    for (size_t off = 0, k = 0; off < count; off += be, k++) {
        const size_t n = count - off < be ? count - off : be;
        snprintf(what, sizeof what, "broadcast_buckets bucket %zu of %zu (%.2f MiB %s, version %llu) from rank %d", k,
                 (count + be - 1) / be, mib(n * esize), dtype_name(t), (unsigned long long)nc->received_version, root);
        void *p = (char *)buf + off * esize;
        nc->seq++;
        CADA_TRY(settle(nc, ncclBroadcast(p, p, n, dt, root, nc->comm, nc->stream), "ncclBroadcast", what));
        CADA_TRY(push_op(nc, what));
    }
    return CADA_OK;
}

cada_status cada_nccl_wait(cada_nccl *nc) {
    CADA_TRY(check_nc(nc, "wait"));
    CADA_TRY(wait_until(nc, NULL, "wait"));
    nc->ring_n = 0;
    nc->ring_head = 0;
    nc->untracked_upto = 0;
    return CADA_OK;
}

#else
/* Built without NCCL or MPI: nccl.h declares the API, nothing defines it. */
typedef int cada_nccl_not_built;
#endif
