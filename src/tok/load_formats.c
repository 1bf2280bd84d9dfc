/* tok/load_formats.c: the file formats (tokenizer.json + tokenizer_config.json, GPT-2's
 * encoder.json + vocab.bpe, GGUF's tokenizer.ggml.* keys) feeding the builders of
 * load.c. Every field is checked; errors name the file and the field ("model.merges[12]",
 * "pre_tokenizer.pretokenizers[0].pattern"). */
#include "tok/tok_internal.h"

#include "io/gguf.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TOK_MAX_FILE ((size_t)1 << 30)

/* ---- files and JSON -------------------------------------------------------------------- */

static cada_status read_file(const char *path, char **data, size_t *len) {
    FILE *f;
    CADA_FOPEN_TRY(f, path, "rb");
    cada_status s = CADA_OK;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) s = CADA_ERR(CADA_ERR_IO, "%s: cannot seek: %s", path, strerror(errno));
    else if ((size_t)size > TOK_MAX_FILE) s = CADA_ERR(CADA_ERR_FORMAT, "%s: %ld bytes is too large for a tokenizer file", path, size);
    char *buf = NULL;
    if (s == CADA_OK) {
        buf = CADA_MALLOC((size_t)size + 1, path);
        if (!buf) s = CADA_ERR_NOMEM;
        else if (fread(buf, 1, (size_t)size, f) != (size_t)size)
            s = CADA_ERR(CADA_ERR_IO, "%s: short read", path);
    }
    fclose(f);
    if (s != CADA_OK) {
        free(buf);
        return s;
    }
    buf[size] = 0;
    *data = buf;
    *len = (size_t)size;
    return CADA_OK;
}

static cada_status parse_json_file(const char *path, cJSON **root) {
    char *data;
    size_t len;
    CADA_TRY(read_file(path, &data, &len));
    const char *end = NULL;
    *root = cJSON_ParseWithLengthOpts(data, len, &end, 0);
    if (!*root) {
        size_t off = end && end >= data ? (size_t)(end - data) : 0, line = 1;
        for (size_t i = 0; i < off && i < len; i++) line += data[i] == '\n';
        free(data);
        if (off >= len)
            return CADA_ERR(CADA_ERR_FORMAT, "%s: malformed JSON: the text ends early at byte %zu (truncated file?)",
                            path, len);
        return CADA_ERR(CADA_ERR_FORMAT, "%s: malformed JSON at byte %zu (line %zu)", path, off, line);
    }
    free(data);
    return CADA_OK;
}

static const cJSON *jget(const cJSON *o, const char *k) {
    return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
}

static int jnull(const cJSON *x) { return !x || cJSON_IsNull(x); }

static cada_status jbool(const char *src, const cJSON *o, const char *path, const char *k, int dflt, int *out) {
    const cJSON *x = jget(o, k);
    if (jnull(x)) *out = dflt;
    else if (cJSON_IsBool(x)) *out = cJSON_IsTrue(x);
    else return CADA_ERR(CADA_ERR_FORMAT, "%s: %s.%s must be true or false", src, path, k);
    return CADA_OK;
}

static cada_status jstring(const char *src, const cJSON *o, const char *path, const char *k, const char **out) {
    const cJSON *x = jget(o, k);
    if (jnull(x)) *out = NULL;
    else if (cJSON_IsString(x)) *out = x->valuestring;
    else return CADA_ERR(CADA_ERR_FORMAT, "%s: %s.%s must be a string", src, path, k);
    return CADA_OK;
}

static int jint(const cJSON *x, int32_t *out) {
    if (!cJSON_IsNumber(x)) return 0;
    double v = x->valuedouble;
    if (!(v >= 0 && v <= INT32_MAX) || floor(v) != v) return 0;
    *out = (int32_t)v;
    return 1;
}

static const char *jtype(const cJSON *o) {
    const cJSON *t = jget(o, "type");
    return cJSON_IsString(t) ? t->valuestring : NULL;
}

/* ---- tokenizer.json -------------------------------------------------------------------- */

static cada_status parse_vocab(cada_tokenizer *t, const cJSON *vocab) {
    int n = cJSON_GetArraySize(vocab);
    const char **strs = malloc((size_t)(n ? n : 1) * sizeof *strs);
    size_t *lens = malloc((size_t)(n ? n : 1) * sizeof *lens);
    int32_t *ids = malloc((size_t)(n ? n : 1) * sizeof *ids);
    cada_status s = CADA_OK;
    if (!strs || !lens || !ids) s = CADA_ERR(CADA_ERR_NOMEM, "%s: model.vocab of %d entries", t->source, n);
    int i = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, vocab) {
        if (s != CADA_OK) break;
        if (!jint(item, &ids[i])) {
            s = CADA_ERR(CADA_ERR_FORMAT, "%s: model.vocab['%.48s']: id is not a non-negative integer",
                         t->source, item->string ? item->string : "");
            break;
        }
        strs[i] = item->string ? item->string : "";
        lens[i] = strlen(strs[i]);
        i++;
    }
    if (s == CADA_OK) s = tok_set_vocab(t, (size_t)i, strs, lens, ids, "model.vocab");
    free(strs);
    free(lens);
    free(ids);
    return s;
}

