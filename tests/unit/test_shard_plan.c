/* tests/unit/test_shard_plan.c: io/shard_plan.h (groups contiguous, none empty, balanced
 * by bytes; Hugging Face file names) and model/load.h's sharded writer (W learners'
 * files + the index load back as the same model, bit for bit). */
#include "base/fs.h"
#include "io/safetensors.h"
#include "io/shard_plan.h"
#include "model/load.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Contiguous, starting at 0, each group one more than the last, none empty. */
static int plan_ok(const int *g, int n, int S) {
    if (n == 0) return S == 1;
    if (g[0] != 0 || g[n - 1] != S - 1) return 0;
    for (int i = 1; i < n; i++)
        if (g[i] != g[i - 1] && g[i] != g[i - 1] + 1) return 0;
    return 1;
}

TEST(shard_plan_groups) {
    int g[64], S;
    /* equal sizes: equal counts */
    uint64_t eq[8] = {4, 4, 4, 4, 4, 4, 4, 4};
    REQUIRE_OK(cada_shard_plan(eq, 8, 4, g, &S));
    EXPECT(S == 4 && plan_ok(g, 8, 4) && g[1] == 0 && g[2] == 1 && g[7] == 3, "8 equal tensors over 4: 2 each");
    /* one writer: everything in group 0 */
    REQUIRE_OK(cada_shard_plan(eq, 8, 1, g, &S));
    EXPECT(S == 1 && g[7] == 0, "one writer, one group");
    /* more writers than tensors: one tensor a group, the rest write nothing */
    REQUIRE_OK(cada_shard_plan(eq, 3, 5, g, &S));
    EXPECT(S == 3 && g[0] == 0 && g[1] == 1 && g[2] == 2, "3 tensors over 5 writers: 3 groups");
    /* a huge first tensor (an embedding) must not leave a group empty */
    uint64_t big[6] = {1000, 1, 1, 1, 1, 1};
    REQUIRE_OK(cada_shard_plan(big, 6, 4, g, &S));
    EXPECT(S == 4 && plan_ok(g, 6, 4) && g[1] == 1, "embedding alone, then the small ones share 3 groups");
    /* balanced by bytes: a big tensor in the middle takes a group of its own */
    uint64_t mid[5] = {10, 10, 40, 10, 10};
    REQUIRE_OK(cada_shard_plan(mid, 5, 3, g, &S));
    EXPECT(S == 3 && g[0] == 0 && g[1] == 0 && g[2] == 1 && g[3] == 2 && g[4] == 2, "10 10 | 40 | 10 10 (got %d %d %d %d %d)",
           g[0], g[1], g[2], g[3], g[4]);
    /* zero-sized tensors only: by count */
    uint64_t zero[4] = {0, 0, 0, 0};
    REQUIRE_OK(cada_shard_plan(zero, 4, 2, g, &S));
    EXPECT(S == 2 && plan_ok(g, 4, 2), "zero bytes: split by count");
    /* every size pattern and writer count keeps the invariants, and no group is more
     * than total / S + its largest tensor */
    uint64_t sz[64];
    uint64_t state = 7;
    for (int trial = 0; trial < 200; trial++) {
        int n = 1 + trial % 40, W = 1 + trial % 13;
        uint64_t total = 0, largest = 0;
        for (int i = 0; i < n; i++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            sz[i] = (state >> 33) % (trial % 3 ? 1000 : 100000) + 1;
            total += sz[i];
            largest = sz[i] > largest ? sz[i] : largest;
        }
        REQUIRE_OK(cada_shard_plan(sz, n, W, g, &S));
        REQUIRE(S == (n < W ? n : W) && plan_ok(g, n, S), "trial %d: n %d W %d: groups not contiguous", trial, n, W);
        for (int k = 0; k < S; k++) {
            uint64_t b = 0;
            for (int i = 0; i < n; i++) b += g[i] == k ? sz[i] : 0;
            EXPECT(b <= total / S + largest, "trial %d: group %d holds %llu of %llu bytes", trial, k, (unsigned long long)b,
                   (unsigned long long)total);
        }
    }
    EXPECT(cada_shard_plan(eq, 8, 0, g, &S) != CADA_OK, "zero writers refused");
    char name[64];
    cada_shard_file_name(0, 1, name, sizeof name);
    EXPECT(!strcmp(name, "model.safetensors"), "one group: %s", name);
    cada_shard_file_name(2, 12, name, sizeof name);
    EXPECT(!strcmp(name, "model-00003-of-00012.safetensors"), "Hugging Face shard name: %s", name);
}

/* Three writers each write their file; with the index the folder loads as the model. */
TEST(shard_plan_model_roundtrip) {
    cada_model_config cfg;
    memset(&cfg, 0, sizeof cfg);
    REQUIRE_OK(cada_config_from_json(&cfg,
                                     "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 16, \"intermediate_size\": 32,"
                                     " \"num_hidden_layers\": 2, \"num_attention_heads\": 2, \"num_key_value_heads\": 1,"
                                     " \"vocab_size\": 50, \"rms_norm_eps\": 1e-5, \"rope_theta\": 10000.0,"
                                     " \"max_position_embeddings\": 64, \"tie_word_embeddings\": false}",
                                     "cfg.json"));
    cada_model m, back;
    REQUIRE_OK(cada_model_init(&m, &cfg));
    for (size_t i = 0; i < m.n_params; i++) m.params[i] = (float)((i * 2654435761u) % 1000) / 997.0f - 0.5f;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/sharded", cada_test_tmpdir());
    REQUIRE_OK(cada_model_save_config(&m.cfg, dir, CADA_DTYPE_F32));
    REQUIRE_OK(cada_model_save_index(&m.cfg, dir, 3, CADA_DTYPE_F32));
    for (int r = 2; r >= 0; r--) REQUIRE_OK(cada_model_save_shard(&m, dir, r, 3, CADA_DTYPE_F32));
    char path[700];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    EXPECT(access(path, F_OK) != 0, "three writers write no model.safetensors");
    snprintf(path, sizeof path, "%s/model-00003-of-00003.safetensors", dir);
    EXPECT(access(path, F_OK) == 0, "%s written", path);
    cada_safetensors st;
    REQUIRE_OK(cada_safetensors_open(&st, dir));
    EXPECT(st.n_shards == 3 && st.n_tensors == cada_model_tensor_views(&cfg, NULL, NULL), "3 shards, every tensor once");
    cada_safetensors_close(&st);
    REQUIRE_OK(cada_model_load(&back, dir));
    EXPECT(back.n_params == m.n_params && !memcmp(back.params, m.params, sizeof(float) * m.n_params),
           "the sharded fp32 folder loads bit for bit");
    cada_model_free(&back);
    /* a writer past the tensor count writes nothing */
    int n = cada_model_tensor_views(&cfg, NULL, NULL);
    snprintf(dir, sizeof dir, "%s/sharded_many", cada_test_tmpdir());
    REQUIRE_OK(cada_mkdir_p(dir));
    REQUIRE_OK(cada_model_save_shard(&m, dir, n + 1, n + 2, CADA_DTYPE_F32));
    snprintf(path, sizeof path, "%s/model-%05d-of-%05d.safetensors", dir, n + 2, n + 2);
    EXPECT(access(path, F_OK) != 0, "no empty shard file");
    cada_model_free(&m);
}
