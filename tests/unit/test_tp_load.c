/* tests/unit/test_tp_load.c: a tensor-parallel rank's part read straight from the file
 * (cada_model_load_part, model/load.h) against the whole model loaded and cut
 * (cada_tp_copy, model/tp_slice.h), which tests/mpi/mpi_tp_test.c checks against the
 * whole model's passes. The two must agree bit for bit (memcmp): both only copy or
 * convert each element once, the same conversion of the same stored value.
 *
 * Sources: synthetic Llama (tied) and Qwen2 (QKV bias, untied LM head) models written as
 * one F32 file, one BF16 file and an F32 checkpoint in 3 shards with its index (slices
 * then come from several files); P = 2 and 4, every rank. The real SmolLM2-135M GGUF
 * (Q4_1, llama.cpp's q/k row permutation undone) at P = 3, every rank. Errors: a P that
 * does not divide the heads names the field; a block outside a tensor names the tensor. */
#include "test.h"

#include "base/error.h"
#include "base/rng.h"
#include "io/safetensors.h"
#include "learn/synth.h"
#include "model/load.h"
#include "model/tp_slice.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* rank's part cut from whole, as the trainer did before parts were read from files */
static cada_status cut(const cada_model *whole, int rank, int P, cada_model *part) {
    cada_model_config lc;
    CADA_TRY(cada_tp_local_config(&whole->cfg, P, &lc));
    CADA_TRY(cada_model_init(part, &lc));
    cada_tp_copy(&whole->cfg, &whole->p, &part->p, rank, P, CADA_TP_SCATTER);
    return CADA_OK;
}

/* every rank's part of the model at path, read as a part, equals the cut whole */
static void expect_parts_match(const char *path, int P, const char *what) {
    cada_model whole;
    REQUIRE_OK(cada_model_load(&whole, path));
    for (int r = 0; r < P; r++) {
        cada_model want, got;
        REQUIRE_OK(cut(&whole, r, P, &want));
        cada_status st = cada_model_load_part(&got, path, r, P);
        if (st != CADA_OK) {
            cada_test_fail(__FILE__, __LINE__, "%s: load_part rank %d of %d: %s", what, r, P, cada_error_message());
            cada_model_free(&want);
            break;
        }
        EXPECT(!memcmp(&got.cfg, &want.cfg, sizeof got.cfg), "%s: rank %d of %d: configuration", what, r, P);
        EXPECT(got.n_params == want.n_params, "%s: rank %d of %d: %zu parameters, want %zu", what, r, P, got.n_params,
               want.n_params);
        size_t first = got.n_params;
        for (size_t i = 0; i < got.n_params && i < want.n_params; i++)
            if (memcmp(&got.params[i], &want.params[i], sizeof(float))) {
                first = i;
                break;
            }
        EXPECT(first == got.n_params, "%s: rank %d of %d: parameter %zu is %g, the cut whole model has %g", what, r, P, first,
               first < got.n_params ? (double)got.params[first] : 0.0, first < got.n_params ? (double)want.params[first] : 0.0);
        EXPECT(got.tp == NULL && !strcmp(got.source, path));
        cada_model_free(&want);
        cada_model_free(&got);
    }
    cada_model_free(&whole);
}

static void synthetic(cada_model *m, int qwen) {
    cada_model_config cfg;
    cada_synth_config_tp(&cfg, qwen);
    if (cada_synth_model(m, &cfg, 91, 0.1f) != CADA_OK) return;
    cada_rng r; /* distinct values everywhere, biases and norms included, so a misplaced block shows */
    cada_rng_init(&r, 7, 0, 0, 0);
    for (size_t i = 0; i < m->n_params; i++) m->params[i] = 0.1f * cada_rng_normal(&r);
}

TEST(tp_load_part_matches_cut_safetensors) {
    for (int qwen = 0; qwen < 2; qwen++) {
        cada_model m;
        memset(&m, 0, sizeof m);
        synthetic(&m, qwen);
        REQUIRE(m.params);
        char one[1024], half[1024], shards[1024], what[128];
        snprintf(one, sizeof one, "%s/tp_load_%d_f32", cada_test_tmpdir(), qwen);
        snprintf(half, sizeof half, "%s/tp_load_%d_bf16", cada_test_tmpdir(), qwen);
        snprintf(shards, sizeof shards, "%s/tp_load_%d_shards", cada_test_tmpdir(), qwen);
        cada_status st = cada_model_save_hf(&m, one, CADA_DTYPE_F32);
        if (st == CADA_OK) st = cada_model_save_hf(&m, half, CADA_DTYPE_BF16);
        if (st == CADA_OK) st = cada_model_save_config(&m.cfg, shards, CADA_DTYPE_F32);
        for (int w = 0; w < 3 && st == CADA_OK; w++) st = cada_model_save_shard(&m, shards, w, 3, CADA_DTYPE_F32);
        if (st == CADA_OK) st = cada_model_save_index(&m.cfg, shards, 3, CADA_DTYPE_F32);
        cada_model_free(&m);
        REQUIRE_OK(st);
        for (int P = 2; P <= 4; P += 2) {
            snprintf(what, sizeof what, "%s F32", qwen ? "qwen2" : "llama");
            expect_parts_match(one, P, what);
            snprintf(what, sizeof what, "%s BF16", qwen ? "qwen2" : "llama");
            expect_parts_match(half, P, what);
            snprintf(what, sizeof what, "%s F32 in 3 shards", qwen ? "qwen2" : "llama");
            expect_parts_match(shards, P, what);
        }
    }
}

TEST(tp_load_part_matches_cut_gguf) {
    expect_parts_match(cada_test_smollm2_path(), 3, "SmolLM2-135M Q4_1 GGUF");
}

TEST(tp_load_part_errors_name_the_field) {
    cada_model m;
    EXPECT(cada_model_load_part(&m, cada_test_smollm2_path(), 0, 2) != CADA_OK); /* 9 heads */
    EXPECT(strstr(cada_error_message(), "num_attention_heads"), "got: %s", cada_error_message());
    EXPECT(m.params == NULL);
    EXPECT(cada_model_load_part(&m, cada_test_smollm2_path(), 3, 3) != CADA_OK);
    EXPECT(strstr(cada_error_message(), "part 3 of 3"), "got: %s", cada_error_message());

    cada_model s;
    memset(&s, 0, sizeof s);
    synthetic(&s, 0);
    REQUIRE(s.params);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tp_load_block", cada_test_tmpdir());
    cada_status st = cada_model_save_hf(&s, dir, CADA_DTYPE_F32);
    cada_model_free(&s);
    REQUIRE_OK(st);
    cada_safetensors f;
    REQUIRE_OK(cada_safetensors_open(&f, dir));
    const cada_st_tensor *t = cada_safetensors_find(&f, "model.layers.0.self_attn.o_proj.weight"); /* (64, 64) */
    float out[64 * 8];
    EXPECT(t && cada_st_tensor_block_to_f32(&f, t, 60, 8, 0, 8, out) != CADA_OK);
    EXPECT(strstr(cada_error_message(), "o_proj") && strstr(cada_error_message(), "outside"), "got: %s", cada_error_message());
    EXPECT(t && cada_st_tensor_block_to_f32(&f, t, 0, 8, 60, 8, out) != CADA_OK);
    EXPECT(t && cada_st_tensor_block_to_f32(&f, t, 56, 8, 56, 8, out) == CADA_OK);
    cada_safetensors_close(&f);
}