static cada_status parse_merges(cada_tokenizer *t, const cJSON *merges) {
    int n = cJSON_GetArraySize(merges);
    CADA_TRY(tok_merges_init(&t->merges, (size_t)n));
    size_t rank = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, merges) {
        const char *a, *b;
        size_t alen, blen;
        if (cJSON_IsString(m)) {
            /* "a b": tokenizers splits on ' ' and wants exactly two parts. */
            a = m->valuestring;
            const char *sp = strchr(a, ' ');
            if (!sp || strchr(sp + 1, ' '))
                return CADA_ERR(CADA_ERR_FORMAT, "%s: model.merges[%zu] '%.48s': expected two tokens separated by one space",
                                t->source, rank, a);
            alen = (size_t)(sp - a);
            b = sp + 1;
            blen = strlen(b);
        } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(cJSON_GetArrayItem(m, 0)) &&
                   cJSON_IsString(cJSON_GetArrayItem(m, 1))) {
            a = cJSON_GetArrayItem(m, 0)->valuestring;
            b = cJSON_GetArrayItem(m, 1)->valuestring;
            alen = strlen(a);
            blen = strlen(b);
        } else {
            return CADA_ERR(CADA_ERR_FORMAT, "%s: model.merges[%zu]: expected \"a b\" or [\"a\", \"b\"]", t->source, rank);
        }
        CADA_TRY(tok_add_merge(t, t->source, a, alen, b, blen, (uint32_t)rank, "model.merges", rank));
        rank++;
    }
    return CADA_OK;
}

static cada_status parse_model(cada_tokenizer *t, const cJSON *model) {
    const char *src = t->source;
    if (!cJSON_IsObject(model)) return CADA_ERR(CADA_ERR_FORMAT, "%s: field 'model' is missing or not an object", src);
    const char *type = jtype(model);
    if (type && strcmp(type, "BPE") != 0)
        return CADA_ERR(CADA_ERR_UNSUPPORTED, "%s: model.type '%s' is not supported (only BPE)", src, type);
    const cJSON *vocab = jget(model, "vocab");
    if (!cJSON_IsObject(vocab)) return CADA_ERR(CADA_ERR_FORMAT, "%s: model.vocab is missing or not an object", src);
    const cJSON *merges = jget(model, "merges");
    if (!cJSON_IsArray(merges)) return CADA_ERR(CADA_ERR_FORMAT, "%s: model.merges is missing or not an array", src);
    const cJSON *dropout = jget(model, "dropout");
    if (!jnull(dropout) && !(cJSON_IsNumber(dropout) && dropout->valuedouble == 0))
        return CADA_ERR(CADA_ERR_UNSUPPORTED, "%s: model.dropout must be null (BPE dropout is not supported)", src);
    const char *prefix = NULL, *suffix = NULL, *unk = NULL;
    CADA_TRY(jstring(src, model, "model", "continuing_subword_prefix", &prefix));
    CADA_TRY(jstring(src, model, "model", "end_of_word_suffix", &suffix));
    if ((prefix && *prefix) || (suffix && *suffix))
        return CADA_ERR(CADA_ERR_UNSUPPORTED, "%s: model.continuing_subword_prefix / end_of_word_suffix must be empty", src);
    int byte_fallback = 0;
    CADA_TRY(jbool(src, model, "model", "byte_fallback", 0, &byte_fallback));
    if (byte_fallback) return CADA_ERR(CADA_ERR_UNSUPPORTED, "%s: model.byte_fallback is not supported", src);
    CADA_TRY(jbool(src, model, "model", "fuse_unk", 0, &t->fuse_unk));
    CADA_TRY(jbool(src, model, "model", "ignore_merges", 0, &t->ignore_merges));
    CADA_TRY(parse_vocab(t, vocab));
    CADA_TRY(parse_merges(t, merges));
    CADA_TRY(jstring(src, model, "model", "unk_token", &unk));
    if (unk) {
        t->unk_id = tok_vocab_lookup(t, unk, strlen(unk));
        if (t->unk_id < 0)
            return CADA_ERR(CADA_ERR_FORMAT, "%s: model.unk_token '%.48s' is not in model.vocab", src, unk);
    }
    return CADA_OK;
}

static cada_status parse_added(cada_tokenizer *t, const cJSON *added) {
    const char *src = t->source;
    if (jnull(added)) return CADA_OK;
    if (!cJSON_IsArray(added)) return CADA_ERR(CADA_ERR_FORMAT, "%s: added_tokens is not an array", src);
    /* tokenizers ignores the ids in the file and assigns them: the model's id when the
     * content is a vocabulary token, else the next id after the vocabulary and the
     * previous added tokens (AddedVocabulary::add_tokens). A file whose ids disagree
     * would give different ids here and there, so it is refused. */
    int64_t vocab_entries = 0;
    for (int32_t i = 0; i < t->n_vocab; i++) vocab_entries += t->in_model[i];
    int64_t max_added = -1;
    int i = 0;
    const cJSON *a;
    cJSON_ArrayForEach(a, added) {
        char path[64];
        snprintf(path, sizeof path, "added_tokens[%d]", i);
        if (!cJSON_IsObject(a)) return CADA_ERR(CADA_ERR_FORMAT, "%s: %s is not an object", src, path);
        const char *content = NULL;
        CADA_TRY(jstring(src, a, path, "content", &content));
        if (!content) return CADA_ERR(CADA_ERR_FORMAT, "%s: %s.content is missing", src, path);
        int32_t id;
        if (!jint(jget(a, "id"), &id))
            return CADA_ERR(CADA_ERR_FORMAT, "%s: %s.id is missing or not a non-negative integer", src, path);
        int special = 0, normalized = 0, lstrip = 0, rstrip = 0, single_word = 0;
        CADA_TRY(jbool(src, a, path, "special", 0, &special));
        CADA_TRY(jbool(src, a, path, "normalized", !special, &normalized));
        CADA_TRY(jbool(src, a, path, "lstrip", 0, &lstrip));
        CADA_TRY(jbool(src, a, path, "rstrip", 0, &rstrip));
        CADA_TRY(jbool(src, a, path, "single_word", 0, &single_word));
        size_t len = strlen(content);
        if (len > 0) {
            int32_t model_id = tok_vocab_lookup(t, content, len);
            int64_t expect = model_id >= 0 ? model_id
                             : max_added < 0 ? vocab_entries
                             : (max_added >= vocab_entries ? max_added + 1 : vocab_entries);
            for (int k = 0; k < t->n_added && model_id < 0; k++) /* already added: keeps its id */
                if (t->added[k].len == len && memcmp(t->added[k].content, content, len) == 0) expect = t->added[k].id;
            if (expect != id)
                return CADA_ERR(CADA_ERR_UNSUPPORTED,
                                "%s: %s '%.48s': id %d in the file, but tokenizers would assign %lld", src, path,
                                content, (int)id, (long long)expect);
            if (id > max_added) max_added = id;
        }
        CADA_TRY(tok_add_added(t, content, len, id, special, normalized, lstrip, rstrip, single_word, path));
        i++;
    }
    return CADA_OK;
}

