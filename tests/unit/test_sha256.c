/* tests/unit/test_sha256.c: SHA-256 (base/sha256.h) against FIPS 180-4's examples
 * (NIST's "SHA256.pdf" example values) and against Python's hashlib on a file. */
#define _POSIX_C_SOURCE 200809L
#include "test.h"

#include "base/sha256.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void digest_of(const void *data, size_t n, size_t step, char hex[65]) {
    cada_sha256 s;
    cada_sha256_init(&s);
    const uint8_t *p = data;
    for (size_t at = 0; at < n; at += step) cada_sha256_update(&s, p + at, n - at < step ? n - at : step);
    uint8_t d[32];
    cada_sha256_final(&s, d);
    cada_sha256_hex(d, hex);
}

static void fips_vectors(void) {
    char hex[65];
    digest_of("", 0, 1, hex);
    EXPECT(!strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"), "empty: %s", hex);
    digest_of("abc", 3, 3, hex);
    EXPECT(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), "abc: %s", hex);
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"; /* 448 bits: padding needs a second block */
    for (size_t step = 1; step <= 64; step += 7) {
        digest_of(two, strlen(two), step, hex);
        EXPECT(!strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"), "two blocks, pieces of %zu: %s", step,
               hex);
    }
    char *a = malloc(1000000);
    REQUIRE(a, "alloc");
    memset(a, 'a', 1000000);
    digest_of(a, 1000000, 4099, hex);
    free(a);
    EXPECT(!strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"), "a million a: %s", hex);
}

/* Both compressions: the plain C one, and the SHA-extension one where the CPU has it. */
TEST(sha256_fips_vectors) {
    int accel = cada_sha256_accelerated(1);
    fips_vectors();
    cada_sha256_accelerated(0);
    fips_vectors();
    cada_sha256_accelerated(accel);
    printf("    (SHA extensions: %s)\n", accel ? "checked too" : "not on this CPU");
}

/* The expected value is hashlib.sha256(the same bytes).hexdigest(). */
TEST(sha256_file_matches_hashlib) {
    char path[1200];
    snprintf(path, sizeof path, "%s/sha256.bin", cada_test_tmpdir());
    FILE *f = fopen(path, "wb");
    REQUIRE(f, "create %s", path);
    for (long i = 0; i < 1000003; i++) fputc(((i * 7 + 3) & 255) ^ ((i >> 8) & 255), f);
    REQUIRE(fclose(f) == 0, "write %s", path);
    char hex[65];
    uint64_t size = 0;
    REQUIRE(cada_sha256_file(path, hex, &size) == CADA_OK, "%s", cada_error_message());
    EXPECT(size == 1000003, "size %llu", (unsigned long long)size);
    EXPECT(!strcmp(hex, "ab9b06d94add2d8b59c8dfcda4be9966e29a3983829ae9b072f139b5dbeb4795"), "file: %s", hex);
    int accel = cada_sha256_accelerated(0);
    REQUIRE(cada_sha256_file(path, hex, &size) == CADA_OK, "%s", cada_error_message());
    cada_sha256_accelerated(accel);
    EXPECT(!strcmp(hex, "ab9b06d94add2d8b59c8dfcda4be9966e29a3983829ae9b072f139b5dbeb4795"), "file, plain C: %s", hex);
    snprintf(path, sizeof path, "%s/no-such-file", cada_test_tmpdir());
    EXPECT(cada_sha256_file(path, hex, &size) == CADA_ERR_IO && strstr(cada_error_message(), "no-such-file"), "missing file: %s",
           cada_error_message());
}
