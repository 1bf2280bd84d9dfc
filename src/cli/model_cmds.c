/* cli/model_cmds.c: `cada inspect`, `cada convert`, `cada forward`. */
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"

#include "base/log.h"
#include "io/gguf.h"
#include "io/safetensors.h"
#include "model/load.h"
#include "tok/export.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cada_cli_fail(const char *cmd) {
    fprintf(stderr, "cada %s: %s\n", cmd, cada_error_message());
    return 1;
}

int cada_cli_usage_error(const char *cmd, const char *usage, const char *what, const char *arg) {
    fprintf(stderr, "cada %s: %s%s%s\n\n%s", cmd, what, arg ? " " : "", arg ? arg : "", usage);
    return 2;
}

const char *cada_cli_default_model(void) {
    static char path[1024];
    const char *env = getenv("CADA_MODEL");
    if (env && *env) return env;
    const char *cache = getenv("CADA_CACHE");
    snprintf(path, sizeof path, "%s/models/SmolLM2-135M-Instruct.Q4_1.gguf", cache && *cache ? cache : ".cache");
    return path;
}

static void print_config(const cada_model_config *c) {
    printf("architecture        %s\n", cada_arch_name(c->arch));
    printf("vocab_size          %d\n", c->vocab_size);
    printf("hidden_size         %d\n", c->hidden_size);
    printf("intermediate_size   %d\n", c->intermediate_size);
    printf("num_hidden_layers   %d\n", c->n_layers);
    printf("num_attention_heads %d\n", c->n_heads);
    printf("num_key_value_heads %d\n", c->n_kv_heads);
    printf("head_dim            %d\n", c->head_dim);
    printf("rms_norm_eps        %g\n", (double)c->rms_eps);
    printf("rope_theta          %g\n", (double)c->rope_theta);
    printf("rope_scaling        %s", cada_rope_type_name(c->rope_type));
    if (c->rope_type == CADA_ROPE_LLAMA3)
        printf(" (factor %g, low_freq_factor %g, high_freq_factor %g, original_max_position_embeddings %d)",
               (double)c->rope_factor, (double)c->rope_low_freq_factor, (double)c->rope_high_freq_factor,
               c->rope_original_max_pos);
    else if (c->rope_type == CADA_ROPE_LINEAR)
        printf(" (factor %g)", (double)c->rope_factor);
    printf("\n");
    printf("max_position        %d\n", c->max_position_embeddings);
    printf("tied_embeddings     %s\n", c->tie_embeddings ? "yes" : "no");
    printf("qkv_bias            %s\n", c->qkv_bias ? "yes" : "no");
    printf("bos / eos token     %d / %d\n", c->bos_token_id, c->eos_token_id);
    long long n = cada_config_param_count(c);
    printf("parameters          %lld (%.1f M)\n", n, (double)n / 1e6);
    printf("fp32 / bf16 weights %.1f MiB / %.1f MiB\n", (double)n * 4 / (1 << 20), (double)n * 2 / (1 << 20));
    printf("kv cache per token  %lld bytes bf16, %lld bytes fp32\n", cada_config_kv_bytes_per_token(c, 2),
           cada_config_kv_bytes_per_token(c, 4));
}

