/* tests/fuzz/fuzz_run_config.c: libFuzzer target for the INI run configuration
 * (sched/config.h, base/kv.h): the file through cada_config_load and its checks, and
 * each line as a --set assignment. */
#include "base/kv.h"
#include "fuzz_file.h"
#include "sched/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[600];
    fuzz_file("run.ini", data, size, path, sizeof path);
    static cada_run_config c; /* large: not on the stack */
    cada_config_defaults(&c);
    if (cada_config_load(&c, path) == CADA_OK) cada_config_validate_run(&c);
    unlink(path);
    char *text = fuzz_text(data, size);
    cada_config_defaults(&c);
    for (char *line = text, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        cada_config_set(&c, line);
        char key[128];
        const char *k, *v;
        cada_kv_split(line, "run", key, sizeof key, &k, &v);
    }
    free(text);
    return 0;
}
