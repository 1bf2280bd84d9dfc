/* comm/nccl.h: NCCL collectives over device buffers, for the GPU path.
 *
 * Build: the functions exist only when cada is built with CUDA, NCCL and MPI
 * (CADA_HAVE_NCCL and CADA_HAVE_MPI defined; the Makefile does that when it finds
 * nccl.h and mpicc). This header is the contract in every build, but callers must
 * guard their calls with the same #if. MPI is needed to hand the NCCL unique id from
 * rank 0 to the others; cada_nccl_create takes the MPI communicator of the ranks
 * that take part.
 *
 * Communicators. The design needs two:
 *   "gradients": the learner ranks; gradients are all-reduced (or reduce-scattered,
 *                ZeRO) between them, layer by layer as backward finishes each layer;
 *   "weights":   the learners and every rank that holds the policy (rollout workers,
 *                servers); learner 0 broadcasts the new bf16 weights after each update.
 * cada_nccl_create takes any MPI_Comm: the caller splits (cada_nccl_create_roles does
 * both splits and both creations). A communicator is tied to one CUDA device.
 *
 * Ownership: a cada_nccl owns its ncclComm_t, one non-blocking CUDA stream, the CUDA
 * events that mark its operations, and a few bytes of device and pinned host memory
 * (the broadcast tag). It does not own the MPI_Comm it was made from (used only during
 * creation) nor any data buffer. Not thread-safe: one host thread uses a communicator.
 *
 * Streams and ordering with compute. Every collective runs on the communicator's own
 * stream, so communication overlaps kernels on the compute stream. The two streams are
 * ordered only where the caller says so:
 *   cada_nccl_after(nc, s): collectives issued from now on start after all work
 *                           already enqueued on stream s (e.g. the backward kernels
 *                           that produced a layer's gradients);
 *   cada_nccl_join(nc, s):  work enqueued on s from now on starts after every
 *                           collective issued so far (e.g. the optimizer step).
 * A buffer must not be written by other work while a collective on it is in flight.
 *
 * Every rank must issue the same collectives, with the same counts, types and roots,
 * in the same order, on each communicator (NCCL matches operations by order only; a
 * mismatch hangs or corrupts data, and the timeout below is then the only witness).
 * Ranges and buckets are derived only from the arguments, so equal arguments on every
 * rank give equal sequences. A rank in both communicators must not have operations in
 * flight on both at once unless every rank issues them in the same order: NCCL kernels
 * of two communicators wait on each other's peers and can deadlock otherwise; wait for
 * the gradient reduction before starting the weight broadcast.
 *
 * Bucketing. cada_nccl_allreduce_ranges reduces a list of (offset, count) ranges of one
 * flat buffer: ranges are sorted by offset, adjacent ones merged, and the spans packed
 * into buckets of at most bucket_bytes: small spans share one NCCL group (one launch),
 * a span larger than a bucket becomes several collectives of bucket_bytes. The buffer
 * is reduced in place, so no staging copies. cada_nccl_broadcast_buckets broadcasts a
 * flat buffer in collectives of bucket_bytes, preceded by a tag (policy version, count,
 * type) that each receiver checks before the data moves.
 *
 * Waiting and errors. Issuing is asynchronous; cada_nccl_wait blocks (polling
 * cudaStreamQuery and ncclCommGetAsyncError, with a back-off sleep so a waiting rank
 * leaves its core to others) until every issued collective has finished. The
 * communicator is created non-blocking (ncclConfig_t.blocking = 0): creation, and the
 * enqueueing of each collective, are polled with the same timeout, so no NCCL call can
 * hang a rank forever. Past timeout_s, or on an NCCL asynchronous error (a peer died,
 * a network failure), the communicator is aborted (ncclCommAbort) and the call returns
 * CADA_ERR_CUDA naming the communicator, this rank, the operation and its sequence
 * number and the time waited: the job must stop (main's fatal path aborts MPI). After
 * that every call on the communicator fails at once; only destroy remains.
 *
 * Sequence numbers count the operations issued on a communicator (a group of ranges
 * or one bucket is one operation), from 1; errors name the oldest unfinished one. */
#ifndef CADA_COMM_NCCL_H
#define CADA_COMM_NCCL_H

#include "base/error.h"
#include "comm/comm.h" /* cada_red_op */

#include <stddef.h>
#include <stdint.h>

#ifdef CADA_HAVE_MPI
#include <mpi.h>
#endif

typedef struct cada_nccl cada_nccl;

typedef enum { CADA_NCCL_F32 = 0, CADA_NCCL_BF16 } cada_nccl_dtype;

/* Bytes of one element of t (4 or 2). */
size_t cada_nccl_dtype_size(cada_nccl_dtype t);

#ifdef CADA_HAVE_MPI
/* Collective over `comm`: rank 0 of comm makes the NCCL unique id and broadcasts it
 * (MPI, polled with the timeout); every rank selects `device` (cudaSetDevice) and
 * joins a non-blocking NCCL communicator of comm's size and rank order. `name`
 * ("gradients", "weights") names it in every message (copied). timeout_s > 0 bounds
 * creation and every later wait. Errors: CADA_ERR_ARG (arguments), CADA_ERR_CUDA
 * (the device cannot be used: no driver or GPU, bad ordinal; NCCL failures or timeout),
 * CADA_ERR_MPI (MPI not initialised, or the id broadcast failed or timed out). */
