/* tests/unit/runner.c: runs the registered unit tests (see test.h). */
#define _GNU_SOURCE
#include "test.h"

#include "base/error.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_TESTS 1024

typedef struct {
    const char *name;
    const char *file;
    cada_test_fn fn;
} test_entry;

static test_entry tests[MAX_TESTS];
static int n_tests;
static int current_failed;

void cada_test_register(const char *name, const char *file, cada_test_fn fn) {
    if (n_tests == MAX_TESTS) {
        fprintf(stderr, "test runner: more than %d tests; raise MAX_TESTS\n", MAX_TESTS);
        exit(2);
    }
    tests[n_tests++] = (test_entry){name, file, fn};
}

void cada_test_fail(const char *file, int line, const char *fmt, ...) {
    const char *base = strrchr(file, '/');
    fprintf(stderr, "    %s:%d: ", base ? base + 1 : file, line);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    current_failed = 1;
}

void cada_test_fail_expr(const char *file, int line, const char *kind, const char *expr, const char *fmt, ...) {
    const char *base = strrchr(file, '/');
    fprintf(stderr, "    %s:%d: %s %s: ", base ? base + 1 : file, line, kind, expr);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    current_failed = 1;
}

int cada_test_failed(void) { return current_failed; }

static char tmpdir[512];
static void remove_tmpdir(void) {
    if (!tmpdir[0] || getenv("CADA_TEST_KEEP")) return;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "test runner: could not remove %s\n", tmpdir);
}

const char *cada_test_tmpdir(void) {
    if (!tmpdir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(tmpdir, sizeof tmpdir, "%s/cada-test-XXXXXX", base ? base : "/tmp");
        if (!mkdtemp(tmpdir)) {
            perror("mkdtemp");
            exit(2);
        }
        atexit(remove_tmpdir);
    }
    return tmpdir;
}

const char *cada_test_write(const char *name, const char *content) {
    static char path[8][1024];
    static int next;
    char *p = path[next++ % 8];
    snprintf(p, sizeof path[0], "%s/%s", cada_test_tmpdir(), name);
    FILE *f = fopen(p, "wb");
    if (!f || fputs(content, f) < 0) cada_test_fail(__FILE__, __LINE__, "cannot write %s", p);
    if (f) fclose(f);
    return p;
}

const char *cada_test_root(void) {
    static char root[512];
    if (!root[0]) {
        const char *env = getenv("CADA_ROOT");
        if (env) snprintf(root, sizeof root, "%s", env);
        else if (!getcwd(root, sizeof root)) snprintf(root, sizeof root, ".");
    }
    return root;
}

const char *cada_test_smollm2_path(void) {
    static char path[1024];
    if (!path[0]) {
        const char *cache = getenv("CADA_CACHE");
        if (cache) snprintf(path, sizeof path, "%s/models/SmolLM2-135M-Instruct.Q4_1.gguf", cache);
        else snprintf(path, sizeof path, "%s/.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf", cada_test_root());
    }
    return path;
}

static int by_file_then_name(const void *a, const void *b) {
    const test_entry *x = a, *y = b;
    int c = strcmp(x->file, y->file);
    return c ? c : strcmp(x->name, y->name);
}

int main(int argc, char **argv) {
    const char *filter = argc > 1 ? argv[1] : NULL;
    qsort(tests, (size_t)n_tests, sizeof tests[0], by_file_then_name);
    int passed = 0, failed = 0;
    for (int i = 0; i < n_tests; i++) {
        if (filter && !strstr(tests[i].name, filter)) continue;
        current_failed = 0;
        cada_error_clear();
        tests[i].fn();
        fprintf(stderr, "  %-48s %s\n", tests[i].name, current_failed ? "FAIL" : "ok");
        if (current_failed) failed++;
        else passed++;
    }
    fflush(stderr);
    printf("unit: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