static cada_status parse_normalizer(cada_tokenizer *t, const cJSON *n, const char *path) {
    if (jnull(n)) return CADA_OK;
    const char *type = jtype(n);
    if (!type) return CADA_ERR(CADA_ERR_FORMAT, "%s: %s.type is missing", t->source, path);
    if (strcmp(type, "NFC") == 0) {
        t->nfc = 1;
        return CADA_OK;
    }
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *list = jget(n, "normalizers");
        if (!cJSON_IsArray(list)) return CADA_ERR(CADA_ERR_FORMAT, "%s: %s.normalizers is not an array", t->source, path);
        int i = 0;
        const cJSON *x;
        cJSON_ArrayForEach(x, list) {
            char sub[128];
            snprintf(sub, sizeof sub, "%s.normalizers[%d]", path, i++);
            CADA_TRY(parse_normalizer(t, x, sub));
        }
        return CADA_OK;
    }
    return CADA_ERR(CADA_ERR_UNSUPPORTED, "%s: %s.type '%s' is not supported (supported: NFC, Sequence)",
                    t->source, path, type);
}

static cada_status add_pre_step(cada_tokenizer *t, tok_pre_step st, const char *path) {
    if (t->n_pre == TOK_MAX_PRE_STEPS) {
        pcre2_code_free(st.re);
        return CADA_ERR(CADA_ERR_UNSUPPORTED, "%s: %s: more than %d pre-tokenizer steps", t->source, path,
                        TOK_MAX_PRE_STEPS);
    }
    t->pre[t->n_pre++] = st;
    return CADA_OK;
}

static cada_status add_bytelevel(cada_tokenizer *t, int add_prefix_space, int use_regex, const char *path) {
    tok_pre_step st = {.kind = PRE_BYTELEVEL, .add_prefix_space = add_prefix_space};
    if (use_regex)
        CADA_TRY(tok_compile_regex(&st.re, TOK_GPT2_REGEX, PCRE2_ZERO_TERMINATED, 0, t->source, path));
    return add_pre_step(t, st, path);
}

static cada_status parse_pre(cada_tokenizer *t, const cJSON *p, const char *path) {
    const char *src = t->source;
    const char *type = jtype(p);
    if (!type) return CADA_ERR(CADA_ERR_FORMAT, "%s: %s.type is missing", src, path);
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *list = jget(p, "pretokenizers");
        if (!cJSON_IsArray(list)) return CADA_ERR(CADA_ERR_FORMAT, "%s: %s.pretokenizers is not an array", src, path);
        int i = 0;
        const cJSON *x;
        cJSON_ArrayForEach(x, list) {
            char sub[128];
            snprintf(sub, sizeof sub, "%s.pretokenizers[%d]", path, i++);
            CADA_TRY(parse_pre(t, x, sub));
        }
        return CADA_OK;
    }
    if (strcmp(type, "ByteLevel") == 0) {
        int aps = 0, use_regex = 0;
        CADA_TRY(jbool(src, p, path, "add_prefix_space", 1, &aps));
        CADA_TRY(jbool(src, p, path, "use_regex", 1, &use_regex));
        return add_bytelevel(t, aps, use_regex, path);
    }
    if (strcmp(type, "Digits") == 0) {
        int individual = 0;
        CADA_TRY(jbool(src, p, path, "individual_digits", 0, &individual));
        return add_pre_step(t, (tok_pre_step){.kind = PRE_DIGITS, .individual_digits = individual}, path);
    }
    if (strcmp(type, "Split") == 0) {
        tok_pre_step st = {.kind = PRE_SPLIT};
        const cJSON *pat = jget(p, "pattern");
        const cJSON *rx = jget(pat, "Regex"), *lit = jget(pat, "String");
        const cJSON *use = cJSON_IsString(rx) ? rx : lit;
        if (!cJSON_IsString(use))
            return CADA_ERR(CADA_ERR_FORMAT, "%s: %s.pattern must be {\"Regex\": ...} or {\"String\": ...}", src, path);
        const char *beh = NULL;
        CADA_TRY(jstring(src, p, path, "behavior", &beh));
        static const struct { const char *name; tok_split_behavior b; } behaviors[] = {
            {"Isolated", SPLIT_ISOLATED}, {"Removed", SPLIT_REMOVED}, {"MergedWithPrevious", SPLIT_MERGED_PREV},
            {"MergedWithNext", SPLIT_MERGED_NEXT}, {"Contiguous", SPLIT_CONTIGUOUS}};
        int found = 0;
        for (size_t i = 0; beh && i < sizeof behaviors / sizeof behaviors[0]; i++)
            if (strcmp(beh, behaviors[i].name) == 0) st.behavior = behaviors[i].b, found = 1;
        if (!found)
            return CADA_ERR(CADA_ERR_FORMAT, "%s: %s.behavior '%s' is not one of Isolated, Removed, "
                            "MergedWithPrevious, MergedWithNext, Contiguous", src, path, beh ? beh : "(missing)");
        CADA_TRY(jbool(src, p, path, "invert", 0, &st.invert));
        char field[160];
        snprintf(field, sizeof field, "%s.pattern", path);
        CADA_TRY(tok_compile_regex(&st.re, use->valuestring, strlen(use->valuestring), use == lit, src, field));
        return add_pre_step(t, st, path);
    }
    return CADA_ERR(CADA_ERR_UNSUPPORTED, "%s: %s.type '%s' is not supported (supported: ByteLevel, Split, "
                    "Digits, Sequence)", src, path, type);
}