static int inspect_gguf(const char *path) {
    cada_gguf g;
    if (cada_gguf_open(&g, path) != CADA_OK) return cada_cli_fail("inspect");
    cada_model_config cfg;
    if (cada_config_from_gguf(&cfg, &g) != CADA_OK) {
        cada_gguf_close(&g);
        return cada_cli_fail("inspect");
    }
    char *name = NULL;
    if (cada_gguf_find(&g, "general.name") && cada_gguf_get_string(&g, "general.name", &name) == CADA_OK) {
        printf("name                %s\n", name);
        free(name);
    }
    printf("file                %s (GGUF v%u, %llu tensors, %llu metadata keys, %.1f MiB)\n", path, g.version,
           (unsigned long long)g.n_tensors, (unsigned long long)g.n_kv, (double)g.size / (1 << 20));
    print_config(&cfg);
    /* stored types: count and bytes per ggml type */
    uint64_t count[64] = {0}, bytes[64] = {0};
    for (uint64_t i = 0; i < g.n_tensors; i++) {
        uint32_t t = g.tensors[i].ggml_type < 64 ? g.tensors[i].ggml_type : 63;
        count[t]++;
        bytes[t] += g.tensors[i].nbytes;
    }
    printf("stored dtypes      ");
    for (int t = 0; t < 64; t++)
        if (count[t]) printf(" %s: %llu tensors %.1f MiB;", cada_ggml_type_name((uint32_t)t), (unsigned long long)count[t],
                             (double)bytes[t] / (1 << 20));
    printf("\n");
    const cada_gguf_kv *tok = cada_gguf_find(&g, "tokenizer.ggml.tokens");
    char *tmodel = NULL;
    if (cada_gguf_find(&g, "tokenizer.ggml.model")) cada_gguf_get_string(&g, "tokenizer.ggml.model", &tmodel);
    printf("tokenizer           %s%s%s (%llu tokens)\n", tok ? "embedded, model " : "none",
           tmodel ? tmodel : "", "", tok ? (unsigned long long)tok->arr_len : 0ULL);
    free(tmodel);
    cada_gguf_close(&g);
    return 0;
}

static int inspect_hf(const char *path) {
    cada_model_config cfg;
    if (cada_model_load_config(path, &cfg) != CADA_OK) return cada_cli_fail("inspect");
    printf("folder              %s\n", path);
    printf("published dtype     %s\n", cfg.dtype);
    print_config(&cfg);
    cada_safetensors st;
    char dir[1024];
    cada_model_hf_folder(path, dir, sizeof dir);
    if (cada_safetensors_open(&st, dir) != CADA_OK) return cada_cli_fail("inspect");
    size_t bytes[CADA_DTYPE_COUNT] = {0};
    int count[CADA_DTYPE_COUNT] = {0};
    for (int i = 0; i < st.n_tensors; i++) {
        bytes[st.tensors[i].dtype] += st.tensors[i].nbytes;
        count[st.tensors[i].dtype]++;
    }
    printf("stored dtypes      ");
    for (int t = 0; t < CADA_DTYPE_COUNT; t++)
        if (count[t]) printf(" %s: %d tensors %.1f MiB;", cada_dtype_name((cada_dtype)t), count[t], (double)bytes[t] / (1 << 20));
    printf("\nshards              %d\n", st.n_shards);
    cada_safetensors_close(&st);
    return 0;
}

int cada_cmd_inspect(int argc, char **argv) {
    if (argc != 1) {
        fprintf(stderr, "usage: cada inspect PATH   (a .gguf file, or a Hugging Face folder / config.json)\n");
        return 2;
    }
    cada_source_kind kind;
    if (cada_model_source_kind(argv[0], &kind) != CADA_OK) return cada_cli_fail("inspect");
    return kind == CADA_SOURCE_GGUF ? inspect_gguf(argv[0]) : inspect_hf(argv[0]);
}

