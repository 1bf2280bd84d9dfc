/* base/rng.c: see rng.h. */
#include "base/rng.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u /* golden ratio */
#define PHILOX_W1 0xBB67AE85u /* sqrt(3) - 1 */

void cada_philox4x32_10(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c0 = counter[0], c1 = counter[1], c2 = counter[2], c3 = counter[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        uint32_t n3 = (uint32_t)p0;
        c0 = n0; c1 = n1; c2 = n2; c3 = n3;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

/* splitmix64 finaliser: spreads stream ids so that nearby ids give unrelated streams. */
static uint64_t mix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

void cada_rng_init(cada_rng *r, uint64_t seed, uint64_t id_a, uint64_t id_b, uint64_t id_c) {
    uint64_t stream = mix64(mix64(mix64(id_a) ^ id_b) ^ id_c);
    r->key[0] = (uint32_t)seed;
    r->key[1] = (uint32_t)(seed >> 32);
    r->counter[0] = 0;
    r->counter[1] = 0;
    r->counter[2] = (uint32_t)stream;
    r->counter[3] = (uint32_t)(stream >> 32);
    r->used = 4;
}

uint32_t cada_rng_u32(cada_rng *r) {
    if (r->used == 4) {
        cada_philox4x32_10(r->counter, r->key, r->block);
        if (++r->counter[0] == 0) ++r->counter[1];
        r->used = 0;
    }
    return r->block[r->used++];
}

float cada_rng_uniform(cada_rng *r) { return (float)(cada_rng_u32(r) >> 8) * (1.0f / 16777216.0f); }

float cada_rng_normal(cada_rng *r) {
    /* Box-Muller; u1 in (0, 1] so log() stays finite. */
    float u1 = 1.0f - cada_rng_uniform(r);
    float u2 = cada_rng_uniform(r);
    return sqrtf(-2.0f * logf(u1)) * cosf(6.283185307179586f * u2);
}
