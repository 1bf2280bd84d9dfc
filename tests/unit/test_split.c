/* tests/unit/test_split.c: cada/split.h's sampling on a pool written here: each
 * category gets its share of the training set (largest remainders for the rest, ties to
 * the category seen first), the sample is a function of the seed, and an input that is
 * missing or malformed is an error naming it. (tests/cli/split.sh checks disjointness
 * and split.json end to end.) */
#define _POSIX_C_SOURCE 200809L
#include "test.h"

#include "cada/split.h"
#include "cada/text.h"

#include <stdlib.h>
#include <string.h>

/* Count of lines of path whose "category" is cat. */
static int count_category(const char *path, const char *cat) {
    char *data = NULL;
    size_t len = 0;
    if (cada_read_file(path, &data, &len) != CADA_OK) return -1;
    char needle[96];
    snprintf(needle, sizeof needle, "\"category\": \"%s\"", cat);
    int n = 0;
    for (const char *p = data; (p = strstr(p, needle)); p++) n++;
    free(data);
    return n;
}

/* A pool of 6 violent_crimes, 3 privacy and 1 elections requests, all distinct. */
static const char *write_pool(void) {
    static const char *const topics[] = {"a bridge", "a train", "a river", "a tower", "a market", "a harbour",
                                         "a school", "a stadium", "a museum", "a garden"};
    cada_str s = {0};
    for (int i = 0; i < 10; i++) {
        const char *cat = i < 6 ? "violent_crimes" : i < 9 ? "privacy" : "elections";
        cada_str_printf(&s, "{\"id\": \"p%d\", \"prompt\": \"Tell me %d secret things about %s near item %d.\", "
                            "\"category\": \"%s\", \"label\": \"harmful\"}\n",
                        i, i * 7 + 3, topics[i], i, cat);
    }
    const char *path = cada_test_write("pool.jsonl", cada_str_c(&s));
    cada_str_free(&s);
    return path;
}

TEST(split_stratified_shares_and_seed) {
    const char *pool = write_pool();
    char out[1024], train[1100];
    cada_split_config c;
    cada_split_result r;
    cada_split_config_default(&c);
    c.train_from[c.n_train_from++] = pool;
    c.train_size = 5;
    c.seed = 3;
    snprintf(out, sizeof out, "%s/split_a", cada_test_tmpdir());
    c.out_dir = out;
    REQUIRE(cada_split_run(&c, &r) == CADA_OK, "%s", cada_error_message());
    EXPECT(r.n_pool == 10 && r.n_train == 5, "pool %d train %d", r.n_pool, r.n_train);
    /* shares 3.0, 1.5, 0.5: violent 3; privacy and elections tie at .5, privacy came first */
    snprintf(train, sizeof train, "%s/train.jsonl", out);
    EXPECT(count_category(train, "violent_crimes") == 3 && count_category(train, "privacy") == 2 &&
               count_category(train, "elections") == 0,
           "violent %d privacy %d elections %d", count_category(train, "violent_crimes"), count_category(train, "privacy"),
           count_category(train, "elections"));
    /* the same seed, the same bytes; seeds differ somewhere among ten */
    char *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    REQUIRE(cada_read_file(train, &a, &na) == CADA_OK);
    snprintf(out, sizeof out, "%s/split_b", cada_test_tmpdir());
    REQUIRE(cada_split_run(&c, &r) == CADA_OK, "%s", cada_error_message());
    snprintf(train, sizeof train, "%s/train.jsonl", out);
    REQUIRE(cada_read_file(train, &b, &nb) == CADA_OK);
    EXPECT(na == nb && !memcmp(a, b, na), "seed 3 twice differs");
    int differs = 0;
    for (uint64_t seed = 10; seed < 20 && !differs; seed++) {
        c.seed = seed;
        free(b);
        b = NULL;
        REQUIRE(cada_split_run(&c, &r) == CADA_OK, "%s", cada_error_message());
        REQUIRE(cada_read_file(train, &b, &nb) == CADA_OK);
        differs = na != nb || memcmp(a, b, na);
    }
    EXPECT(differs, "seeds 10..19 all sample what seed 3 sampled");
    free(a);
    free(b);
}

TEST(split_errors_name_the_input) {
    const char *pool = write_pool();
    const char *bad = cada_test_write("held_out.jsonl", "{\"prompt\": \"fine\"}\n{\"prompt\": 7}\n");
    char out[1024];
    snprintf(out, sizeof out, "%s/split_err", cada_test_tmpdir());
    cada_split_config c;
    cada_split_result r;
    cada_split_config_default(&c);
    c.train_from[c.n_train_from++] = pool;
    c.tests[c.n_tests++] = bad;
    c.out_dir = out;
    EXPECT(cada_split_run(&c, &r) == CADA_ERR_FORMAT);
    EXPECT(strstr(cada_error_message(), "held_out.jsonl:2: field 'prompt'"), "message: %s", cada_error_message());
    c.tests[0] = "/nonexistent/set.csv";
    EXPECT(cada_split_run(&c, &r) == CADA_ERR_IO);
    EXPECT(strstr(cada_error_message(), "/nonexistent/set.csv"), "message: %s", cada_error_message());
    c.n_tests = 0;
    c.tests[c.n_tests++] = pool; /* two sets of one name */
    c.tests[c.n_tests++] = pool;
    EXPECT(cada_split_run(&c, &r) == CADA_ERR_CONFIG);
    EXPECT(strstr(cada_error_message(), "two test sets are named 'pool'"), "message: %s", cada_error_message());
    c.n_tests = 0;
    c.jaccard = 0;
    EXPECT(cada_split_run(&c, &r) == CADA_ERR_CONFIG);
}
