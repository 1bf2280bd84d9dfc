/* comm/comm.h: collectives for data-parallel learners, over host buffers of floats.
 *
 * Backends: MPI (a duplicate of MPI_COMM_WORLD or a split of it, so cada's traffic never
 * matches anyone else's messages) and "self" (one rank, no MPI: every collective is a
 * copy or nothing). A NCCL backend for device buffers slots in behind the same calls.
 *
 * Contract:
 *   - Every wait has a timeout (options.timeout_s). Waiting is MPI_Test polling with a
 *     back-off sleep (a spin of options.spin_us, yielding the core between polls when
 *     ranks outnumber cores on the node, then sleeps growing with the time already
 *     waited, up to 1 ms), never a blocking MPI call: a rank waiting for a slow peer gives its core away, which matters when ranks
 *     outnumber cores (measured: 2-3% of a core while waiting 2 s). On timeout the call returns
 *     CADA_ERR_MPI with a message naming this rank, the operation (kind, sequence
 *     number, bytes) and the peers it was waiting for: for point-to-point operations the
 *     ranks whose messages are missing; for MPI collectives, the ranks that did not
 *     answer a short "who is here" exchange among the ranks that timed out too. After a
 *     timeout the communicator is broken (MPI cannot cancel a collective): every later
 *     call fails at once, and the caller should abort (cada_fatal does MPI_Abort).
 *   - Reduction order. MPI_Allreduce sums in an order chosen by the MPI library (by
 *     message size and rank count), so a sum over W ranks differs in its last bits from
 *     a serial one and between layouts. With options.fixed_order = 1 every reduction
 *     (allreduce, reduce-scatter) sums the W contributions of each element in one
 *     canonical pairwise tree over ranks in rank order: the in-place bottom-up pairwise
 *     sum ((x0 + x1) + (x2 + x3)) + ..., equivalently, recursively, split at the largest
 *     power of two below the count (cada_tree_sum below defines it for one element).
 *     That result depends only on the contributions, not on MPI's algorithms, and it is
 *     the same tree a learner's local accumulation continues (learn/learner.h), which is
 *     what makes W learners bit-identical to one. Reduce-scatter always works this way
 *     (direct exchange: each rank sends every other rank that rank's part and sums what
 *     it receives; the bandwidth of a ring, W - 1 messages per rank); fixed-order
 *     allreduce is that reduce-scatter followed by an all-gather.
 *   - Speed: allreduces of options.p2p_min_bytes x (W - 1) and more take that
 *     reduce-scatter + all-gather path. Open MPI's non-blocking MPI_Iallreduce (libnbc)
 *     advances one round per MPI_Test and was measured 40-160% slower than a blocking
 *     MPI_Allreduce from 1 MiB up; the direct exchange was measured at parity with the
 *     blocking call at 1-16 MiB and 20-55% faster from 64 MiB (it moves half the data
 *     per rank of the recursive doubling Open MPI picks; `cada bench allreduce`).
 *     Below that, latency dominates and MPI_Iallreduce (log2 W rounds) beats the direct
 *     exchange (2 (W - 1) messages): measured break-even ~256 KiB on 2 ranks, ~1 MiB on
 *     4. It is used there unless fixed_order asks for the canonical order.
 *   - Bucketing: cada_comm_allreduce_ranges packs many small ranges into buckets of
 *     options.bucket_bytes (two in flight), one collective per bucket; large ranges go
 *     directly. Point-to-point traffic moves in chunks of options.chunk_bytes with two
 *     chunks in flight per peer, which bounds scratch memory to
 *     2 (W - 1) chunk_bytes per operation.
 *   - Not thread-safe: one thread calls a given communicator.
 *
 * Sharding: a buffer of `total` floats is split into W contiguous shards in rank order,
 * each (but the last) `chunk` floats with chunk = ceil(total / W) rounded up to
 * `align` floats (cada_shards). ZeRO-1/2 put rank r's optimizer state on shard r. */
#ifndef CADA_COMM_COMM_H
#define CADA_COMM_COMM_H

#include "base/error.h"

#include <stddef.h>

typedef struct cada_comm cada_comm;

typedef enum { CADA_RED_SUM = 0, CADA_RED_AVG, CADA_RED_MAX } cada_red_op; /* MAX: f64 only */

typedef struct {
    double timeout_s;     /* every wait (default 300) */
    int fixed_order;      /* canonical reduction order (see above) */
    size_t bucket_bytes;  /* allreduce_ranges staging (default 32 MiB) */
    size_t chunk_bytes;   /* point-to-point message size (default 1 MiB: measured best) */
    size_t p2p_min_bytes; /* allreduces from this size times (W - 1) use reduce-scatter
                             + all-gather (default 256 KiB; below, MPI_Iallreduce) */
    double spin_us;       /* polling without sleeps at the start of a wait (default 2000) */
} cada_comm_options;

void cada_comm_options_default(cada_comm_options *o);

/* The world: a duplicate of MPI_COMM_WORLD when MPI is initialised, else one rank.
 * Set-up starts with a timed barrier (timeout_s), so a rank that never arrives fails it
 * with an error instead of blocking the others in MPI_Comm_dup. */