/* TemplateProcessing's single template: special tokens before and after $A. */
static cada_status parse_post(cada_tokenizer *t, const cJSON *p, const char *path) {
    const char *src = t->source;
    if (jnull(p)) return CADA_OK;
    const char *type = jtype(p);
    if (!type) return CADA_ERR(CADA_ERR_FORMAT, "%s: %s.type is missing", src, path);
    if (strcmp(type, "ByteLevel") == 0) return CADA_OK; /* offsets only */
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *list = jget(p, "processors");
        if (!cJSON_IsArray(list)) return CADA_ERR(CADA_ERR_FORMAT, "%s: %s.processors is not an array", src, path);
        int i = 0;
        const cJSON *x;
        cJSON_ArrayForEach(x, list) {
            char sub[128];
            snprintf(sub, sizeof sub, "%s.processors[%d]", path, i++);
            CADA_TRY(parse_post(t, x, sub));
        }
        return CADA_OK;
    }
    if (strcmp(type, "TemplateProcessing") != 0)
        return CADA_ERR(CADA_ERR_UNSUPPORTED, "%s: %s.type '%s' is not supported (supported: ByteLevel, "
                        "TemplateProcessing, Sequence)", src, path, type);
    const cJSON *single = jget(p, "single"), *specials = jget(p, "special_tokens");
    if (!cJSON_IsArray(single)) return CADA_ERR(CADA_ERR_FORMAT, "%s: %s.single is not an array", src, path);
    t->n_prefix = t->n_suffix = 0;
    int seen_a = 0, i = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, single) {
        const cJSON *sp = jget(item, "SpecialToken"), *seq = jget(item, "Sequence");
        if (seq) {
            seen_a = 1;
        } else if (sp) {
            const char *name = NULL;
            CADA_TRY(jstring(src, sp, path, "id", &name));
            const cJSON *def = name ? jget(specials, name) : NULL;
            const cJSON *ids = jget(def, "ids");
            if (!cJSON_IsArray(ids))
                return CADA_ERR(CADA_ERR_FORMAT, "%s: %s.single[%d]: special token '%s' has no ids in special_tokens",
                                src, path, i, name ? name : "(missing)");
            const cJSON *x;
            cJSON_ArrayForEach(x, ids) {
                int32_t id;
                int *count = seen_a ? &t->n_suffix : &t->n_prefix;
                if (!jint(x, &id)) return CADA_ERR(CADA_ERR_FORMAT, "%s: %s.special_tokens['%s'].ids: bad id", src, path, name);
                if (*count == TOK_MAX_AFFIX)
                    return CADA_ERR(CADA_ERR_UNSUPPORTED, "%s: %s: more than %d special tokens", src, path, TOK_MAX_AFFIX);
                (seen_a ? t->suffix_ids : t->prefix_ids)[(*count)++] = id;
            }
        } else {
            return CADA_ERR(CADA_ERR_FORMAT, "%s: %s.single[%d] is neither SpecialToken nor Sequence", src, path, i);
        }
        i++;
    }
    return CADA_OK;
}

/* A special-token field of tokenizer_config.json: a string, {"content": ...} or null. */
static cada_status config_token(cada_tokenizer *t, const char *cfg, const cJSON *root, const char *key,
                                int32_t *id, char **text) {
    const cJSON *x = jget(root, key);
    if (cJSON_IsObject(x)) x = jget(x, "content");
    if (jnull(x)) return CADA_OK;
    if (!cJSON_IsString(x)) return CADA_ERR(CADA_ERR_FORMAT, "%s: %s must be a string or {\"content\": ...}", cfg, key);
    *id = cada_tok_token_id(t, x->valuestring);
    if (*id < 0) return CADA_ERR(CADA_ERR_CONFIG, "%s: %s '%.48s' is not a token of %s", cfg, key, x->valuestring, t->source);
    if (text) {
        free(*text);
        *text = strdup(x->valuestring);
        if (!*text) return CADA_ERR(CADA_ERR_NOMEM, "%s: %s", cfg, key);
    }
    return CADA_OK;
}

