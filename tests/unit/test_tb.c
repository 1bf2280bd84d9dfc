/* tests/unit/test_tb.c: CRC-32C known answers and TensorBoard event files written and
 * read back (TFRecord framing, both CRCs, the Event protobuf), including a corrupted
 * byte and a truncated record. TensorBoard's own reader checks the files of a real run
 * in tests/cli/tb_events.sh. */
#define _POSIX_C_SOURCE 200809L
#include "test.h"

#include "base/crc32c.h"
#include "sched/tb_events.h"

#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

TEST(crc32c_known_answers) {
    EXPECT(cada_crc32c(0, "123456789", 9) == 0xE3069283u, "got %08x", cada_crc32c(0, "123456789", 9));
    EXPECT(cada_crc32c(0, "", 0) == 0);
    /* RFC 3720, B.4 */
    uint8_t buf[32];
    memset(buf, 0, sizeof buf);
    EXPECT(cada_crc32c(0, buf, 32) == 0x8A9136AAu, "zeros: %08x", cada_crc32c(0, buf, 32));
    memset(buf, 0xFF, sizeof buf);
    EXPECT(cada_crc32c(0, buf, 32) == 0x62A8AB43u, "ones: %08x", cada_crc32c(0, buf, 32));
    for (int i = 0; i < 32; i++) buf[i] = (uint8_t)i;
    EXPECT(cada_crc32c(0, buf, 32) == 0x46DD794Eu, "incrementing: %08x", cada_crc32c(0, buf, 32));
    for (int i = 0; i < 32; i++) buf[i] = (uint8_t)(31 - i);
    EXPECT(cada_crc32c(0, buf, 32) == 0x113FDB5Cu, "decrementing: %08x", cada_crc32c(0, buf, 32));
}

TEST(crc32c_continues_across_splits_and_alignments) {
    uint8_t buf[301];
    for (int i = 0; i < (int)sizeof buf; i++) buf[i] = (uint8_t)(i * 37 + 11);
    /* bit-by-bit reference */
    uint32_t ref = 0xFFFFFFFFu;
    for (int i = 1; i < (int)sizeof buf; i++) {
        ref ^= buf[i];
        for (int b = 0; b < 8; b++) ref = (ref >> 1) ^ (0x82F63B78u & (0u - (ref & 1u)));
    }
    ref = ~ref;
    EXPECT(cada_crc32c(0, buf + 1, 300) == ref, "unaligned whole: %08x vs %08x", cada_crc32c(0, buf + 1, 300), ref);
    for (int cut = 0; cut <= 300; cut += 7)
        EXPECT(cada_crc32c(cada_crc32c(0, buf + 1, (size_t)cut), buf + 1 + cut, (size_t)(300 - cut)) == ref, "cut %d", cut);
}

TEST(crc32c_mask_matches_tfrecord) {
    /* TensorBoard's masked_crc32c(b"123456789") */
    EXPECT(cada_crc32c_mask(0xE3069283u) == 0xC78AB0E5u, "got %08x", cada_crc32c_mask(0xE3069283u));
    for (uint32_t x = 1; x < 0xF0000000u; x = x * 3 + 12345)
        EXPECT(cada_crc32c_unmask(cada_crc32c_mask(x)) == x, "x %08x", x);
}

/* The one event file in dir (full path into out). */
static int find_event_file(const char *dir, char *out, size_t cap) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int found = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (!strncmp(e->d_name, "events.out.tfevents.", 20)) {
            snprintf(out, cap, "%s/%s", dir, e->d_name);
            found++;
        }
    closedir(d);
    return found;
}

static long file_bytes(const char *path, uint8_t **data) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *data = malloc((size_t)n);
    if (!*data || fread(*data, 1, (size_t)n, f) != (size_t)n) n = -1;
    fclose(f);
    return n;
}

static int write_bytes(const char *path, const uint8_t *data, long n) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int ok = fwrite(data, 1, (size_t)n, f) == (size_t)n;
    return fclose(f) == 0 && ok;
}

