/* tests/fuzz/fuzz_model_config.c: libFuzzer target for a model's config.json
 * (model/config.h), parsed and validated. */
#include "fuzz_file.h"
#include "model/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = fuzz_text(data, size);
    cada_model_config cfg;
    if (cada_config_from_json(&cfg, text, "config.json") == CADA_OK) cada_config_validate(&cfg, "config.json");
    free(text);
    return 0;
}
