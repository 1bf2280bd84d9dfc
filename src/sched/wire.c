/* sched/wire.c: see wire.h. */
#define _POSIX_C_SOURCE 200809L
#include "sched/wire.h"

#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zstd.h>

cada_wire_options cada_wire_defaults(void) {
    cada_wire_options o = {.zstd_threshold = 4096, .zstd_level = 1, .max_message = (size_t)256 << 20};
    return o;
}

static void put_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static void put_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8);
}
static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

cada_status cada_wire_encode(const Cada__Envelope *env, const cada_wire_options *opt, uint8_t **frame, size_t *len) {
    *frame = NULL;
    *len = 0;
    size_t raw = protobuf_c_message_get_packed_size(&env->base);
    if (raw > opt->max_message || raw > UINT32_MAX)
        return CADA_ERR(CADA_ERR_ARG, "wire: message of %zu bytes exceeds the cap of %zu", raw, opt->max_message);
    int compress = opt->zstd_threshold > 0 && raw >= opt->zstd_threshold;
    uint8_t *packed = CADA_MALLOC(raw ? raw : 1, "wire message");
    if (!packed) return CADA_ERR_NOMEM;
    protobuf_c_message_pack(&env->base, packed);
    size_t payload = raw;
    uint8_t *out;
    if (compress) {
        size_t bound = ZSTD_compressBound(raw);
        out = CADA_MALLOC(CADA_WIRE_HEADER_BYTES + bound, "wire frame");
        if (!out) {
            free(packed);
            return CADA_ERR_NOMEM;
        }
        payload = ZSTD_compress(out + CADA_WIRE_HEADER_BYTES, bound, packed, raw, opt->zstd_level);
        if (ZSTD_isError(payload)) {
            free(packed);
            free(out);
            return CADA_ERR(CADA_ERR_INTERNAL, "wire: zstd compression failed: %s", ZSTD_getErrorName(payload));
        }
    } else {
        out = CADA_MALLOC(CADA_WIRE_HEADER_BYTES + raw, "wire frame");
        if (!out) {
            free(packed);
            return CADA_ERR_NOMEM;
        }
        memcpy(out + CADA_WIRE_HEADER_BYTES, packed, raw);
    }
    free(packed);
    put_u32(out, CADA_WIRE_MAGIC);
    put_u16(out + 4, (uint16_t)CADA_WIRE_VERSION);
    put_u16(out + 6, compress ? CADA_WIRE_ZSTD : 0);
    put_u32(out + 8, (uint32_t)payload);
    put_u32(out + 12, (uint32_t)raw);
    *frame = out;
    *len = CADA_WIRE_HEADER_BYTES + payload;
    return CADA_OK;
}

