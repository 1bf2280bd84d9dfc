/* tests/fuzz/fuzz_gguf.c: libFuzzer target for the GGUF reader (io/gguf.h) and what
 * reads a GGUF after it: the model configuration (model/config.h), the tokenizer
 * (tok/tokenizer.h) and the dequantisation of every (small) tensor. */
#include "fuzz_file.h"
#include "io/gguf.h"
#include "model/config.h"
#include "tok/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[600];
    fuzz_file("model.gguf", data, size, path, sizeof path);
    cada_gguf g;
    if (cada_gguf_open(&g, path) == CADA_OK) {
        for (uint64_t i = 0; i < g.n_tensors; i++) {
            const cada_gguf_tensor *t = &g.tensors[i];
            if (t->numel > (1 << 20)) continue;
            float *out = malloc(sizeof(float) * (size_t)(t->numel ? t->numel : 1));
            if (!out) abort();
            cada_gguf_tensor_to_f32(&g, t, out, t->numel);
            free(out);
        }
        cada_model_config cfg;
        if (cada_config_from_gguf(&cfg, &g) == CADA_OK) cada_config_validate(&cfg, path);
        char *s = NULL;
        if (cada_gguf_get_string(&g, "general.architecture", &s) == CADA_OK) free(s);
        cada_gguf_close(&g);
    }
    cada_tokenizer *tok = NULL;
    if (cada_tok_load_gguf(&tok, path, 0) == CADA_OK) {
        cada_tok_ids ids = {0};
        cada_tok_encode(tok, "Hello, world!", 13, 0, &ids);
        cada_tok_ids_free(&ids);
        cada_tok_free(tok);
    }
    unlink(path);
    return 0;
}