static cada_status apply_config(cada_tokenizer *t, const char *cfg, char **chat_template) {
    cJSON *root;
    CADA_TRY(parse_json_file(cfg, &root));
    cada_status s = CADA_OK;
    int add_bos = 0, add_eos = 0;
    if (!cJSON_IsObject(root)) s = CADA_ERR(CADA_ERR_FORMAT, "%s: not a JSON object", cfg);
    if (s == CADA_OK) s = config_token(t, cfg, root, "bos_token", &t->bos_id, &t->bos_text);
    if (s == CADA_OK) s = config_token(t, cfg, root, "eos_token", &t->eos_id, NULL);
    if (s == CADA_OK) s = config_token(t, cfg, root, "pad_token", &t->pad_id, NULL);
    if (s == CADA_OK) s = jbool(cfg, root, "(config)", "add_bos_token", 0, &add_bos);
    if (s == CADA_OK) s = jbool(cfg, root, "(config)", "add_eos_token", 0, &add_eos);
    /* add_bos_token / add_eos_token are reported (cada_tok_config_flags), not applied by
     * CADA_TOK_ADD_SPECIAL: transformers' TokenizersBackend takes add_special_tokens from
     * tokenizer.json's post_processor alone (checked: a tokenizer.json without one and a
     * config with add_bos_token=true adds nothing). */
    if (s == CADA_OK && add_bos && t->bos_id < 0)
        s = CADA_ERR(CADA_ERR_CONFIG, "%s: add_bos_token is true but there is no bos_token", cfg);
    if (s == CADA_OK && add_eos && t->eos_id < 0)
        s = CADA_ERR(CADA_ERR_CONFIG, "%s: add_eos_token is true but there is no eos_token", cfg);
    if (s == CADA_OK) t->config_flags = (add_bos ? CADA_TOK_ADD_BOS : 0u) | (add_eos ? CADA_TOK_ADD_EOS : 0u);
    if (s == CADA_OK) {
        const cJSON *ct = jget(root, "chat_template");
        if (cJSON_IsArray(ct)) { /* [{"name": ..., "template": ...}]: the "default" one */
            const cJSON *x, *pick = NULL;
            cJSON_ArrayForEach(x, ct) {
                const cJSON *name = jget(x, "name");
                if (!pick || (cJSON_IsString(name) && strcmp(name->valuestring, "default") == 0)) pick = x;
            }
            ct = jget(pick, "template");
        }
        if (cJSON_IsString(ct)) {
            *chat_template = strdup(ct->valuestring);
            if (!*chat_template) s = CADA_ERR(CADA_ERR_NOMEM, "%s: chat_template", cfg);
        } else if (!jnull(ct)) {
            s = CADA_ERR(CADA_ERR_FORMAT, "%s: chat_template must be a string", cfg);
        }
    }
    cJSON_Delete(root);
    return s;
}

static int has_bytelevel(const cada_tokenizer *t) {
    for (int i = 0; i < t->n_pre; i++)
        if (t->pre[i].kind == PRE_BYTELEVEL) return 1;
    return 0;
}

static cada_status load_hf_into(cada_tokenizer *t, const cJSON *root, const char *config_path) {
    const char *src = t->source;
    if (!cJSON_IsObject(root)) return CADA_ERR(CADA_ERR_FORMAT, "%s: not a JSON object", src);
    if (!jnull(jget(root, "truncation")) || !jnull(jget(root, "padding")))
        return CADA_ERR(CADA_ERR_UNSUPPORTED, "%s: truncation / padding must be null (encode returns all ids)", src);
    CADA_TRY(parse_model(t, jget(root, "model")));
    CADA_TRY(parse_added(t, jget(root, "added_tokens")));
    CADA_TRY(parse_normalizer(t, jget(root, "normalizer"), "normalizer"));
    const cJSON *pre = jget(root, "pre_tokenizer");
    if (!jnull(pre)) CADA_TRY(parse_pre(t, pre, "pre_tokenizer"));
    if (!has_bytelevel(t))
        return CADA_ERR(CADA_ERR_UNSUPPORTED, "%s: pre_tokenizer has no ByteLevel step: only byte-level BPE is supported", src);
    CADA_TRY(parse_post(t, jget(root, "post_processor"), "post_processor"));
    const cJSON *dec = jget(root, "decoder");
    if (!jnull(dec) && !(jtype(dec) && strcmp(jtype(dec), "ByteLevel") == 0))
        return CADA_ERR(CADA_ERR_UNSUPPORTED, "%s: decoder.type '%s' is not supported (only ByteLevel)", src,
                        jtype(dec) ? jtype(dec) : "(missing)");
    char *chat_template = NULL;
    if (config_path) CADA_TRY(apply_config(t, config_path, &chat_template));
    cada_status s = tok_finish(t);
    if (s == CADA_OK) s = tok_chat_setup(t, chat_template);
    free(chat_template);
    return s;
}

cada_status cada_tok_load_hf(cada_tokenizer **out, const char *json_path, const char *config_path) {
    *out = NULL;
    cada_tokenizer *t = tok_alloc(json_path);
    if (!t) return CADA_ERR_NOMEM;
    cJSON *root = NULL;
    cada_status s = parse_json_file(json_path, &root);
    if (s == CADA_OK) s = load_hf_into(t, root, config_path);
    cJSON_Delete(root);
    if (s != CADA_OK) {
        cada_tok_free(t);
        return s;
    }
    *out = t;
    return CADA_OK;
}

