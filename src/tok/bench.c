/* tok/bench.c: single-thread encode throughput (cada_tok_bench, see tokenizer.h).
 * The peer number comes from tests/peers/bench_tokenizers.py on the same text. */
#include "tok/tokenizer.h"

#include "base/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cada_status cada_tok_bench(const char *tokenizer_path, const char *text_path) {
    FILE *f;
    CADA_FOPEN_TRY(f, text_path, "rb");
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 65536 > cap) {
            cap = cap ? 2 * cap : 1 << 20;
            char *p = realloc(text, cap);
            if (!p) {
                free(text);
                fclose(f);
                return CADA_ERR(CADA_ERR_NOMEM, "%s: %zu bytes", text_path, cap);
            }
            text = p;
        }
        size_t got = fread(text + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    int read_error = ferror(f);
    fclose(f);
    if (read_error) {
        free(text);
        return CADA_ERR(CADA_ERR_IO, "%s: read error", text_path);
    }

    cada_tokenizer *t;
    double t0 = cada_now();
    cada_status s = cada_tok_load(&t, tokenizer_path, 0);
    if (s != CADA_OK) {
        free(text);
        return s;
    }
    double load_s = cada_now() - t0;
    cada_tok_ids ids = {0};
    s = cada_tok_encode(t, text, len, 0, &ids); /* warm-up: fills the word cache */
    size_t reps = 0;
    double elapsed = 0;
    t0 = cada_now();
    while (s == CADA_OK && (elapsed < 2.0 || reps < 3)) {
        ids.n = 0;
        s = cada_tok_encode(t, text, len, 0, &ids);
        reps++;
        elapsed = cada_now() - t0;
    }
    if (s == CADA_OK)
        printf("tok bench: %s: %zu bytes -> %zu tokens, %.2f MB/s (one thread, whole text per call, %zu calls; "
               "load %.2f s)\n",
               tokenizer_path, len, ids.n, (double)len * (double)reps / elapsed / 1e6, reps, load_s);
    cada_tok_ids_free(&ids);
    cada_tok_free(t);
    free(text);
    return s;
}