cada_status cada_wire_decode(const uint8_t *frame, size_t len, const cada_wire_options *opt, const char *from,
                             Cada__Envelope **env) {
    *env = NULL;
    if (len < CADA_WIRE_HEADER_BYTES)
        return CADA_ERR(CADA_ERR_FORMAT, "frame from %s: %zu bytes, shorter than the %u-byte header", from, len,
                        CADA_WIRE_HEADER_BYTES);
    uint32_t magic = get_u32(frame), payload = get_u32(frame + 8), raw = get_u32(frame + 12);
    uint16_t version = get_u16(frame + 4), flags = get_u16(frame + 6);
    if (magic != CADA_WIRE_MAGIC)
        return CADA_ERR(CADA_ERR_FORMAT, "frame from %s: bad magic 0x%08x (expected 0x%08x)", from, magic, CADA_WIRE_MAGIC);
    if (version != CADA_WIRE_VERSION)
        return CADA_ERR(CADA_ERR_FORMAT, "frame from %s: version %u, this build speaks %u", from, version, CADA_WIRE_VERSION);
    if (flags & ~CADA_WIRE_KNOWN_FLAGS)
        return CADA_ERR(CADA_ERR_FORMAT, "frame from %s: unknown flags 0x%04x", from, flags);
    if ((size_t)payload != len - CADA_WIRE_HEADER_BYTES)
        return CADA_ERR(CADA_ERR_FORMAT, "frame from %s: header declares %u payload bytes, %zu arrived", from, payload,
                        len - CADA_WIRE_HEADER_BYTES);
    if ((size_t)raw > opt->max_message)
        return CADA_ERR(CADA_ERR_FORMAT, "frame from %s: message length %u exceeds the cap of %zu", from, raw,
                        opt->max_message);
    const uint8_t *body = frame + CADA_WIRE_HEADER_BYTES;
    uint8_t *inflated = NULL;
    if (flags & CADA_WIRE_ZSTD) {
        unsigned long long declared = ZSTD_getFrameContentSize(body, payload);
        if (declared == ZSTD_CONTENTSIZE_ERROR || declared == ZSTD_CONTENTSIZE_UNKNOWN)
            return CADA_ERR(CADA_ERR_FORMAT, "frame from %s: payload is not a zstd frame with a declared size", from);
        if (declared != raw)
            return CADA_ERR(CADA_ERR_FORMAT, "frame from %s: zstd content size %llu disagrees with the header's %u", from,
                            declared, raw);
        inflated = CADA_MALLOC(raw ? raw : 1, "wire message");
        if (!inflated) return CADA_ERR_NOMEM;
        size_t got = ZSTD_decompress(inflated, raw, body, payload);
        if (ZSTD_isError(got) || got != raw) {
            free(inflated);
            return CADA_ERR(CADA_ERR_FORMAT, "frame from %s: zstd payload does not decompress to %u bytes (%s)", from, raw,
                            ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short");
        }
        body = inflated;
    } else if (raw != payload) {
        return CADA_ERR(CADA_ERR_FORMAT, "frame from %s: uncompressed, yet message length %u != payload %u", from, raw,
                        payload);
    }
    Cada__Envelope *e = cada__envelope__unpack(NULL, raw, body);
    free(inflated);
    if (!e) return CADA_ERR(CADA_ERR_FORMAT, "frame from %s: the %u message bytes are not a valid cada.Envelope", from, raw);
    if (e->body_case == CADA__ENVELOPE__BODY__NOT_SET) {
        cada__envelope__free_unpacked(e, NULL);
        return CADA_ERR(CADA_ERR_FORMAT, "frame from %s: envelope carries no message", from);
    }
    *env = e;
    return CADA_OK;
}

void cada_wire_free(Cada__Envelope *env) {
    if (env) cada__envelope__free_unpacked(env, NULL);
}

#ifdef CADA_HAVE_MPI
/* Sleeps between polls: 20 us doubling to 2 ms, so a waiting rank costs almost nothing
 * while replies still arrive within a couple of milliseconds. */
static void backoff(double *pause) {
    struct timespec ts = {0, (long)(*pause * 1e9)};
    nanosleep(&ts, NULL);
    *pause = *pause * 2 < 2e-3 ? *pause * 2 : 2e-3;
}

struct cada_wire_pending {
    uint8_t *frame;
    size_t len;
    MPI_Request req;
    int dest, tag;
};

cada_status cada_wire_isend(MPI_Comm comm, int dest, int tag, const Cada__Envelope *env, const cada_wire_options *opt,
                            cada_wire_pending **out) {
    *out = NULL;
    cada_wire_pending *p = CADA_MALLOC(sizeof *p, "wire send");
    if (!p) return CADA_ERR_NOMEM;
    cada_status st = cada_wire_encode(env, opt, &p->frame, &p->len);
    if (st != CADA_OK) {
        free(p);
        return st;
    }
    p->dest = dest;
    p->tag = tag;
    int rc = MPI_Isend(p->frame, (int)p->len, MPI_BYTE, dest, tag, comm, &p->req);
    if (rc != MPI_SUCCESS) {
        free(p->frame);
        free(p);
        return cada_mpi_error(rc, "MPI_Isend", __FILE__, __LINE__);
    }
    *out = p;
    return CADA_OK;
}

cada_status cada_wire_wait(cada_wire_pending *p, double timeout_s) {
    if (!p) return CADA_OK;
    double start = cada_now(), pause = 20e-6;
    for (;;) {
        int done = 0;
        int rc = MPI_Test(&p->req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) {
            free(p->frame);
            free(p);
            return cada_mpi_error(rc, "MPI_Test (send)", __FILE__, __LINE__);
        }
        if (done) break;
        if (cada_now() - start > timeout_s) {
            MPI_Cancel(&p->req);
            /* the buffer may still be read by MPI after a failed cancel: leak it */
            cada_status st = CADA_ERR(CADA_ERR_MPI, "rank %d: sending %zu bytes to rank %d (tag %d) did not complete in %.0f s",
                                      cada_get_rank(), p->len, p->dest, p->tag, timeout_s);
            free(p);
            return st;
        }
        backoff(&pause);
    }
    free(p->frame);
    free(p);
    return CADA_OK;
}

cada_status cada_wire_send(MPI_Comm comm, int dest, int tag, const Cada__Envelope *env, const cada_wire_options *opt,
                           double timeout_s) {
    cada_wire_pending *p;
    CADA_TRY(cada_wire_isend(comm, dest, tag, env, opt, &p));
    return cada_wire_wait(p, timeout_s);
}

cada_status cada_wire_recv(MPI_Comm comm, int source, int tag, double timeout_s, const cada_wire_options *opt,
                           Cada__Envelope **env, int *from_rank) {
    *env = NULL;
    double start = cada_now(), pause = 20e-6;
    MPI_Status status;
    MPI_Message msg;
    for (;;) {
        int found = 0;
        int rc = MPI_Improbe(source, tag, comm, &found, &msg, &status);
        if (rc != MPI_SUCCESS) return cada_mpi_error(rc, "MPI_Improbe", __FILE__, __LINE__);
        if (found) break;
        if (cada_now() - start > timeout_s) {
            char who[32];
            if (source == MPI_ANY_SOURCE) snprintf(who, sizeof who, "any rank");
            else snprintf(who, sizeof who, "rank %d", source);
            return CADA_ERR(CADA_ERR_MPI, "rank %d: no message from %s (tag %d) in %.0f s", cada_get_rank(), who, tag,
                            timeout_s);
        }
        backoff(&pause);
    }
    int count = 0;
    MPI_Get_count(&status, MPI_BYTE, &count);
    char from[32];
    snprintf(from, sizeof from, "rank %d", status.MPI_SOURCE);
    if (from_rank) *from_rank = status.MPI_SOURCE;
    if (count < 0 || (size_t)count > CADA_WIRE_HEADER_BYTES + opt->max_message + opt->max_message / 64 + 1024) {
        /* Receive nothing we cannot hold: the job is broken, say so. */
        return CADA_ERR(CADA_ERR_FORMAT, "frame from %s: %d bytes exceed the cap", from, count);
    }
    uint8_t *buf = CADA_MALLOC(count ? (size_t)count : 1, "wire frame");
    if (!buf) return CADA_ERR_NOMEM;
    int rc = MPI_Mrecv(buf, count, MPI_BYTE, &msg, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) {
        free(buf);
        return cada_mpi_error(rc, "MPI_Mrecv", __FILE__, __LINE__);
    }
    cada_status st = cada_wire_decode(buf, (size_t)count, opt, from, env);
    free(buf);
    return st;
}
#endif