cada_status cada_nccl_create(cada_nccl **out, MPI_Comm comm, int device, double timeout_s, const char *name);

/* The two communicators of the design, collective over `world`: *grads over the ranks
 * with is_learner (NULL elsewhere), *weights over the ranks with is_learner or
 * holds_policy (NULL elsewhere), learners first in world rank order, so the weights
 * rank 0 is the learner 0 that broadcasts. The split MPI communicators are freed after
 * creation. On failure nothing is left allocated on this rank. */
cada_status cada_nccl_create_roles(cada_nccl **grads, cada_nccl **weights, MPI_Comm world, int is_learner,
                                   int holds_policy, int device, double timeout_s);
#endif

/* Finalizes (ncclCommFinalize: flushes what was issued and waits, up to the timeout,
 * until the peers are done with the communicator; call it at the same point on every
 * rank), then frees everything; past the timeout it aborts and logs a warning. An
 * aborted communicator is freed without waiting. Sets the CUDA device to the
 * communicator's for the duration and restores the current one. NULL is a no-op. */
void cada_nccl_destroy(cada_nccl *nc);

int cada_nccl_rank(const cada_nccl *nc);
int cada_nccl_size(const cada_nccl *nc);
const char *cada_nccl_name(const cada_nccl *nc);
/* The communicator's cudaStream_t (as void *, so this header needs no CUDA headers). */
void *cada_nccl_stream(const cada_nccl *nc);

/* Stream ordering (see above); `stream` is a cudaStream_t (NULL: the legacy default
 * stream). */
cada_status cada_nccl_after(cada_nccl *nc, void *stream);
cada_status cada_nccl_join(cada_nccl *nc, void *stream);

/* ---- collectives (asynchronous: issued on the communicator's stream) ----------------- */
/* op: CADA_RED_SUM or CADA_RED_AVG (ncclAvg: sum / W); MAX is refused. All buffers are
 * device pointers. */

/* buf[0..count) reduced over all ranks, in place. */
cada_status cada_nccl_allreduce(cada_nccl *nc, void *buf, size_t count, cada_nccl_dtype t, cada_red_op op);
/* in holds W * recv_count elements; out receives the reduced block of this rank
 * (elements [rank * recv_count, (rank + 1) * recv_count)). In place when
 * out == in + rank * recv_count. */
cada_status cada_nccl_reduce_scatter(cada_nccl *nc, const void *in, void *out, size_t recv_count, cada_nccl_dtype t,
                                     cada_red_op op);
/* in holds send_count elements; out receives W * send_count, rank r's at r * send_count.
 * In place when in == out + rank * send_count. */
cada_status cada_nccl_all_gather(cada_nccl *nc, const void *in, void *out, size_t send_count, cada_nccl_dtype t);
/* buf[0..count) of rank root copied to every rank, in place. */
cada_status cada_nccl_broadcast(cada_nccl *nc, void *buf, size_t count, cada_nccl_dtype t, int root);

/* A range of a flat buffer, in elements. */
typedef struct {
    size_t offset;
    size_t count;
} cada_nccl_range;

/* Reduces in place each range of base[0..total) (total: the buffer's length, for the
 * bounds check), bucketed as above. Ranges must not overlap (each would be reduced
 * twice); empty ranges are skipped. bucket_bytes 0 means 32 MiB. */
cada_status cada_nccl_allreduce_ranges(cada_nccl *nc, void *base, size_t total, const cada_nccl_range *ranges,
                                       int n_ranges, cada_nccl_dtype t, cada_red_op op, size_t bucket_bytes);

#define CADA_NCCL_ANY_VERSION UINT64_MAX
/* Broadcasts buf[0..count) from root in collectives of bucket_bytes (0: 256 MiB),
 * after a tag {version, count, type}. On root, version is the policy version being
 * sent; on the others, the version expected (CADA_NCCL_ANY_VERSION: any). Each
 * receiver waits for the tag (one small broadcast, behind whatever this communicator
 * already has in flight) and compares it with its own count, type and expected
 * version before issuing any bucket: a difference fails with CADA_ERR_FORMAT (and
 * aborts the communicator). The data is complete after cada_nccl_wait. */
cada_status cada_nccl_broadcast_buckets(cada_nccl *nc, void *buf, size_t count, cada_nccl_dtype t, int root,
                                        size_t bucket_bytes, uint64_t version);
/* The policy version of the last broadcast_buckets (its tag, checked as above; the
 * data is in place once cada_nccl_wait returns). CADA_NCCL_ANY_VERSION before any. */
uint64_t cada_nccl_received_version(const cada_nccl *nc);

/* Waits for every collective issued so far (see "Waiting and errors"). */
cada_status cada_nccl_wait(cada_nccl *nc);

#endif