/* ---- GPT-2 files ------------------------------------------------------------------------ */

static cada_status load_gpt2_into(cada_tokenizer *t, const char *encoder_json, const char *vocab_bpe) {
    cJSON *enc;
    CADA_TRY(parse_json_file(encoder_json, &enc));
    cada_status s = cJSON_IsObject(enc) ? CADA_OK
                    : CADA_ERR(CADA_ERR_FORMAT, "%s: not a JSON object of token -> id", encoder_json);
    if (s == CADA_OK) s = parse_vocab(t, enc); /* t->source is encoder_json */
    cJSON_Delete(enc);
    CADA_TRY(s);

    char *data;
    size_t len;
    CADA_TRY(read_file(vocab_bpe, &data, &len));
    size_t lines = 0;
    for (size_t i = 0; i < len; i++) lines += data[i] == '\n';
    s = tok_merges_init(&t->merges, lines + 1);
    size_t rank = 0, lineno = 0;
    for (size_t i = 0; s == CADA_OK && i < len;) {
        size_t e = i;
        while (e < len && data[e] != '\n') e++;
        size_t n = e;
        if (n > i && data[n - 1] == '\r') n--; /* BufRead::lines strips "\r\n" */
        lineno++;
        const char *line = data + i;
        size_t ll = n - i;
        i = e + 1;
        if (ll >= 8 && memcmp(line, "#version", 8) == 0) continue;
        const char *sp = memchr(line, ' ', ll);
        if (!sp || memchr(sp + 1, ' ', ll - (size_t)(sp + 1 - line)) || sp == line || sp + 1 == line + ll) {
            s = CADA_ERR(CADA_ERR_FORMAT, "%s: line %zu: expected two tokens separated by one space", vocab_bpe, lineno);
            break;
        }
        s = tok_add_merge(t, vocab_bpe, line, (size_t)(sp - line), sp + 1, ll - (size_t)(sp + 1 - line),
                          (uint32_t)rank, "line", lineno);
        rank++;
    }
    free(data);
    CADA_TRY(s);
    int32_t eot = tok_vocab_lookup(t, "<|endoftext|>", 13);
    if (eot >= 0) {
        CADA_TRY(tok_add_added(t, "<|endoftext|>", 13, eot, 1, 0, 0, 0, 0, "<|endoftext|>"));
        t->bos_id = t->eos_id = eot;
    }
    CADA_TRY(add_bytelevel(t, 0, 1, "ByteLevel"));
    CADA_TRY(tok_finish(t));
    return tok_chat_setup(t, NULL);
}

cada_status cada_tok_load_gpt2(cada_tokenizer **out, const char *encoder_json, const char *vocab_bpe) {
    *out = NULL;
    cada_tokenizer *t = tok_alloc(encoder_json);
    if (!t) return CADA_ERR_NOMEM;
    cada_status s = load_gpt2_into(t, encoder_json, vocab_bpe);
    if (s != CADA_OK) {
        cada_tok_free(t);
        return s;
    }
    *out = t;
    return CADA_OK;
}

/* ---- GGUF --------------------------------------------------------------------------------- */

static cada_status gguf_string_array(const cada_gguf *g, const char *key, const cada_gguf_kv **kv) {
    *kv = cada_gguf_find(g, key);
    if (!*kv) return CADA_ERR(CADA_ERR_FORMAT, "%s: key %s is missing", g->path, key);
    if ((*kv)->type != CADA_GGUF_ARRAY || (*kv)->arr_type != CADA_GGUF_STRING || !(*kv)->arr_strs)
        return CADA_ERR(CADA_ERR_FORMAT, "%s: %s is not an array of strings", g->path, key);
    if ((*kv)->arr_len > (uint64_t)INT32_MAX / 2)
        return CADA_ERR(CADA_ERR_FORMAT, "%s: %s has %llu entries", g->path, key, (unsigned long long)(*kv)->arr_len);
    return CADA_OK;
}

static cada_status gguf_opt_id(const cada_gguf *g, const char *key, int32_t n_vocab, int32_t *id) {
    if (!cada_gguf_find(g, key)) return CADA_OK;
    uint64_t v;
    CADA_TRY(cada_gguf_get_u64(g, key, &v));
    if (v >= (uint64_t)n_vocab)
        return CADA_ERR(CADA_ERR_FORMAT, "%s: %s = %llu is outside the vocabulary (%d)", g->path, key,
                        (unsigned long long)v, (int)n_vocab);
    *id = (int32_t)v;
    return CADA_OK;
}

static cada_status gguf_opt_bool(const cada_gguf *g, const char *key, int *out) {
    const cada_gguf_kv *kv = cada_gguf_find(g, key);
    if (!kv) return CADA_OK;
    if (kv->type != CADA_GGUF_BOOL) return CADA_ERR(CADA_ERR_FORMAT, "%s: %s is not a bool", g->path, key);
    *out = kv->v.u64 != 0;
    return CADA_OK;
}