int cada_cmd_convert(int argc, char **argv) {
    const char *dtype_name = "F32";
    const char *pos[2] = {NULL, NULL};
    int npos = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--dtype") && i + 1 < argc) dtype_name = argv[++i];
        else if (npos < 2 && argv[i][0] != '-') pos[npos++] = argv[i];
        else npos = 3;
    }
    int dtype = cada_dtype_from_name(dtype_name);
    if (npos != 2 || (dtype != CADA_DTYPE_F32 && dtype != CADA_DTYPE_F16 && dtype != CADA_DTYPE_BF16)) {
        fprintf(stderr, "usage: cada convert IN OUT_DIR [--dtype F32|BF16|F16]\n"
                        "  IN: a GGUF file or a Hugging Face folder; OUT_DIR gets config.json + model.safetensors\n");
        return 2;
    }
    double t0 = cada_now();
    cada_model m;
    if (cada_model_load(&m, pos[0]) != CADA_OK) return cada_cli_fail("convert");
    double t1 = cada_now();
    if (cada_model_save_hf(&m, pos[1], (cada_dtype)dtype) != CADA_OK) {
        cada_model_free(&m);
        return cada_cli_fail("convert");
    }
    printf("converted %s -> %s/{config.json,model.safetensors} (%s, %.1f M parameters; load %.2fs, write %.2fs)\n", pos[0],
           pos[1], cada_dtype_name((cada_dtype)dtype), (double)cada_config_param_count(&m.cfg) / 1e6, t1 - t0, cada_now() - t1);
    int rc = 0;
    cada_source_kind kind;
    if (cada_model_source_kind(pos[0], &kind) == CADA_OK && kind == CADA_SOURCE_GGUF) {
        cada_status st = cada_tok_export_gguf(pos[0], pos[1]);
        if (st == CADA_OK) {
            printf("tokenizer: %s/{tokenizer.json,tokenizer_config.json} from the GGUF vocabulary\n", pos[1]);
        } else if (st == CADA_ERR_UNSUPPORTED) {
            printf("tokenizer: not written: %s\n", cada_error_message());
        } else {
            rc = cada_cli_fail("convert");
        }
    } else {
        printf("tokenizer: not copied (bring the source folder's tokenizer files)\n");
    }
    cada_model_free(&m);
    return rc;
}

/* `cada forward --ids 1,2,3`: per-token log-probabilities of a token sequence, one
 * document, as a quick look at what the model computes. */
int cada_cmd_forward(int argc, char **argv) {
    const char *model_path = cada_cli_default_model();
    const char *ids = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc) model_path = argv[++i];
        else if (!strcmp(argv[i], "--ids") && i + 1 < argc) ids = argv[++i];
        else {
            fprintf(stderr, "usage: cada forward [--model PATH] --ids ID,ID,...\n");
            return 2;
        }
    }
    if (!ids) {
        fprintf(stderr, "usage: cada forward [--model PATH] --ids ID,ID,...\n");
        return 2;
    }
    int n = 1;
    for (const char *p = ids; *p; p++) n += *p == ',';
    int *tokens = calloc((size_t)n, sizeof(int)), *positions = calloc((size_t)n, sizeof(int)),
        *targets = calloc((size_t)n, sizeof(int));
    if (!tokens || !positions || !targets) {
        free(tokens); free(positions); free(targets);
        fprintf(stderr, "cada forward: out of memory\n");
        return 1;
    }
    const char *p = ids;
    for (int i = 0; i < n; i++) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || (*end && *end != ',')) {
            fprintf(stderr, "cada forward: --ids: '%s' is not a comma-separated list of integers\n", ids);
            free(tokens); free(positions); free(targets);
            return 2;
        }
        tokens[i] = (int)v;
        positions[i] = i;
        p = *end ? end + 1 : end;
    }
    for (int i = 0; i < n; i++) targets[i] = i + 1 < n ? tokens[i + 1] : -1;
    int rc = 0;
    cada_model m;
    double t0 = cada_now();
    if (cada_model_load(&m, model_path) != CADA_OK) {
        rc = cada_cli_fail("forward");
    } else {
        double t1 = cada_now();
        cada_batch b = {1, n, tokens, positions, targets};
        if (cada_model_forward(&m, &b) != CADA_OK) {
            rc = cada_cli_fail("forward");
        } else {
            printf("model %s (loaded in %.2fs, forward %.3fs)\n", model_path, t1 - t0, cada_now() - t1);
            printf("%6s %8s %8s %12s %12s\n", "pos", "token", "next", "logprob", "argmax");
            for (int i = 0; i < n; i++) {
                const float *l = m.act.logits + (size_t)i * m.cfg.vocab_size;
                int best = 0;
                for (int v = 1; v < m.cfg.vocab_size; v++) best = l[v] > l[best] ? v : best;
                printf("%6d %8d %8d %12.4f %12d\n", i, tokens[i], targets[i], (double)m.act.logprob[i], best);
            }
            printf("mean cross-entropy %.4f over %d tokens\n", (double)m.loss, m.n_valid);
        }
        cada_model_free(&m);
    }
    free(tokens);
    free(positions);
    free(targets);
    return rc;
}
