/* tests/fuzz/fuzz_dataset.c: libFuzzer target for the prompt-set loaders
 * (cada/dataset.h: JSONL, CSV and the named CSV layouts) and the CSV reader
 * (cada/csv.h). The first byte picks the format; the rest is the file. */
#include "cada/csv.h"
#include "cada/dataset.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    static const struct {
        cada_set_format format;
        const char *name;
    } kinds[] = {{CADA_SET_JSONL, "set.jsonl"}, {CADA_SET_CSV, "set.csv"},   {CADA_SET_XSTEST, "xstest.csv"},
                 {CADA_SET_HARMBENCH, "hb.csv"}, {CADA_SET_ADVBENCH, "adv.csv"}, {CADA_SET_LINES, "set.txt"},
                 {CADA_SET_AUTO, "set.jsonl"}};
    int k = data[0] % 7;
    char path[600];
    fuzz_file(kinds[k].name, data + 1, size - 1, path, sizeof path);
    cada_set_options o;
    cada_set_options_default(&o);
    o.format = kinds[k].format;
    o.on_error = data[0] & 0x80 ? CADA_ON_ERROR_SKIP : CADA_ON_ERROR_STOP;
    cada_prompt_set set;
    memset(&set, 0, sizeof set);
    if (cada_set_load(&set, path, &o) == CADA_OK) cada_set_free(&set);
    unlink(path);
    cada_csv c;
    cada_csv_init(&c, "fuzz.csv", (const char *)data + 1, size - 1);
    cada_csv_row row;
    memset(&row, 0, sizeof row); /* reused from row to row, as the loaders do */
    for (int rows = 0; rows < 100000; rows++) {
        int eof = 0;
        if (cada_csv_next(&c, &row, &eof) != CADA_OK || eof) break;
        cada_csv_column(&row, "prompt");
    }
    cada_csv_row_free(&row);
    return 0;
}
