/* tok/export.c: see export.h. */
#define _POSIX_C_SOURCE 200809L
#include "tok/export.h"

#include "io/gguf.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A NUL-terminated copy of a GGUF string (tokens are not terminated in the file). */
static char *dup_str(cada_gguf_string s) {
    char *out = malloc(s.len + 1);
    if (out) {
        memcpy(out, s.str, s.len);
        out[s.len] = 0;
    }
    return out;
}

static cada_status write_json(const char *dir, const char *name, cJSON *root) {
    char path[1200], tmp[1210];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    char *text = cJSON_Print(root);
    if (!text) return CADA_ERR(CADA_ERR_NOMEM, "%s: cannot render JSON", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        free(text);
        return CADA_ERR(CADA_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    }
    size_t n = strlen(text);
    int ok = fwrite(text, 1, n, f) == n && fputc('\n', f) != EOF;
    ok = fclose(f) == 0 && ok;
    free(text);
    if (!ok || rename(tmp, path) != 0) return CADA_ERR(CADA_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return CADA_OK;
}

static const cada_gguf_kv *string_array(const cada_gguf *g, const char *key) {
    const cada_gguf_kv *kv = cada_gguf_find(g, key);
    return kv && kv->type == CADA_GGUF_ARRAY && kv->arr_type == CADA_GGUF_STRING ? kv : NULL;
}

static int64_t int_at(const cada_gguf_kv *kv, uint64_t i) {
    const unsigned char *p = kv->arr_data;
    switch (kv->arr_type) {
    case CADA_GGUF_INT32: { int32_t v; memcpy(&v, p + 4 * i, 4); return v; }
    case CADA_GGUF_UINT32: { uint32_t v; memcpy(&v, p + 4 * i, 4); return v; }
    case CADA_GGUF_INT8: return (int8_t)p[i];
    case CADA_GGUF_UINT8: return p[i];
    default: return 1; /* normal */
    }
}

/* The token text of an id, or NULL when the key is absent. */
static char *token_text(const cada_gguf *g, const cada_gguf_kv *tokens, const char *key) {
    uint64_t id;
    if (!cada_gguf_find(g, key) || cada_gguf_get_u64(g, key, &id) != CADA_OK || id >= tokens->arr_len) return NULL;
    return dup_str(tokens->arr_strs[id]);
}

static int flag(const cada_gguf *g, const char *key, int fallback) {
    uint64_t v;
    return cada_gguf_find(g, key) && cada_gguf_get_u64(g, key, &v) == CADA_OK ? (int)(v != 0) : fallback;
}

static cJSON *byte_level(int use_regex) {
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "type", "ByteLevel");
    cJSON_AddBoolToObject(b, "add_prefix_space", 0);
    cJSON_AddBoolToObject(b, "trim_offsets", 1);
    cJSON_AddBoolToObject(b, "use_regex", use_regex);
    return b;
}

cada_status cada_tok_export_gguf(const char *gguf_path, const char *out_dir) {
    cada_gguf g;
    CADA_TRY(cada_gguf_open(&g, gguf_path));
    cada_status st = CADA_OK;
    char *model = NULL, *pre = NULL, *chat = NULL;
    cJSON *tj = NULL, *tc = NULL;
    const cada_gguf_kv *tokens = string_array(&g, "tokenizer.ggml.tokens");
    const cada_gguf_kv *merges = string_array(&g, "tokenizer.ggml.merges");
    const cada_gguf_kv *types = cada_gguf_find(&g, "tokenizer.ggml.token_type");
    if (!tokens || !merges) {
        st = CADA_ERR(CADA_ERR_UNSUPPORTED, "%s: no tokenizer.ggml.tokens / merges string arrays", gguf_path);
        goto done;
    }
    if (types && (types->type != CADA_GGUF_ARRAY || types->arr_len != tokens->arr_len)) types = NULL;
    if (cada_gguf_get_string(&g, "tokenizer.ggml.model", &model) != CADA_OK || strcmp(model, "gpt2") != 0) {
        st = CADA_ERR(CADA_ERR_UNSUPPORTED, "%s: tokenizer.ggml.model '%s' is not exported (gpt2 only)", gguf_path,
                      model ? model : "(missing)");
        goto done;
    }
    if (cada_gguf_find(&g, "tokenizer.ggml.pre")) cada_gguf_get_string(&g, "tokenizer.ggml.pre", &pre);
    const char *pre_name = pre ? pre : "default";
    int smollm = !strcmp(pre_name, "smollm");
    if (!smollm && strcmp(pre_name, "default") && strcmp(pre_name, "gpt2")) {
        st = CADA_ERR(CADA_ERR_UNSUPPORTED, "%s: tokenizer.ggml.pre '%s' is not exported (default, gpt2, smollm)", gguf_path,
                      pre_name);
        goto done;
    }

    tj = cJSON_CreateObject();
    cJSON_AddStringToObject(tj, "version", "1.0");
    cJSON_AddNullToObject(tj, "truncation");
    cJSON_AddNullToObject(tj, "padding");
    cJSON *added = cJSON_AddArrayToObject(tj, "added_tokens");
    for (uint64_t i = 0; types && i < tokens->arr_len; i++) {
        int64_t t = int_at(types, i);
        if (t != 3 && t != 4) continue;
        char *content = dup_str(tokens->arr_strs[i]);
        cJSON *a = cJSON_CreateObject();
        cJSON_AddNumberToObject(a, "id", (double)i);
        cJSON_AddStringToObject(a, "content", content ? content : "");
        cJSON_AddBoolToObject(a, "single_word", 0);
        cJSON_AddBoolToObject(a, "lstrip", 0);
        cJSON_AddBoolToObject(a, "rstrip", 0);
        cJSON_AddBoolToObject(a, "normalized", t == 4);
        cJSON_AddBoolToObject(a, "special", t == 3);
        cJSON_AddItemToArray(added, a);
        free(content);
    }
    cJSON_AddNullToObject(tj, "normalizer");
    if (smollm) {
        cJSON *seq = cJSON_AddObjectToObject(tj, "pre_tokenizer");
        cJSON_AddStringToObject(seq, "type", "Sequence");
        cJSON *steps = cJSON_AddArrayToObject(seq, "pretokenizers");
        cJSON *digits = cJSON_CreateObject();
        cJSON_AddStringToObject(digits, "type", "Digits");
        cJSON_AddBoolToObject(digits, "individual_digits", 1);
        cJSON_AddItemToArray(steps, digits);
        cJSON_AddItemToArray(steps, byte_level(1));
    } else {
        cJSON_AddItemToObject(tj, "pre_tokenizer", byte_level(1));
    }
    cJSON_AddItemToObject(tj, "post_processor", byte_level(1));
    cJSON_AddItemToObject(tj, "decoder", byte_level(1));
    cJSON *bpe = cJSON_AddObjectToObject(tj, "model");
    cJSON_AddStringToObject(bpe, "type", "BPE");
    cJSON_AddNullToObject(bpe, "dropout");
    cJSON_AddNullToObject(bpe, "unk_token");
    cJSON_AddNullToObject(bpe, "continuing_subword_prefix");
    cJSON_AddNullToObject(bpe, "end_of_word_suffix");
    cJSON_AddBoolToObject(bpe, "fuse_unk", 0);
    cJSON_AddBoolToObject(bpe, "byte_fallback", 0);
    cJSON_AddBoolToObject(bpe, "ignore_merges", 0);
    cJSON *vocab = cJSON_AddObjectToObject(bpe, "vocab");
    for (uint64_t i = 0; i < tokens->arr_len; i++) {
        char *t = dup_str(tokens->arr_strs[i]);
        if (!t) {
            st = CADA_ERR(CADA_ERR_NOMEM, "tokenizer export");
            goto done;
        }
        cJSON_AddNumberToObject(vocab, t, (double)i);
        free(t);
    }
    cJSON *mlist = cJSON_AddArrayToObject(bpe, "merges");
    for (uint64_t i = 0; i < merges->arr_len; i++) {
        char *m = dup_str(merges->arr_strs[i]);
        if (!m) {
            st = CADA_ERR(CADA_ERR_NOMEM, "tokenizer export");
            goto done;
        }
        cJSON_AddItemToArray(mlist, cJSON_CreateString(m));
        free(m);
    }

    tc = cJSON_CreateObject();
    cJSON_AddBoolToObject(tc, "add_bos_token", flag(&g, "tokenizer.ggml.add_bos_token", 0));
    cJSON_AddBoolToObject(tc, "add_eos_token", flag(&g, "tokenizer.ggml.add_eos_token", 0));
    struct { const char *json, *key; } special[] = {{"bos_token", "tokenizer.ggml.bos_token_id"},
                                                    {"eos_token", "tokenizer.ggml.eos_token_id"},
                                                    {"unk_token", "tokenizer.ggml.unknown_token_id"},
                                                    {"pad_token", "tokenizer.ggml.padding_token_id"}};
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) {
        char *t = token_text(&g, tokens, special[i].key);
        if (t) cJSON_AddStringToObject(tc, special[i].json, t);
        else cJSON_AddNullToObject(tc, special[i].json);
        free(t);
    }
    cJSON_AddBoolToObject(tc, "clean_up_tokenization_spaces", 0);
    /* The generic class (transformers 5.x resolves it to TokenizersBackend; in 4.x it is
     * the generic fast tokenizer) loads tokenizer.json as written. A model class such as
     * GPT2Tokenizer rebuilds the pipeline from vocab and merges with its own
     * pre-tokenizer (plain ByteLevel), which drops SmolLM2's Digits step and splits
     * whitespace before digits differently. */
    cJSON_AddStringToObject(tc, "tokenizer_class", "PreTrainedTokenizerFast");
    if (cada_gguf_find(&g, "tokenizer.chat_template") && cada_gguf_get_string(&g, "tokenizer.chat_template", &chat) == CADA_OK)
        cJSON_AddStringToObject(tc, "chat_template", chat);
    st = write_json(out_dir, "tokenizer.json", tj);
    if (st == CADA_OK) st = write_json(out_dir, "tokenizer_config.json", tc);
done:
    cJSON_Delete(tj);
    cJSON_Delete(tc);
    free(model);
    free(pre);
    free(chat);
    cada_gguf_close(&g);
    return st;
}