static cada_status load_gguf_into(cada_tokenizer *t, const cada_gguf *g, unsigned flags) {
    const char *src = g->path;
    char *model = NULL;
    CADA_TRY(cada_gguf_get_string(g, "tokenizer.ggml.model", &model));
    int is_gpt2 = strcmp(model, "gpt2") == 0;
    if (!is_gpt2) {
        cada_status s = CADA_ERR(CADA_ERR_UNSUPPORTED, "%s: tokenizer.ggml.model '%s' is not supported (only "
                                 "\"gpt2\", byte-level BPE)", src, model);
        free(model);
        return s;
    }
    free(model);
    const cada_gguf_kv *tokens, *merges;
    CADA_TRY(gguf_string_array(g, "tokenizer.ggml.tokens", &tokens));
    CADA_TRY(gguf_string_array(g, "tokenizer.ggml.merges", &merges));
    size_t n = (size_t)tokens->arr_len;
    const cada_gguf_kv *types = cada_gguf_find(g, "tokenizer.ggml.token_type");
    if (types && (types->type != CADA_GGUF_ARRAY || types->arr_len != tokens->arr_len ||
                  (types->arr_type != CADA_GGUF_INT32 && types->arr_type != CADA_GGUF_UINT32)))
        return CADA_ERR(CADA_ERR_FORMAT, "%s: tokenizer.ggml.token_type must be an int32 array of %zu entries", src, n);

    const char **strs = malloc((n ? n : 1) * sizeof *strs);
    size_t *lens = malloc((n ? n : 1) * sizeof *lens);
    int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    cada_status s = CADA_OK;
    if (!strs || !lens || !ids) s = CADA_ERR(CADA_ERR_NOMEM, "%s: vocabulary of %zu", src, n);
    for (size_t i = 0; s == CADA_OK && i < n; i++) {
        lens[i] = (size_t)tokens->arr_strs[i].len;
        strs[i] = lens[i] ? tokens->arr_strs[i].str : "";
        ids[i] = (int32_t)i;
        if (lens[i] && memchr(strs[i], 0, lens[i]))
            s = CADA_ERR(CADA_ERR_FORMAT, "%s: tokenizer.ggml.tokens[%zu] contains a NUL byte", src, i);
    }
    if (s == CADA_OK) s = tok_set_vocab(t, n, strs, lens, ids, "tokenizer.ggml.tokens");
    free(strs);
    free(lens);
    free(ids);
    CADA_TRY(s);

    CADA_TRY(tok_merges_init(&t->merges, (size_t)merges->arr_len));
    for (uint64_t i = 0; i < merges->arr_len; i++) {
        size_t len = (size_t)merges->arr_strs[i].len;
        const char *m = len ? merges->arr_strs[i].str : "";
        const char *sp = len ? memchr(m, ' ', len) : NULL;
        if (!sp || memchr(sp + 1, ' ', len - (size_t)(sp + 1 - m)))
            return CADA_ERR(CADA_ERR_FORMAT, "%s: tokenizer.ggml.merges[%llu] '%.*s': expected two tokens separated by one space",
                            src, (unsigned long long)i, (int)(len > 48 ? 48 : len), m);
        CADA_TRY(tok_add_merge(t, src, m, (size_t)(sp - m), sp + 1, len - (size_t)(sp + 1 - m), (uint32_t)i,
                               "tokenizer.ggml.merges", (size_t)i));
    }
    /* Control tokens (type 3) are special added tokens, user-defined ones (4) plain
     * added tokens; both are matched in the raw text (llama.cpp and transformers). */
    for (size_t i = 0; types && i < n; i++) {
        int32_t ty;
        memcpy(&ty, (const char *)types->arr_data + 4 * i, 4); /* the mapping may be unaligned */
        if (ty == 3 || ty == 4) {
            char field[64];
            snprintf(field, sizeof field, "tokenizer.ggml.tokens[%zu]", i);
            CADA_TRY(tok_add_added(t, tokens->arr_strs[i].str, (size_t)tokens->arr_strs[i].len, (int32_t)i,
                                   ty == 3, 0, 0, 0, 0, field));
        }
    }

    int add_space_prefix = 0, add_bos = 0, add_eos = 0;
    CADA_TRY(gguf_opt_bool(g, "tokenizer.ggml.add_space_prefix", &add_space_prefix));
    CADA_TRY(gguf_opt_bool(g, "tokenizer.ggml.add_bos_token", &add_bos));
    CADA_TRY(gguf_opt_bool(g, "tokenizer.ggml.add_eos_token", &add_eos));
    CADA_TRY(gguf_opt_id(g, "tokenizer.ggml.bos_token_id", t->n_vocab, &t->bos_id));
    CADA_TRY(gguf_opt_id(g, "tokenizer.ggml.eos_token_id", t->n_vocab, &t->eos_id));
    CADA_TRY(gguf_opt_id(g, "tokenizer.ggml.padding_token_id", t->n_vocab, &t->pad_id));
    if (add_bos && t->bos_id < 0) return CADA_ERR(CADA_ERR_FORMAT, "%s: add_bos_token without bos_token_id", src);
    if (add_eos && t->eos_id < 0) return CADA_ERR(CADA_ERR_FORMAT, "%s: add_eos_token without eos_token_id", src);
    /* transformers' GGUF converter turns these keys into the post-processor, so they
     * are both the configuration and what CADA_TOK_ADD_SPECIAL adds. */
    if (add_bos) t->prefix_ids[t->n_prefix++] = t->bos_id;
    if (add_eos) t->suffix_ids[t->n_suffix++] = t->eos_id;
    t->config_flags = (add_bos ? CADA_TOK_ADD_BOS : 0u) | (add_eos ? CADA_TOK_ADD_EOS : 0u);

    char *pre = NULL;
    if (cada_gguf_find(g, "tokenizer.ggml.pre")) CADA_TRY(cada_gguf_get_string(g, "tokenizer.ggml.pre", &pre));
    s = CADA_OK;
    if ((flags & CADA_TOK_LOAD_GGUF_AS_TRANSFORMERS) || !pre || strcmp(pre, "default") == 0 ||
        strcmp(pre, "gpt2") == 0) {
        s = add_bytelevel(t, add_space_prefix, 1, "ByteLevel");
    } else if (strcmp(pre, "smollm") == 0) {
        /* llama.cpp's LLAMA_VOCAB_PRE_TYPE_SMOLLM: "\p{N}" then the GPT-2 regex. */
        s = add_pre_step(t, (tok_pre_step){.kind = PRE_DIGITS, .individual_digits = 1}, "Digits");
        if (s == CADA_OK) s = add_bytelevel(t, add_space_prefix, 1, "ByteLevel");
    } else {
        s = CADA_ERR(CADA_ERR_UNSUPPORTED, "%s: tokenizer.ggml.pre '%s' is not supported (supported: default, gpt2, "
                     "smollm; CADA_TOK_LOAD_GGUF_AS_TRANSFORMERS uses plain GPT-2 pre-tokenization)", src, pre);
    }
    free(pre);
    CADA_TRY(s);
    CADA_TRY(tok_finish(t));
    if (t->bos_id >= 0) {
        size_t len;
        const char *b = cada_tok_token_bytes(t, t->bos_id, &len);
        t->bos_text = b ? strndup(b, len) : NULL;
    }
    char *tmpl = NULL;
    if (cada_gguf_find(g, "tokenizer.chat_template"))
        CADA_TRY(cada_gguf_get_string(g, "tokenizer.chat_template", &tmpl));
    s = tok_chat_setup(t, tmpl);
    free(tmpl);
    return s;
}

