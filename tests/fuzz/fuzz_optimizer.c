/* tests/fuzz/fuzz_optimizer.c: libFuzzer target for an optimizer shard file
 * (learn/learner.h cada_learner_load_optimizer: magic, version, layout fields, sizes)
 * loaded into the learner of a tiny model (vocabulary 16, width 8, one layer).
 * FUZZ_WRITE_SEED=PATH writes that learner's valid shard to PATH (the seed corpus). */
#include "comm/comm.h"
#include "fuzz_file.h"
#include "learn/learner.h"
#include "model/config.h"
#include "model/model.h"

static cada_model model;
static cada_learner *learner;

static void setup(void) {
    static const char cfg_json[] = "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", \"vocab_size\": 16,"
                                   " \"hidden_size\": 8, \"intermediate_size\": 16, \"num_hidden_layers\": 1,"
                                   " \"num_attention_heads\": 2, \"num_key_value_heads\": 1, \"head_dim\": 4,"
                                   " \"rms_norm_eps\": 1e-5, \"tie_word_embeddings\": true}";
    cada_model_config cfg;
    cada_comm_options co;
    cada_comm *comm = NULL;
    cada_learner_config lc;
    cada_comm_options_default(&co);
    cada_learner_config_default(&lc, CADA_ALGO_REINFORCE);
    if (cada_config_from_json(&cfg, cfg_json, "fuzz config") != CADA_OK || cada_model_init(&model, &cfg) != CADA_OK ||
        cada_comm_init_self(&comm, &co) != CADA_OK || cada_learner_init(&learner, &model, comm, &lc) != CADA_OK) {
        fprintf(stderr, "fuzz_optimizer: setup: %s\n", cada_error_message());
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!learner) {
        setup();
        const char *seed = getenv("FUZZ_WRITE_SEED");
        if (seed && cada_learner_save_optimizer(learner, seed) != CADA_OK) abort();
    }
    char path[600];
    fuzz_file("optimizer-rank-0.bin", data, size, path, sizeof path);
    cada_learner_load_optimizer(learner, path);
    unlink(path);
    return 0;
}
