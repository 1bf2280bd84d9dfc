/* tests/fuzz/fuzz_safetensors.c: libFuzzer target for the safetensors reader
 * (io/safetensors.h): header length, JSON header, dtypes, shapes, offsets, and the
 * conversion of every (small) tensor to f32. Anything must be refused or read within
 * the file's bytes. */
#include "fuzz_file.h"
#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[600];
    fuzz_file("model.safetensors", data, size, path, sizeof path);
    cada_safetensors st;
    if (cada_safetensors_open(&st, path) == CADA_OK) {
        for (int i = 0; i < st.n_tensors; i++) {
            const cada_st_tensor *t = &st.tensors[i];
            if (t->numel > (1 << 20)) continue;
            float *out = malloc(sizeof(float) * (size_t)(t->numel ? t->numel : 1));
            if (!out) abort();
            cada_st_tensor_to_f32(&st, t, out, t->numel);
            free(out);
            cada_safetensors_find(&st, t->name);
        }
        cada_safetensors_close(&st);
    }
    unlink(path);
    return 0;
}
