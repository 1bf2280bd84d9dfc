/* tests/unit/test.h: the unit-test harness.
 *
 * A test is a function defined with TEST(name); it registers itself (constructor), so a
 * new test file needs no central list. EXPECT records a failure and continues; REQUIRE
 * records it and returns from the test. The runner (runner.c) runs every test, or those
 * whose name contains argv[1], prints one line per test and "N passed, N failed" last,
 * and exits non-zero when any failed. */
#ifndef CADA_TEST_H
#define CADA_TEST_H

#include <math.h>
#include <stdio.h>

typedef void (*cada_test_fn)(void);
void cada_test_register(const char *name, const char *file, cada_test_fn fn);
void cada_test_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* "kind expr: message": the failed expression travels as data, so a '%' inside it is
 * never read as a conversion. */
void cada_test_fail_expr(const char *file, int line, const char *kind, const char *expr, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
int cada_test_failed(void); /* has the current test failed so far? */

/* Scratch directory for the current run (created once, removed at exit unless
 * CADA_TEST_KEEP is set). */
const char *cada_test_tmpdir(void);
/* Writes content to <tmpdir>/name and returns the path (one of 8 rotating buffers, so
 * a test may hold 8 at once); an unwritable file fails the current test. */
const char *cada_test_write(const char *name, const char *content);
/* The repository root (where tests/ and .cache/ are), from CADA_ROOT or the cwd. */
const char *cada_test_root(void);
/* Path of the SmolLM2-135M-Instruct GGUF fetched by tests/fetch_models.sh
 * ($CADA_CACHE or <root>/.cache/models/...). */
const char *cada_test_smollm2_path(void);

#define TEST(name)                                                                      \
    static void name(void);                                                             \
    __attribute__((constructor)) static void cada_test_reg_##name(void) {              \
        cada_test_register(#name, __FILE__, name);                                      \
    }                                                                                   \
    static void name(void)

#define EXPECT(cond, ...)                                                               \
    do {                                                                                \
        if (!(cond)) cada_test_fail_expr(__FILE__, __LINE__, "expected", #cond, "" __VA_ARGS__); \
    } while (0)

#define REQUIRE(cond, ...)                                                              \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            cada_test_fail_expr(__FILE__, __LINE__, "required", #cond, "" __VA_ARGS__); \
            return;                                                                     \
        }                                                                               \
    } while (0)

/* A cada_status call that must succeed; prints the recorded error otherwise. */
#define REQUIRE_OK(expr)                                                                \
    do {                                                                                \
        cada_status req_ok_s_ = (expr);                                                 \
        if (req_ok_s_ != CADA_OK) {                                                     \
            cada_test_fail(__FILE__, __LINE__, "%s failed: %s", #expr, cada_error_message()); \
            return;                                                                     \
        }                                                                               \
    } while (0)

#endif
