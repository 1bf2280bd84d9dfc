/* tests/unit/test_base.c: the base layer: Philox known answers, RNG streams, arenas,
 * the error trail and the fatal path. */
#define _POSIX_C_SOURCE 200809L
#include "test.h"

#include "base/arena.h"
#include "base/error.h"
#include "base/fs.h"
#include "base/rng.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

TEST(base_philox_random123_known_answers) {
    /* Random123's tests/kat_vectors for philox4x32_10 */
    const uint32_t ctr[3][4] = {{0, 0, 0, 0},
                                {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu},
                                {0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}};
    const uint32_t key[3][2] = {{0, 0}, {0xffffffffu, 0xffffffffu}, {0xa4093822u, 0x299f31d0u}};
    const uint32_t want[3][4] = {{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u},
                                 {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu},
                                 {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}};
    for (int k = 0; k < 3; k++) {
        uint32_t out[4];
        cada_philox4x32_10(ctr[k], key[k], out);
        EXPECT(!memcmp(out, want[k], sizeof out), "vector %d: got %08x %08x %08x %08x", k, out[0], out[1], out[2], out[3]);
    }
}

TEST(base_rng_streams_are_pure_functions_of_their_keys) {
    cada_rng a, b, c;
    cada_rng_init(&a, 42, 3, 5, 7);
    cada_rng_init(&b, 42, 3, 5, 7);
    cada_rng_init(&c, 42, 3, 5, 8); /* another sample of the same prompt */
    int same_ab = 1, same_ac = 0;
    for (int i = 0; i < 100; i++) {
        uint32_t x = cada_rng_u32(&a), y = cada_rng_u32(&b), z = cada_rng_u32(&c);
        same_ab &= x == y;
        same_ac += x == z;
    }
    EXPECT(same_ab, "same keys must give the same stream");
    EXPECT(same_ac < 3, "different stream ids must give unrelated streams (%d equal draws)", same_ac);
}

TEST(base_rng_uniform_and_normal_moments) {
    cada_rng r;
    cada_rng_init(&r, 7, 0, 0, 0);
    const int n = 200000;
    double su = 0, sn = 0, sn2 = 0;
    float umin = 1, umax = 0;
    for (int i = 0; i < n; i++) {
        float u = cada_rng_uniform(&r);
        umin = fminf(umin, u);
        umax = fmaxf(umax, u);
        su += u;
        float z = cada_rng_normal(&r);
        sn += z;
        sn2 += (double)z * z;
    }
    /* standard errors: uniform mean 0.29/sqrt(n) = 6.5e-4; normal mean 2.2e-3; variance 3.2e-3.
     * Five standard errors keeps a correct generator from failing by chance. */
    EXPECT(umin >= 0.0f && umax < 1.0f, "uniform range [%g, %g]", (double)umin, (double)umax);
    EXPECT(fabs(su / n - 0.5) < 3.3e-3, "uniform mean %g", su / n);
    EXPECT(fabs(sn / n) < 1.1e-2, "normal mean %g", sn / n);
    EXPECT(fabs(sn2 / n - 1.0) < 1.6e-2, "normal variance %g", sn2 / n);
}

TEST(base_arena_alignment_and_exhaustion) {
    cada_arena a;
    REQUIRE_OK(cada_arena_init(&a, 1000, "test arena"));
    void *p = cada_arena_alloc(&a, 3), *q = cada_arena_alloc(&a, 100);
    EXPECT(p && q && ((uintptr_t)p % 64 == 0) && ((uintptr_t)q % 64 == 0), "blocks are 64-byte aligned");
    EXPECT((char *)q - (char *)p == 64, "a 3-byte block takes one cache line");
    void *big = cada_arena_alloc(&a, 5000);
    EXPECT(big == NULL, "over-capacity request must fail");
    EXPECT(strstr(cada_error_message(), "test arena") != NULL, "error names the arena: %s", cada_error_message());
    void *huge = cada_arena_alloc(&a, SIZE_MAX - 10);
    EXPECT(huge == NULL, "size overflow must fail, not wrap");
    cada_arena_reset(&a);
    EXPECT(cada_arena_alloc(&a, 1000) != NULL, "reset frees the space");
    EXPECT(a.high_water >= 1000, "high water mark kept");
    cada_arena_free(&a);
}

static cada_status inner(void) { return CADA_ERR(CADA_ERR_FORMAT, "tensor '%s' is short", "w"); }
static cada_status outer(void) {
    cada_status s = inner();
    if (s != CADA_OK) cada_error_wrap("loading %s", "model.safetensors");
    return s;
}

TEST(base_error_trail_names_every_level) {
    EXPECT(outer() == CADA_ERR_FORMAT);
    EXPECT(!strcmp(cada_error_message(), "loading model.safetensors: tensor 'w' is short"), "message: %s", cada_error_message());
    EXPECT(strstr(cada_error_where(), "test_base.c:") != NULL, "where: %s", cada_error_where());
}

TEST(base_fatal_prints_host_rank_pid_and_exits_nonzero) {
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    fflush(NULL);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        cada_set_rank(3);
        CADA_FATAL("rank %d lost its peer", 5);
    }
    close(fds[1]);
    char buf[1024] = {0};
    ssize_t got = 0, n;
    while ((n = read(fds[0], buf + got, sizeof buf - 1 - (size_t)got)) > 0) got += n;
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 1, "fatal must exit with status 1");
    EXPECT(strstr(buf, "fatal on host") && strstr(buf, "rank 3") && strstr(buf, "pid ") &&
               strstr(buf, "test_base.c:") && strstr(buf, "rank 5 lost its peer"),
           "stderr: %s", buf);
}

TEST(base_mkdir_p_creates_parents_and_names_failures) {
    char dir[600], file[600];
    snprintf(dir, sizeof dir, "%s/a/b/c", cada_test_tmpdir());
    REQUIRE_OK(cada_mkdir_p(dir));
    REQUIRE_OK(cada_mkdir_p(dir)); /* existing: fine */
    snprintf(file, sizeof file, "%s/a/plain", cada_test_tmpdir());
    FILE *f = fopen(file, "w");
    REQUIRE(f);
    fclose(f);
    snprintf(dir, sizeof dir, "%s/a/plain/sub", cada_test_tmpdir());
    EXPECT(cada_mkdir_p(dir) != CADA_OK && strstr(cada_error_message(), "plain"), "%s", cada_error_message());
}