cada_status cada_tok_load_gguf(cada_tokenizer **out, const char *gguf_path, unsigned flags) {
    *out = NULL;
    cada_gguf g;
    memset(&g, 0, sizeof g);
    CADA_TRY(cada_gguf_open(&g, gguf_path));
    cada_tokenizer *t = tok_alloc(gguf_path);
    cada_status s = t ? load_gguf_into(t, &g, flags) : CADA_ERR_NOMEM;
    cada_gguf_close(&g);
    if (s != CADA_OK) {
        cada_tok_free(t);
        return s;
    }
    *out = t;
    return CADA_OK;
}

cada_status cada_tok_gguf_mode_parse(const char *name, unsigned *flags) {
    if (!strcmp(name, "llama.cpp")) *flags = 0;
    else if (!strcmp(name, "transformers")) *flags = CADA_TOK_LOAD_GGUF_AS_TRANSFORMERS;
    else
        return CADA_ERR(CADA_ERR_CONFIG,
                        "GGUF tokenizer '%s' is not one of llama.cpp (pre-tokenize as tokenizer.ggml.pre says), "
                        "transformers (plain GPT-2 ByteLevel, as transformers' GGUF loader)", name);
    return CADA_OK;
}

/* ---- dispatch ------------------------------------------------------------------------------- */

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

cada_status cada_tok_load(cada_tokenizer **out, const char *path, unsigned flags) {
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0) return CADA_ERR(CADA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char a[4096], b[4096];
    if (S_ISDIR(st.st_mode)) {
        snprintf(a, sizeof a, "%s/tokenizer.json", path);
        if (file_exists(a)) {
            snprintf(b, sizeof b, "%s/tokenizer_config.json", path);
            return cada_tok_load_hf(out, a, file_exists(b) ? b : NULL);
        }
        static const char *const pairs[][2] = {{"encoder.json", "vocab.bpe"}, {"vocab.json", "merges.txt"}};
        for (int i = 0; i < 2; i++) {
            snprintf(a, sizeof a, "%s/%s", path, pairs[i][0]);
            snprintf(b, sizeof b, "%s/%s", path, pairs[i][1]);
            if (file_exists(a) && file_exists(b)) return cada_tok_load_gpt2(out, a, b);
        }
        return CADA_ERR(CADA_ERR_IO, "%s: no tokenizer.json, encoder.json + vocab.bpe or vocab.json + merges.txt "
                        "in this directory", path);
    }
    /* A model's config.json (not tokenizer_config.json) stands for its folder, so any
     * model path cada accepts also names its tokenizer. */
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (!strcmp(base, "config.json")) {
        if (base == path) return cada_tok_load(out, ".", flags);
        snprintf(a, sizeof a, "%.*s", (int)(base - 1 - path), path);
        return cada_tok_load(out, a[0] ? a : "/", flags);
    }
    if (ends_with(path, ".gguf")) return cada_tok_load_gguf(out, path, flags);
    FILE *f = fopen(path, "rb");
    char magic[4] = {0};
    if (f) {
        size_t got = fread(magic, 1, 4, f);
        fclose(f);
        if (got == 4 && memcmp(magic, "GGUF", 4) == 0) return cada_tok_load_gguf(out, path, flags);
    }
    /* tokenizer.json: its tokenizer_config.json, when there is one, sits beside it. */
    const char *slash = strrchr(path, '/');
    if (slash) snprintf(b, sizeof b, "%.*s/tokenizer_config.json", (int)(slash - path), path);
    else snprintf(b, sizeof b, "tokenizer_config.json");
    return cada_tok_load_hf(out, path, file_exists(b) ? b : NULL);
}
