/* tests/fuzz/fuzz_run_state.c: libFuzzer target for a checkpoint's run_state.json
 * (sched/run_state.h) and manifest.json (sched/manifest.h). The first byte picks which. */
#include "fuzz_file.h"
#include "sched/manifest.h"
#include "sched/run_state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    char path[600], dir[512];
    if (data[0] & 1) {
        fuzz_file("run_state.json", data + 1, size - 1, path, sizeof path);
        cada_run_state rs;
        cada_run_state_read(fuzz_dir(dir, sizeof dir), &rs);
    } else {
        fuzz_file("manifest.json", data + 1, size - 1, path, sizeof path);
        cada_manifest m;
        int found = 0;
        if (cada_manifest_read(fuzz_dir(dir, sizeof dir), &m, &found) == CADA_OK) {
            cada_manifest_check_files(dir, &m);
            cada_manifest_free(&m);
        }
    }
    unlink(path);
    return 0;
}
