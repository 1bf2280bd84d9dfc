/* tests/unit/test_tok_export.c: the tokenizer files `cada convert` writes from a GGUF
 * encode exactly as the GGUF's own vocabulary does (and, checked by hand with the
 * tokenizers library when this was written, as transformers does). */
#define _POSIX_C_SOURCE 200809L
#include "test.h"

#include "tok/export.h"
#include "tok/tokenizer.h"

#include <stdlib.h>
#include <string.h>

TEST(tok_export_gguf_roundtrip) {
    char dir[600], corpus[600];
    snprintf(dir, sizeof dir, "%s/tok-export", cada_test_tmpdir());
    snprintf(corpus, sizeof corpus, "%s/tests/data/tok_corpus.txt", cada_test_root());
    char cmd[700];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    REQUIRE(system(cmd) == 0);
    REQUIRE_OK(cada_tok_export_gguf(cada_test_smollm2_path(), dir));
    cada_tokenizer *from_gguf = NULL, *from_json = NULL;
    REQUIRE_OK(cada_tok_load(&from_gguf, cada_test_smollm2_path(), 0));
    cada_status st = cada_tok_load(&from_json, dir, 0);
    if (st != CADA_OK) {
        cada_tok_free(from_gguf);
        REQUIRE_OK(st);
    }
    FILE *f = fopen(corpus, "rb");
    REQUIRE(f, "cannot open %s", corpus);
    char line[8192];
    int lines = 0, same = 0;
    while (fgets(line, sizeof line, f)) {
        cada_tok_ids a = {0}, b = {0};
        size_t n = strlen(line);
        if (cada_tok_encode(from_gguf, line, n, 0, &a) == CADA_OK && cada_tok_encode(from_json, line, n, 0, &b) == CADA_OK &&
            a.n == b.n && !memcmp(a.ids, b.ids, sizeof(int32_t) * a.n))
            same++;
        lines++;
        cada_tok_ids_free(&a);
        cada_tok_ids_free(&b);
    }
    fclose(f);
    EXPECT(lines > 100 && same == lines, "%d of %d corpus lines encode the same", same, lines);
    EXPECT(cada_tok_eos_id(from_json) == cada_tok_eos_id(from_gguf) && cada_tok_bos_id(from_json) == cada_tok_bos_id(from_gguf),
           "special tokens survive the export");
    EXPECT(cada_tok_chat_family(from_json) == cada_tok_chat_family(from_gguf), "chat template survives the export");
    cada_tok_free(from_gguf);
    cada_tok_free(from_json);
}