TEST(tb_events_write_and_read_back) {
    char dir[600], path[1200];
    snprintf(dir, sizeof dir, "%s/tb/run a", cada_test_tmpdir());
    cada_tb_writer *w = NULL;
    REQUIRE_OK(cada_tb_open(&w, dir, "my run/1"));
    EXPECT(strstr(cada_tb_path(w), "/events.out.tfevents.") && strstr(cada_tb_path(w), ".my_run_1"), "%s", cada_tb_path(w));
    const char *tags[] = {"reward/mean", "kl", "time/rollout"};
    const double v1[] = {-0.25, 1e-3, 12.5}, v2[] = {0.75, 0.0, 11.0};
    double t = cada_tb_now();
    EXPECT(t > 1.6e9, "wall time %f", t);
    REQUIRE_OK(cada_tb_scalars(w, 1, t, tags, v1, 3));
    REQUIRE_OK(cada_tb_scalars(w, 2, t + 1.5, tags, v2, 3));
    EXPECT(cada_tb_scalars(w, 3, t, tags, v2, 0) != CADA_OK);
    const char *bad[] = {"ok", ""};
    EXPECT(cada_tb_scalars(w, 3, t, bad, v2, 2) != CADA_OK && strstr(cada_error_message(), "scalar 1"), "%s",
           cada_error_message());
    REQUIRE_OK(cada_tb_close(w));
    REQUIRE(find_event_file(dir, path, sizeof path) == 1);

    cada_tb_event *ev = NULL;
    int n = 0;
    REQUIRE_OK(cada_tb_read(path, &ev, &n));
    REQUIRE(n == 3, "events: %d", n);
    EXPECT(ev[0].file_version && !strcmp(ev[0].file_version, "brain.Event:2"));
    EXPECT(ev[0].n == 0 && ev[0].wall_time > 1.6e9);
    for (int k = 1; k <= 2; k++) {
        const double *want = k == 1 ? v1 : v2;
        EXPECT(ev[k].step == k && !ev[k].file_version && ev[k].n == 3, "event %d", k);
        EXPECT(fabs(ev[k].wall_time - (t + (k == 2 ? 1.5 : 0))) < 1e-6, "event %d wall time", k);
        for (int i = 0; i < ev[k].n && i < 3; i++) {
            EXPECT(!strcmp(ev[k].tags[i], tags[i]), "event %d tag %d: %s", k, i, ev[k].tags[i]);
            EXPECT(ev[k].values[i] == (float)want[i], "event %d value %d: %g", k, i, (double)ev[k].values[i]);
        }
    }
    cada_tb_events_free(ev, n);

    /* the framing, byte by byte, for the first record */
    uint8_t *raw = NULL;
    long bytes = file_bytes(path, &raw);
    REQUIRE(bytes > 16 && raw);
    uint64_t len = 0;
    for (int i = 0; i < 8; i++) len |= (uint64_t)raw[i] << (8 * i);
    uint32_t hcrc = (uint32_t)raw[8] | (uint32_t)raw[9] << 8 | (uint32_t)raw[10] << 16 | (uint32_t)raw[11] << 24;
    EXPECT(len > 0 && (long)len + 16 < bytes, "length %llu", (unsigned long long)len);
    EXPECT(hcrc == cada_crc32c_mask(cada_crc32c(0, raw, 8)));
    int has_version = 0;
    for (uint64_t i = 0; i + 13 <= len; i++) has_version |= !memcmp(raw + 12 + i, "brain.Event:2", 13);
    EXPECT(has_version, "file_version string in the first record");

    /* one flipped byte inside the second record's data: the data CRC must catch it */
    long second = 16 + (long)len;
    char bad_path[1300];
    snprintf(bad_path, sizeof bad_path, "%s.corrupt", path);
    raw[second + 12 + 3] ^= 0x40;
    REQUIRE(write_bytes(bad_path, raw, bytes));
    EXPECT(cada_tb_read(bad_path, &ev, &n) == CADA_ERR_FORMAT && strstr(cada_error_message(), "data CRC mismatch") &&
               strstr(cada_error_message(), "record 1"),
           "%s", cada_error_message());
    EXPECT(ev == NULL && n == 0);
    raw[second + 12 + 3] ^= 0x40;
    /* a flipped length byte: the length CRC */
    raw[second] ^= 0x01;
    REQUIRE(write_bytes(bad_path, raw, bytes));
    EXPECT(cada_tb_read(bad_path, &ev, &n) == CADA_ERR_FORMAT && strstr(cada_error_message(), "length CRC mismatch"), "%s",
           cada_error_message());
    raw[second] ^= 0x01;
    /* a file cut inside the last record */
    REQUIRE(write_bytes(bad_path, raw, bytes - 3));
    EXPECT(cada_tb_read(bad_path, &ev, &n) == CADA_ERR_FORMAT && strstr(cada_error_message(), "record 2") &&
               strstr(cada_error_message(), "truncated"),
           "%s", cada_error_message());
    free(raw);
    EXPECT(cada_tb_read("/nonexistent/events", &ev, &n) == CADA_ERR_IO);
}

TEST(tb_events_two_writers_never_share_a_file) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/tb_twice", cada_test_tmpdir());
    cada_tb_writer *a = NULL, *b = NULL;
    REQUIRE_OK(cada_tb_open(&a, dir, "same"));
    REQUIRE_OK(cada_tb_open(&b, dir, "same")); /* within the same second, as a rule */
    EXPECT(strcmp(cada_tb_path(a), cada_tb_path(b)) != 0, "%s", cada_tb_path(a));
    const char *tag[] = {"x"};
    const double one[] = {1}, two[] = {2};
    REQUIRE_OK(cada_tb_scalars(a, 1, cada_tb_now(), tag, one, 1));
    REQUIRE_OK(cada_tb_scalars(b, 1, cada_tb_now(), tag, two, 1));
    char pa[1200], pb[1200];
    snprintf(pa, sizeof pa, "%s", cada_tb_path(a));
    snprintf(pb, sizeof pb, "%s", cada_tb_path(b));
    REQUIRE_OK(cada_tb_close(a));
    REQUIRE_OK(cada_tb_close(b));
    cada_tb_event *ev = NULL;
    int n = 0;
    REQUIRE_OK(cada_tb_read(pa, &ev, &n));
    EXPECT(n == 2 && ev[1].n == 1 && ev[1].values[0] == 1.0f);
    cada_tb_events_free(ev, n);
    REQUIRE_OK(cada_tb_read(pb, &ev, &n));
    EXPECT(n == 2 && ev[1].n == 1 && ev[1].values[0] == 2.0f);
    cada_tb_events_free(ev, n);
    /* a folder that cannot be made names itself */
    char blocked[1300];
    snprintf(blocked, sizeof blocked, "%s/sub", pa);
    EXPECT(cada_tb_open(&a, blocked, NULL) != CADA_OK && a == NULL && strstr(cada_error_message(), "sub"), "%s",
           cada_error_message());
}
