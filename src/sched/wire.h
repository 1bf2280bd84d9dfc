/* sched/wire.h: the frames that carry protobuf messages between ranks.
 *
 * A frame is a 16-byte header followed by the payload:
 *     u32 magic "CADA" (0x41444143, little-endian)  u16 version (1)  u16 flags
 *     u32 payload bytes                             u32 message bytes (uncompressed)
 * and the payload is the packed cada.Envelope (proto/cada.proto), compressed with zstd
 * when flag CADA_WIRE_ZSTD is set (the sender compresses messages above a threshold;
 * token data compresses ~3x at level 1).
 *
 * Every received frame is checked before anything is allocated or parsed: the magic,
 * the version, unknown flag bits, the payload length against the bytes received, the
 * message length against a cap (a "zstd bomb" declaring gigabytes is refused before
 * decompression), the zstd frame's own content size against the header, the exact
 * decompressed size, and finally that protobuf-c can unpack it and a body is set.
 * Errors name the sender ("rank 3") and the field at fault.
 *
 * Transport (CADA_HAVE_MPI): cada_wire_send / cada_wire_recv move frames as MPI byte
 * messages with non-blocking calls polled with a growing sleep (an idle rank does not
 * spin a core) and a timeout, after which the error names the peer and the operation. */
#ifndef CADA_SCHED_WIRE_H
#define CADA_SCHED_WIRE_H

#include "base/error.h"
#include "cada.pb-c.h"

#include <stddef.h>
#include <stdint.h>

#define CADA_WIRE_MAGIC 0x41444143u
#define CADA_WIRE_VERSION 1u
#define CADA_WIRE_HEADER_BYTES 16u
#define CADA_WIRE_ZSTD 0x1u
#define CADA_WIRE_KNOWN_FLAGS CADA_WIRE_ZSTD

typedef struct {
    size_t zstd_threshold; /* compress messages of at least this many bytes (0: never) */
    int zstd_level;
    size_t max_message;    /* cap on a message's uncompressed bytes */
} cada_wire_options;

/* Defaults: compress from 4 KiB, level 1, messages up to 256 MiB. */
cada_wire_options cada_wire_defaults(void);

/* Packs env into a new frame (*frame malloc'd, *len bytes). */
cada_status cada_wire_encode(const Cada__Envelope *env, const cada_wire_options *opt, uint8_t **frame, size_t *len);
/* Checks and unpacks a frame; free *env with cada_wire_free. from: who sent it, for
 * messages ("rank 3"). */
cada_status cada_wire_decode(const uint8_t *frame, size_t len, const cada_wire_options *opt, const char *from,
                             Cada__Envelope **env);
void cada_wire_free(Cada__Envelope *env);

#ifdef CADA_HAVE_MPI
#include <mpi.h>
/* Sends env to dest with tag; fails after timeout_s seconds without completion. */
cada_status cada_wire_send(MPI_Comm comm, int dest, int tag, const Cada__Envelope *env, const cada_wire_options *opt,
                           double timeout_s);
/* The same in two halves, for a message that may cross a collective the receiver is
 * waiting in (a blocking send there would wait forever): isend encodes env and starts
 * the send (env may be freed at once: the frame is owned by *p); wait polls it to
 * completion with the same back-off and timeout, then frees *p (NULL: nothing). MPI
 * keeps moving a started send while this rank waits in other MPI calls. */
typedef struct cada_wire_pending cada_wire_pending;
cada_status cada_wire_isend(MPI_Comm comm, int dest, int tag, const Cada__Envelope *env, const cada_wire_options *opt,
                            cada_wire_pending **p);
cada_status cada_wire_wait(cada_wire_pending *p, double timeout_s);
/* Receives one frame from source (or MPI_ANY_SOURCE) with tag (or MPI_ANY_TAG), waiting
 * at most timeout_s; *from_rank gets the sender. */
cada_status cada_wire_recv(MPI_Comm comm, int source, int tag, double timeout_s, const cada_wire_options *opt,
                           Cada__Envelope **env, int *from_rank);
#endif

#endif