cada_status cada_comm_init_world(cada_comm **c, const cada_comm_options *o);
/* One rank, no MPI. */
cada_status cada_comm_init_self(cada_comm **c, const cada_comm_options *o);
/* Ranks of parent with the same color form a new communicator, ordered by key (e.g.
 * the learner ranks among all roles). Collective over parent. */
cada_status cada_comm_split(cada_comm *parent, int color, int key, cada_comm **out);
void cada_comm_free(cada_comm *c);

int cada_comm_rank(const cada_comm *c);
/* After a timeout: the ranks it found missing (those that did not answer "who is here",
 * or whose point-to-point messages were outstanding), so a caller can say what they
 * were (e.g. their role). Writes up to cap ranks, returns how many there are (0: none
 * known, or no timeout yet). */
int cada_comm_missing(const cada_comm *c, int *ranks, int cap);
int cada_comm_size(const cada_comm *c);
const char *cada_comm_backend(const cada_comm *c); /* "mpi" or "self" */
const cada_comm_options *cada_comm_get_options(const cada_comm *c);
void cada_comm_set_fixed_order(cada_comm *c, int fixed_order);
/* Bytes of scratch the communicator holds now and at most so far (buckets, receive
 * chunks, and up to 4 receive buffers kept for reuse between operations), for memory
 * accounting; release_scratch frees the kept ones. */
size_t cada_comm_scratch_bytes(const cada_comm *c);
size_t cada_comm_scratch_peak(const cada_comm *c);
void cada_comm_release_scratch(cada_comm *c);

/* ---- shards --------------------------------------------------------------------------- */
typedef struct {
    size_t total; /* floats in the buffer */
    int size;     /* W */
    size_t chunk; /* floats per shard (the last may be shorter or empty) */
} cada_shards;

void cada_shards_init(cada_shards *s, size_t total, int size, size_t align);
size_t cada_shards_offset(const cada_shards *s, int rank);
size_t cada_shards_count(const cada_shards *s, int rank);

/* ---- blocking collectives (each waits with the timeout) ------------------------------- */

/* buf[0..n) reduced over all ranks, in place (SUM or AVG). */
cada_status cada_comm_allreduce(cada_comm *c, float *buf, size_t n, cada_red_op op);
/* Small reductions of doubles (metrics): SUM, AVG or MAX; fixed order with fixed_order. */
cada_status cada_comm_allreduce_f64(cada_comm *c, double *buf, int n, cada_red_op op);
/* Many ranges, each reduced in place, coalesced into buckets. */
typedef struct {
    float *data;
    size_t n;
} cada_range;
cada_status cada_comm_allreduce_ranges(cada_comm *c, const cada_range *ranges, int n_ranges, cada_red_op op);

/* Reduce-scatter of the elements [lo, hi) of a sharded buffer: in[0..hi-lo) holds this
 * rank's contribution to them; out receives the reduced values of [lo, hi) intersected
 * with this rank's shard (out[0] is element max(lo, shard offset); out may be NULL when
 * that is empty). in and out must not overlap unless out == in + (that element - lo). */
cada_status cada_comm_reduce_scatter(cada_comm *c, const cada_shards *sh, const float *in, size_t lo, size_t hi,
                                     float *out, cada_red_op op);
/* buf holds the whole buffer (sh->total floats); each rank's shard is gathered into
 * every rank's buf, in place. */
cada_status cada_comm_allgather(cada_comm *c, const cada_shards *sh, float *buf);
/* The elements [lo, hi) of a sharded buffer, gathered into dst[0..hi-lo) on every rank:
 * each rank's part of the range ([lo, hi) intersected with its shard) comes from its
 * src in full-buffer coordinates (src[e] is element e; only the rank's own shard of src
 * is read). dst may be src + lo (in place). ZeRO-3 gathers one layer's parameters so. */
cada_status cada_comm_allgather_range(cada_comm *c, const cada_shards *sh, const float *src, size_t lo, size_t hi, float *dst);
cada_status cada_comm_broadcast(cada_comm *c, float *buf, size_t n, int root);
cada_status cada_comm_barrier(cada_comm *c);

/* ---- non-blocking reduce-scatter and all-gather (ZeRO-2/3 while forward and backward run) */
typedef struct cada_comm_req cada_comm_req;
cada_status cada_comm_reduce_scatter_start(cada_comm *c, const cada_shards *sh, const float *in, size_t lo, size_t hi,
                                           float *out, cada_red_op op, cada_comm_req **req);
/* cada_comm_allgather_range, started (ZeRO-3 prefetches the next layer while this one
 * computes); *req is NULL when it completed at once (one rank). */
cada_status cada_comm_allgather_range_start(cada_comm *c, const cada_shards *sh, const float *src, size_t lo, size_t hi,
                                            float *dst, cada_comm_req **req);
/* Advances every pending operation without waiting (call between pieces of work). */
cada_status cada_comm_progress(cada_comm *c);
/* Waits for req (timeout) and releases it. */
cada_status cada_comm_wait(cada_comm *c, cada_comm_req *req);
/* Waits for every pending operation. */
cada_status cada_comm_wait_all(cada_comm *c);

/* The canonical tree sum of x[0..n) (see above), for checks and for callers that must
 * reproduce it. */
float cada_tree_sum(const float *x, int n);

#endif
