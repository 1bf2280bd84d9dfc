/* base/rng.h: counter-based random numbers (Philox4x32-10).
 *
 * Why counter-based: a sample's random stream is a pure function of
 * (seed, stream ids, position), so what a prompt's k-th sample draws does not depend on
 * which rank generated it, in which batch, or how many ranks there are.
 *
 * Philox4x32-10 is from Salmon et al., "Parallel Random Numbers: As Easy as 1, 2, 3"
 * (SC'11); the known-answer vectors in tests/unit/test_base.c are the Random123
 * library's.
 *
 * Layout of one stream: key = the 64-bit seed; counter words 2..3 = a 64-bit mix of the
 * stream ids (e.g. step, prompt, sample); counter words 0..1 = the position in the
 * stream, one block of four 32-bit outputs per position. */
#ifndef CADA_BASE_RNG_H
#define CADA_BASE_RNG_H

#include <stdint.h>

/* One Philox4x32-10 block: out = philox(counter, key). */
void cada_philox4x32_10(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]);

typedef struct {
    uint32_t key[2];
    uint32_t counter[4];
    uint32_t block[4]; /* the current block's outputs */
    int used;          /* how many of block[] were handed out (4 = refill) */
} cada_rng;

/* A stream keyed by seed and up to three ids (pass 0 for unused ones). */
void cada_rng_init(cada_rng *r, uint64_t seed, uint64_t id_a, uint64_t id_b, uint64_t id_c);
uint32_t cada_rng_u32(cada_rng *r);
float cada_rng_uniform(cada_rng *r); /* [0, 1), 24 random bits */
float cada_rng_normal(cada_rng *r);  /* standard normal (Box-Muller) */

#endif
