/* tests/fuzz/fuzz_wire.c: libFuzzer target for the frame and message parser
 * (sched/wire.h). Any byte string must be either refused with an error or decoded
 * into an envelope that re-encodes; nothing may crash, leak or read out of bounds
 * (run under AddressSanitizer and UBSan by tests/cli/fuzz_wire.sh).
 *
 * The first input byte picks what the rest is, so that mutations reach every layer
 * instead of dying at the header's exact-length check:
 *   0: a whole frame, header included;
 *   1: a protobuf payload, wrapped in a correct uncompressed header;
 *   2: a protobuf payload, zstd-compressed and wrapped in a correct header. */
#include "sched/wire.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void put_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

static void decode_one(const uint8_t *frame, size_t len, const cada_wire_options *o) {
    Cada__Envelope *env = NULL;
    if (cada_wire_decode(frame, len, o, "fuzzer", &env) == CADA_OK) {
        uint8_t *again = NULL;
        size_t n = 0;
        if (cada_wire_encode(env, o, &again, &n) != CADA_OK) abort(); /* decodable must re-encode */
        free(again);
        cada_wire_free(env);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cada_wire_options o = cada_wire_defaults();
    o.max_message = (size_t)1 << 20; /* keep single inputs cheap */
    if (size == 0) return 0;
    int mode = data[0] % 3;
    const uint8_t *body = data + 1;
    size_t n = size - 1;
    if (mode == 0) {
        decode_one(body, n, &o);
        return 0;
    }
    size_t cap = mode == 1 ? n : ZSTD_compressBound(n);
    uint8_t *frame = malloc(CADA_WIRE_HEADER_BYTES + cap + 1);
    if (!frame) return 0;
    size_t payload = n;
    if (mode == 1) {
        memcpy(frame + CADA_WIRE_HEADER_BYTES, body, n);
    } else {
        payload = ZSTD_compress(frame + CADA_WIRE_HEADER_BYTES, cap, body, n, 1);
        if (ZSTD_isError(payload)) {
            free(frame);
            return 0;
        }
    }
    put_u32(frame, CADA_WIRE_MAGIC);
    frame[4] = (uint8_t)CADA_WIRE_VERSION;
    frame[5] = 0;
    frame[6] = mode == 2 ? CADA_WIRE_ZSTD : 0;
    frame[7] = 0;
    put_u32(frame + 8, (uint32_t)payload);
    put_u32(frame + 12, (uint32_t)n);
    decode_one(frame, CADA_WIRE_HEADER_BYTES + payload, &o);
    free(frame);
    return 0;
}
