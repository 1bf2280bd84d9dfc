/* tests/fuzz/fuzz_tokenizer.c: libFuzzer target for the tokenizer.json loader
 * (tok/tokenizer.h: model, merges, added tokens, pre-tokenizer, normalizer), then an
 * encode and a decode with what loaded. */
#include "fuzz_file.h"
#include "tok/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[600];
    fuzz_file("tokenizer.json", data, size, path, sizeof path);
    cada_tokenizer *tok = NULL;
    if (cada_tok_load_hf(&tok, path, NULL) == CADA_OK) {
        static const char text[] = "Hello, world! <|im_start|>user\n caf\xc3\xa9 123  \xf0\x9f\x98\x80<|im_end|>";
        /* the caller owns ids and out whatever the outcome (appended buffers) */
        cada_tok_ids ids = {0};
        cada_tok_bytes out = {0};
        if (cada_tok_encode(tok, text, sizeof text - 1, 0, &ids) == CADA_OK) cada_tok_decode(tok, ids.ids, ids.n, 0, &out);
        cada_tok_ids_free(&ids);
        int32_t some[] = {0, 1, 2, 100, 1000000, -1};
        cada_tok_decode(tok, some, 6, 0, &out);
        cada_tok_bytes_free(&out);
        cada_tok_free(tok);
    }
    unlink(path);
    return 0;
}
