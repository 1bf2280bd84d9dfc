/* tests/unit/test_tok.c: the tokenizer against the ids of Hugging Face `tokenizers`
 * (golden files written by tests/ref/make_tok_golden.py; format documented there),
 * byte-exact round trips including ill-formed UTF-8, the streaming decoder, chat
 * templates, and clear errors on bad files.
 *
 * Tokenizer files: $CADA_SHARED/tokenizers (default <root>/../shared/tokenizers) for
 * Qwen3 and GPT-2, the SmolLM2 GGUF from cada_test_smollm2_path(), and the synthetic
 * tokenizers in tests/ref/golden/tok_synth_*.json. */
#include "test.h"

#include "base/error.h"
#include "tok/tok_internal.h"
#include "tok/tokenizer.h"
#include "tok/unicode.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- files ----------------------------------------------------------------------------- */

static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)(n < 0 ? 0 : n) + 1);
    if (buf && n >= 0 && fread(buf, 1, (size_t)n, f) == (size_t)n) {
        buf[n] = 0;
        *len = (size_t)n;
    } else {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

static int write_all(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok;
}

static const char *shared_dir(void) {
    static char dir[1024];
    if (!dir[0]) {
        const char *env = getenv("CADA_SHARED");
        if (env) snprintf(dir, sizeof dir, "%s", env);
        else snprintf(dir, sizeof dir, "%s/../shared", cada_test_root());
    }
    return dir;
}

/* fmt with one %s; a rotating set of buffers, large enough for any 1 KiB directory. */
static const char *path_in(const char *fmt, const char *a) {
    static _Thread_local char buf[4][2048];
    static _Thread_local int k;
    char *p = buf[k++ & 3];
    snprintf(p, sizeof buf[0], fmt, a);
    return p;
}

/* ---- the corpus -------------------------------------------------------------------------- */

typedef struct {
    char *text;
    size_t len;
    const char **line;
    size_t *line_len;
    int n_lines;
} corpus_t;

static corpus_t corpus;

static void corpus_free(void) {
    free(corpus.text);
    free(corpus.line);
    free(corpus.line_len);
}

static int load_corpus(void) {
    if (corpus.text) return 1;
    corpus.text = read_all(path_in("%s/tests/data/tok_corpus.txt", cada_test_root()), &corpus.len);
    if (!corpus.text) return 0;
    int n = 1;
    for (size_t i = 0; i < corpus.len; i++) n += corpus.text[i] == '\n';
    corpus.line = malloc((size_t)n * sizeof *corpus.line);
    corpus.line_len = malloc((size_t)n * sizeof *corpus.line_len);
    const char *p = corpus.text;
    for (int i = 0; i < n; i++) {
        const char *e = memchr(p, '\n', (size_t)(corpus.text + corpus.len - p));
        if (!e) e = corpus.text + corpus.len;
        corpus.line[i] = p;
        corpus.line_len[i] = (size_t)(e - p);
        p = e + 1;
    }
    corpus.n_lines = n;
    atexit(corpus_free);
    return 1;
}

/* ---- golden files -------------------------------------------------------------------------- */

typedef struct {
    int32_t *v;
    size_t n;
    int present;
} idlist;

typedef struct {
    char *text;
    size_t len;
    idlist ids, add;
    char *nfc; /* tok_nfc.ids: the expected NFC of text */
    size_t nfc_len;
} gtext;

typedef struct {
    char role[32];
    char *content;
} gmsg;

typedef struct {
    char name[64];
    int gen, think, n_msgs;
    gmsg *msgs;
    char *expect;
    size_t expect_len;
} gchat;

typedef struct {
    idlist *lines;
    int n_lines;
    idlist full, nospecial, addspecial;
    char *decoded;
    size_t decoded_len;
    gtext *texts;
    int n_texts;
    gchat *chats;
    int n_chats;
} golden;

typedef struct {
    const char *p, *end;
    int ok;
} cursor;

static void skip_spaces(cursor *c) {
    while (c->p < c->end && *c->p == ' ') c->p++;
}

static long next_long(cursor *c) {
    skip_spaces(c);
    char *e;
    long v = strtol(c->p, &e, 10);
    if (e == c->p) c->ok = 0;
    c->p = e;
    return v;
}

static void next_word(cursor *c, char *out, size_t cap) {
    skip_spaces(c);
    size_t n = 0;
    while (c->p < c->end && *c->p != ' ' && *c->p != '\n') {
        if (n + 1 < cap) out[n++] = *c->p;
        c->p++;
    }
    out[n] = 0;
}

static void end_line(cursor *c) {
    while (c->p < c->end && *c->p != '\n') c->p++;
    if (c->p < c->end) c->p++;
}

static void read_ids(cursor *c, idlist *l) {
    long n = next_long(c);
    if (n < 0 || n > 10000000) {
        c->ok = 0;
        return;
    }
    l->v = malloc(((size_t)n + 1) * sizeof *l->v);
    l->n = (size_t)n;
    l->present = 1;
    for (long i = 0; i < n; i++) l->v[i] = (int32_t)next_long(c);
    end_line(c);
}

/* "<tag> <nbytes>\n<bytes>\n" after the tag was read: returns a malloc'd copy. */
static char *read_block(cursor *c, size_t *len) {
    long n = next_long(c);
    end_line(c);
    if (n < 0 || c->p + n > c->end) {
        c->ok = 0;
        return NULL;
    }
    char *s = malloc((size_t)n + 1);
    memcpy(s, c->p, (size_t)n);
    s[n] = 0;
    c->p += n;
    end_line(c);
    *len = (size_t)n;
    return s;
}

static void golden_free_tok(golden *g) {
    for (int i = 0; i < g->n_lines; i++) free(g->lines[i].v);
    free(g->lines);
    free(g->full.v);
    free(g->nospecial.v);
    free(g->addspecial.v);
    free(g->decoded);
    for (int i = 0; i < g->n_texts; i++) {
        free(g->texts[i].text);
        free(g->texts[i].ids.v);
        free(g->texts[i].add.v);
        free(g->texts[i].nfc);
    }
    free(g->texts);
    for (int i = 0; i < g->n_chats; i++) {
        for (int k = 0; k < g->chats[i].n_msgs; k++) free(g->chats[i].msgs[k].content);
        free(g->chats[i].msgs);
        free(g->chats[i].expect);
    }
    free(g->chats);
    memset(g, 0, sizeof *g);
}

static int golden_read(golden *g, const char *name) {
    memset(g, 0, sizeof *g);
    size_t len;
    char path[1200];
    snprintf(path, sizeof path, "%s/tests/ref/golden/tok_%s.ids", cada_test_root(), name);
    char *data = read_all(path, &len);
    if (!data) return 0;
    cursor c = {data, data + len, 1};
    g->lines = calloc(1024, sizeof *g->lines);
    g->texts = calloc(1024, sizeof *g->texts);
    g->chats = calloc(64, sizeof *g->chats);
    char tag[64];
    while (c.ok && c.p < c.end) {
        if (*c.p == '#') {
            end_line(&c);
            continue;
        }
        next_word(&c, tag, sizeof tag);
        if (strcmp(tag, "tokenizer") == 0) {
            end_line(&c);
        } else if (strcmp(tag, "line") == 0) {
            long i = next_long(&c);
            if (i < 0 || i >= 1024) { c.ok = 0; break; }
            read_ids(&c, &g->lines[i]);
            if (i + 1 > g->n_lines) g->n_lines = (int)i + 1;
        } else if (strcmp(tag, "full") == 0) {
            read_ids(&c, &g->full);
        } else if (strcmp(tag, "full_nospecial") == 0) {
            read_ids(&c, &g->nospecial);
        } else if (strcmp(tag, "full_addspecial") == 0) {
            read_ids(&c, &g->addspecial);
        } else if (strcmp(tag, "decoded") == 0) {
            g->decoded = read_block(&c, &g->decoded_len);
        } else if (strcmp(tag, "text") == 0 && g->n_texts < 1024) {
            gtext *t = &g->texts[g->n_texts++];
            t->text = read_block(&c, &t->len);
        } else if (strcmp(tag, "textids") == 0 && g->n_texts > 0) {
            read_ids(&c, &g->texts[g->n_texts - 1].ids);
        } else if (strcmp(tag, "nfc") == 0 && g->n_texts > 0) {
            g->texts[g->n_texts - 1].nfc = read_block(&c, &g->texts[g->n_texts - 1].nfc_len);
        } else if (strcmp(tag, "textids_addspecial") == 0 && g->n_texts > 0) {
            read_ids(&c, &g->texts[g->n_texts - 1].add);
        } else if (strcmp(tag, "chat") == 0 && g->n_chats < 64) {
            gchat *ch = &g->chats[g->n_chats++];
            next_word(&c, ch->name, sizeof ch->name);
            ch->gen = (int)next_long(&c);
            ch->think = (int)next_long(&c);
            ch->n_msgs = (int)next_long(&c);
            end_line(&c);
            if (ch->n_msgs < 0 || ch->n_msgs > 64) { c.ok = 0; break; }
            ch->msgs = calloc((size_t)ch->n_msgs + 1, sizeof *ch->msgs);
            for (int k = 0; k < ch->n_msgs && c.ok; k++) {
                next_word(&c, tag, sizeof tag);
                if (strcmp(tag, "msg") != 0) { c.ok = 0; break; }
                next_word(&c, ch->msgs[k].role, sizeof ch->msgs[k].role);
                size_t n;
                ch->msgs[k].content = read_block(&c, &n);
            }
            next_word(&c, tag, sizeof tag);
            if (strcmp(tag, "expect") != 0) { c.ok = 0; break; }
            ch->expect = read_block(&c, &ch->expect_len);
        } else {
            c.ok = 0;
        }
    }
    free(data);
    if (!c.ok) golden_free_tok(g);
    return c.ok;
}

/* ---- comparisons ---------------------------------------------------------------------------- */

/* Returns 1 when equal; otherwise reports the first difference. */
static int same_ids(const char *what, const int32_t *got, size_t ngot, const idlist *want) {
    size_t n = ngot < want->n ? ngot : want->n, i = 0;
    while (i < n && got[i] == want->v[i]) i++;
    if (i == n && ngot == want->n) return 1;
    cada_test_fail(__FILE__, __LINE__, "%s: %zu ids vs %zu expected; first difference at %zu: got %d, want %d",
                   what, ngot, want->n, i, i < ngot ? (int)got[i] : -1, i < want->n ? (int)want->v[i] : -1);
    return 0;
}

static int encode_check(const cada_tokenizer *t, const char *what, const char *text, size_t len, unsigned flags,
                        const idlist *want) {
    cada_tok_ids ids = {0};
    cada_status s = cada_tok_encode(t, text, len, flags, &ids);
    int ok = s == CADA_OK;
    if (!ok) cada_test_fail(__FILE__, __LINE__, "%s: encode failed: %s", what, cada_error_message());
    else ok = same_ids(what, ids.ids, ids.n, want);
    cada_tok_ids_free(&ids);
    return ok;
}

typedef struct {
    int lines_ok, lines;
    int full_ok;
} parity_counts;

/* Every golden record of one tokenizer: lines, the whole corpus (plain, special tokens
 * as text, with post-processing), decoding, extra texts, chat templates. */
static parity_counts check_golden(const cada_tokenizer *t, const char *name, int chats) {
    parity_counts pc = {0, 0, 0};
    golden g;
    if (!load_corpus()) {
        cada_test_fail(__FILE__, __LINE__, "cannot read tests/data/tok_corpus.txt");
        return pc;
    }
    if (!golden_read(&g, name)) {
        cada_test_fail(__FILE__, __LINE__, "cannot read or parse golden tok_%s.ids", name);
        return pc;
    }
    char what[128];
    for (int i = 0; i < g.n_lines; i++) {
        if (!g.lines[i].present) continue;
        if (i >= corpus.n_lines) {
            cada_test_fail(__FILE__, __LINE__, "%s: golden line %d is beyond the corpus (%d lines)", name, i,
                           corpus.n_lines);
            break;
        }
        snprintf(what, sizeof what, "%s line %d", name, i);
        pc.lines++;
        pc.lines_ok += encode_check(t, what, corpus.line[i], corpus.line_len[i], 0, &g.lines[i]);
    }
    if (g.full.present) {
        snprintf(what, sizeof what, "%s full corpus", name);
        pc.full_ok = encode_check(t, what, corpus.text, corpus.len, 0, &g.full);
        snprintf(what, sizeof what, "%s full corpus, special tokens as text", name);
        encode_check(t, what, corpus.text, corpus.len, CADA_TOK_SPLIT_SPECIAL, g.nospecial.present ? &g.nospecial : &g.full);
        snprintf(what, sizeof what, "%s full corpus, add_special_tokens", name);
        encode_check(t, what, corpus.text, corpus.len, CADA_TOK_ADD_SPECIAL, g.addspecial.present ? &g.addspecial : &g.full);
    }
    if (g.decoded) {
        /* tokenizers' decode is String::from_utf8_lossy of the bytes cada returns. */
        cada_tok_bytes out = {0}, lossy = {0};
        cada_status s = cada_tok_decode(t, g.full.v, g.full.n, 0, &out);
        EXPECT(s == CADA_OK, "%s: decode: %s", name, cada_error_message());
        if (s == CADA_OK) s = cada_tok_utf8_lossy(out.data, out.len, &lossy);
        EXPECT(s == CADA_OK && lossy.len == g.decoded_len && memcmp(lossy.data, g.decoded, lossy.len) == 0,
               "%s: decode(full ids) differs from tokenizers' decode (%zu vs %zu bytes)", name, lossy.len,
               g.decoded_len);
        cada_tok_bytes_free(&out);
        cada_tok_bytes_free(&lossy);
    }
    for (int i = 0; i < g.n_texts; i++) {
        snprintf(what, sizeof what, "%s text %d '%.40s'", name, i, g.texts[i].text);
        if (g.texts[i].ids.present) encode_check(t, what, g.texts[i].text, g.texts[i].len, 0, &g.texts[i].ids);
        snprintf(what, sizeof what, "%s text %d '%.40s' add_special", name, i, g.texts[i].text);
        encode_check(t, what, g.texts[i].text, g.texts[i].len, CADA_TOK_ADD_SPECIAL,
                     g.texts[i].add.present ? &g.texts[i].add : &g.texts[i].ids);
    }
    if (chats) {
        EXPECT(g.n_chats > 0, "%s: no chat cases in the golden file", name);
        for (int i = 0; i < g.n_chats; i++) {
            gchat *ch = &g.chats[i];
            cada_chat_msg msgs[64];
            for (int k = 0; k < ch->n_msgs; k++) msgs[k] = (cada_chat_msg){ch->msgs[k].role, ch->msgs[k].content};
            unsigned flags = (ch->gen ? CADA_CHAT_ADD_GENERATION_PROMPT : 0) | (ch->think == 0 ? CADA_CHAT_THINKING_OFF : 0);
            cada_tok_bytes out = {0};
            cada_status s = cada_tok_chat_render(t, msgs, (size_t)ch->n_msgs, flags, &out);
            EXPECT(s == CADA_OK, "%s chat %s: %s", name, ch->name, cada_error_message());
            if (s == CADA_OK)
                EXPECT(out.len == ch->expect_len && memcmp(out.data, ch->expect, out.len) == 0,
                       "%s chat %s: got\n%s\n--- want\n%s", name, ch->name, out.data, ch->expect);
            cada_tok_bytes_free(&out);
        }
    }
    golden_free_tok(&g);
    if (pc.lines_ok != pc.lines)
        cada_test_fail(__FILE__, __LINE__, "%s: %d of %d corpus lines match", name, pc.lines_ok, pc.lines);
    fprintf(stderr, "    %s: %d/%d lines identical, full corpus %s\n", name, pc.lines_ok, pc.lines,
            pc.full_ok ? "identical" : "DIFFERENT");
    return pc;
}

/* ---- tokenizers, loaded once per process ----------------------------------------------------- */

enum { TK_QWEN3, TK_GPT2, TK_SMOLLM2, TK_SMOLLM2_HF, TK_N };
static cada_tokenizer *loaded[TK_N];
static int load_tried[TK_N];

static void free_loaded(void) {
    for (int i = 0; i < TK_N; i++) cada_tok_free(loaded[i]);
}

static const cada_tokenizer *get_tok(int which) {
    if (load_tried[which]) return loaded[which];
    load_tried[which] = 1;
    static int registered;
    if (!registered) {
        atexit(free_loaded);
        registered = 1;
    }
    cada_status s = CADA_OK;
    switch (which) {
    case TK_QWEN3:
        s = cada_tok_load(&loaded[which], path_in("%s/tokenizers/qwen3", shared_dir()), 0);
        break;
    case TK_GPT2:
        s = cada_tok_load_gpt2(&loaded[which], path_in("%s/tokenizers/gpt2/encoder.json", shared_dir()),
                               path_in("%s/tokenizers/gpt2/vocab.bpe", shared_dir()));
        break;
    case TK_SMOLLM2:
        s = cada_tok_load(&loaded[which], cada_test_smollm2_path(), 0);
        break;
    case TK_SMOLLM2_HF:
        s = cada_tok_load(&loaded[which], cada_test_smollm2_path(), CADA_TOK_LOAD_GGUF_AS_TRANSFORMERS);
        break;
    }
    if (s != CADA_OK) cada_test_fail(__FILE__, __LINE__, "loading tokenizer %d: %s", which, cada_error_message());
    return loaded[which];
}

/* ---- parity ----------------------------------------------------------------------------------- */

TEST(tok_qwen3_parity) {
    const cada_tokenizer *t = get_tok(TK_QWEN3);
    REQUIRE(t);
    EXPECT(cada_tok_chat_family(t) == CADA_CHAT_QWEN3);
    check_golden(t, "qwen3", 1);
}

TEST(tok_gpt2_parity) {
    const cada_tokenizer *t = get_tok(TK_GPT2);
    REQUIRE(t);
    EXPECT(cada_tok_vocab_size(t) == 50257);
    check_golden(t, "gpt2", 0);
}

TEST(tok_smollm2_parity) {
    const cada_tokenizer *t = get_tok(TK_SMOLLM2);
    REQUIRE(t);
    EXPECT(cada_tok_chat_family(t) == CADA_CHAT_CHATML);
    check_golden(t, "smollm2", 1);
}

/* transformers' GGUF conversion (plain GPT-2 pre-tokenization): the full text and the
 * lines where it differs from the default. */
TEST(tok_smollm2_transformers_parity) {
    const cada_tokenizer *t = get_tok(TK_SMOLLM2_HF);
    REQUIRE(t);
    parity_counts pc = check_golden(t, "smollm2_hf", 0);
    EXPECT(pc.lines > 0, "the golden file should list the lines where the two conversions differ");
}

TEST(tok_synth_parity) {
    static const char *const names[] = {"synth_a", "synth_b", "synth_c"};
    for (int i = 0; i < 3; i++) {
        cada_tokenizer *t;
        char path[1200];
        snprintf(path, sizeof path, "%s/tests/ref/golden/tok_%s.json", cada_test_root(), names[i]);
        cada_status s = cada_tok_load_hf(&t, path, NULL);
        EXPECT(s == CADA_OK, "%s: %s", names[i], cada_error_message());
        if (s != CADA_OK) continue;
        check_golden(t, names[i], 0);
        cada_tok_free(t);
    }
}

/* Both merge-loop forms (array scan and heap) give the same ids. */
TEST(tok_bpe_heap_and_array_agree) {
    const cada_tokenizer *t = get_tok(TK_QWEN3);
    REQUIRE(t && load_corpus());
    golden g;
    REQUIRE(golden_read(&g, "qwen3"));
    size_t saved = tok_bpe_array_max;
    /* A fresh tokenizer has empty word caches, so the merge loop really runs. */
    cada_tokenizer *fresh;
    REQUIRE_OK(cada_tok_load(&fresh, path_in("%s/tokenizers/qwen3", shared_dir()), 0));
    tok_bpe_array_max = 0;
    encode_check(fresh, "qwen3 full corpus, heap only", corpus.text, corpus.len, 0, &g.full);
    cada_tok_free(fresh);
    REQUIRE_OK(cada_tok_load(&fresh, path_in("%s/tokenizers/qwen3", shared_dir()), 0));
    tok_bpe_array_max = SIZE_MAX;
    encode_check(fresh, "qwen3 full corpus, array only", corpus.text, corpus.len, 0, &g.full);
    cada_tok_free(fresh);
    tok_bpe_array_max = saved;
    golden_free_tok(&g);
}

/* Many threads at once (more than the pooled workers) give the same ids. */
TEST(tok_threads) {
    const cada_tokenizer *t = get_tok(TK_QWEN3);
    REQUIRE(t && load_corpus());
    golden g;
    REQUIRE(golden_read(&g, "qwen3"));
    int bad = 0;
#pragma omp parallel for num_threads(12) reduction(+ : bad) schedule(dynamic)
    for (int r = 0; r < 12 * 8; r++) {
        int i = r % g.n_lines;
        cada_tok_ids ids = {0};
        if (cada_tok_encode(t, corpus.line[i], corpus.line_len[i], 0, &ids) != CADA_OK || ids.n != g.lines[i].n ||
            (ids.n && memcmp(ids.ids, g.lines[i].v, ids.n * sizeof *ids.ids) != 0))
            bad++;
        cada_tok_ids_free(&ids);
    }
    EXPECT(bad == 0, "%d encodes differed under 12 threads", bad);
    golden_free_tok(&g);
}

/* ---- round trips -------------------------------------------------------------------------------- */

static int roundtrip(const cada_tokenizer *t, const char *s, size_t n, const char *expect, size_t expect_n) {
    cada_tok_ids ids = {0};
    cada_tok_bytes out = {0};
    int ok = cada_tok_encode(t, s, n, 0, &ids) == CADA_OK && cada_tok_decode(t, ids.ids, ids.n, 0, &out) == CADA_OK &&
             out.len == expect_n && memcmp(out.data, expect, expect_n) == 0;
    cada_tok_ids_free(&ids);
    cada_tok_bytes_free(&out);
    return ok;
}

/* Every byte value, in every position of a short string, comes back. */
static int roundtrip_all_bytes(const cada_tokenizer *t) {
    for (int b = 0; b < 256; b++) {
        char s[4] = {'a', (char)b, ' ', (char)b};
        if (!roundtrip(t, s, 4, s, 4)) return 0;
    }
    return 1;
}

static const struct {
    const char *s;
    size_t n;
} bad_utf8[] = {
    {"\xff\xfe", 2},             {"abc\xe2\x82", 5},         {"\xe2\x82x", 3},
    {"\xc0\xaf overlong", 11},   {"\xed\xa0\x80 surrogate", 13}, {"\xf4\x90\x80\x80 too big", 12},
    {"\x80\x80\x80", 3},         {"a\xf0\x9f\x98", 4},       {"\xf0\x9f\x98\x80\x80", 5},
    {"x\0y", 3},                 {"<|im_end|>\xff<|im_end|>", 21}, {" \xff \xfe 12\xff" "34 ", 12},
};

TEST(tok_roundtrip_bytes) {
    const int which[] = {TK_GPT2, TK_SMOLLM2, TK_QWEN3};
    REQUIRE(load_corpus());
    for (int w = 0; w < 3; w++) {
        const cada_tokenizer *t = get_tok(which[w]);
        REQUIRE(t);
        for (size_t i = 0; i < sizeof bad_utf8 / sizeof bad_utf8[0]; i++) {
            char want[64];
            size_t want_n = 0;
            for (size_t j = 0; j < bad_utf8[i].n; j++) /* see the SmolLM2 note below */
                if (t->byte_id[(unsigned char)bad_utf8[i].s[j]] >= 0) want[want_n++] = bad_utf8[i].s[j];
            EXPECT(roundtrip(t, bad_utf8[i].s, bad_utf8[i].n, want, want_n),
                   "tokenizer %d: decode(encode(x)) != x for bad UTF-8 case %zu", which[w], i);
        }
        EXPECT(which[w] == TK_SMOLLM2 || roundtrip_all_bytes(t), "tokenizer %d: all 256 bytes", which[w]);
        /* Random byte strings: with no normalizer every byte string comes back; with NFC
         * (Qwen3) the result is NFC(x), which our NFC leaves unchanged unless x has
         * characters to compose or reorder. */
        uint64_t rng = 0x243F6A8885A308D3ull;
        int failures = 0;
        for (int k = 0; k < 3000; k++) {
            unsigned char buf[64];
            size_t n = (size_t)(k % 64);
            for (size_t j = 0; j < n; j++) {
                rng = rng * 6364136223846793005ull + 1442695040888963407ull;
                unsigned v = (unsigned)(rng >> 56);
                /* mix ASCII, spaces, digits, lead and continuation bytes */
                static const unsigned char pick[] = " a1\xe4\xb8\x80\xcc\x81'\n";
                buf[j] = (unsigned char)(k % 3 == 0 ? v : k % 3 == 1 ? ((v & 0x7F) | 0x80) : pick[v % 10]);
            }
            const char *want = (const char *)buf;
            size_t want_n = n;
            char *nbuf = NULL;
            size_t ncap = 0;
            unsigned char kept[64];
            if (which[w] == TK_SMOLLM2) {
                /* SmolLM2's vocabulary lacks 21 of the 256 byte tokens; tokenizers drops
                 * those bytes (there is no unk token), and so does cada. */
                want_n = 0;
                for (size_t j = 0; j < n; j++)
                    if (t->byte_id[buf[j]] >= 0) kept[want_n++] = buf[j];
                want = (const char *)kept;
            }
            if (which[w] == TK_QWEN3) {
                const char *o;
                if (cada_uni_nfc((const char *)buf, n, &nbuf, &ncap, &o, &want_n) != CADA_OK) { failures++; continue; }
                want = o;
            }
            if (!roundtrip(t, (const char *)buf, n, want, want_n)) failures++;
            free(nbuf);
        }
        EXPECT(failures == 0, "tokenizer %d: %d random byte strings did not round-trip", which[w], failures);
        if (which[w] != TK_QWEN3) {
            EXPECT(roundtrip(t, corpus.text, corpus.len, corpus.text, corpus.len), "tokenizer %d: corpus round trip", which[w]);
            for (int i = 0; i < corpus.n_lines; i++)
                EXPECT(roundtrip(t, corpus.line[i], corpus.line_len[i], corpus.line[i], corpus.line_len[i]),
                       "tokenizer %d: line %d round trip", which[w], i);
        }
    }
    /* NFC keeps ill-formed bytes in place and lets them block composition. */
    const cada_tokenizer *q = get_tok(TK_QWEN3);
    REQUIRE(q);
    EXPECT(roundtrip(q, "e\xff\xcc\x81", 4, "e\xff\xcc\x81", 4));
    EXPECT(roundtrip(q, "e\xcc\x81\xff", 4, "\xc3\xa9\xff", 3));
    EXPECT(roundtrip(q, "\xff\xcc\x81", 3, "\xff\xcc\x81", 3));
}

TEST(tok_nfc) {
    static const struct { const char *in, *out; } cases[] = {
        {"cafe\xcc\x81", "caf\xc3\xa9"},                              /* e + acute */
        {"\xe2\x84\xab", "\xc3\x85"},                                 /* angstrom sign */
        {"\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8", "\xea\xb0\x81"},     /* L V T jamo -> GAG */
        {"a\xcc\x82\xcc\xa3", "\xe1\xba\xad"},                         /* reorder then compose */
        {"a\xcc\xa3\xcc\x82", "\xe1\xba\xad"},
        {"\xe0\xa5\x98", "\xe0\xa4\x95\xe0\xa4\xbc"},                 /* exclusion stays decomposed */
        {"\xcc\x81" "abc", "\xcc\x81" "abc"},                         /* leading combining mark */
        {"plain ascii", "plain ascii"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *buf = NULL;
        size_t cap = 0, n;
        const char *o;
        REQUIRE_OK(cada_uni_nfc(cases[i].in, strlen(cases[i].in), &buf, &cap, &o, &n));
        EXPECT(n == strlen(cases[i].out) && memcmp(o, cases[i].out, n) == 0, "NFC case %zu", i);
        free(buf);
    }
}

/* NFC against tokenizers' normalizers.NFC on 400 random strings of combining marks,
 * jamo, singletons, exclusions and the like. */
TEST(tok_nfc_golden) {
    golden g;
    REQUIRE(golden_read(&g, "nfc"));
    REQUIRE(g.n_texts == 400, "%d cases", g.n_texts);
    int bad = 0;
    char *buf = NULL;
    size_t cap = 0;
    for (int i = 0; i < g.n_texts; i++) {
        const char *o;
        size_t n;
        REQUIRE_OK(cada_uni_nfc(g.texts[i].text, g.texts[i].len, &buf, &cap, &o, &n));
        if (!g.texts[i].nfc || n != g.texts[i].nfc_len || memcmp(o, g.texts[i].nfc, n) != 0) {
            if (bad++ < 5) cada_test_fail(__FILE__, __LINE__, "NFC case %d differs", i);
        }
    }
    EXPECT(bad == 0, "%d of %d NFC cases differ", bad, g.n_texts);
    free(buf);
    golden_free_tok(&g);
}

/* ---- decoding ----------------------------------------------------------------------------------- */

static int valid_utf8(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        int st;
        size_t len = cada_utf8_subpart((const unsigned char *)s + i, n - i, &st);
        if (st != 0) return 0;
        i += len;
    }
    return 1;
}

static void stream_all(const cada_tokenizer *t, const int32_t *ids, size_t n, cada_tok_bytes *all, int *chunks_ok) {
    cada_tok_stream st;
    cada_tok_stream_init(&st);
    *chunks_ok = 1;
    for (size_t i = 0; i < n; i++) {
        size_t before = all->len;
        if (cada_tok_stream_push(t, &st, ids[i], 0, all) != CADA_OK) *chunks_ok = 0;
        if (!valid_utf8(all->data + before, all->len - before)) *chunks_ok = 0;
    }
    size_t before = all->len;
    if (cada_tok_stream_finish(&st, all) != CADA_OK) *chunks_ok = 0;
    if (all->len > before && !valid_utf8(all->data + before, all->len - before)) *chunks_ok = 0;
}

TEST(tok_stream_decode) {
    REQUIRE(load_corpus());
    const int which[] = {TK_GPT2, TK_SMOLLM2, TK_QWEN3};
    for (int w = 0; w < 3; w++) {
        const cada_tokenizer *t = get_tok(which[w]);
        REQUIRE(t);
        /* The corpus plus ill-formed bytes: every chunk is valid UTF-8 and the chunks
         * together equal the lossy conversion of the whole decode. */
        cada_tok_bytes text = {0};
        REQUIRE_OK(cada_tok_utf8_lossy("", 0, &text));
        text.len = 0;
        for (size_t i = 0; i < sizeof bad_utf8 / sizeof bad_utf8[0]; i++) {
            cada_tok_ids ids = {0};
            REQUIRE_OK(cada_tok_encode(t, bad_utf8[i].s, bad_utf8[i].n, 0, &ids));
            cada_tok_bytes raw = {0}, lossy = {0}, streamed = {0};
            REQUIRE_OK(cada_tok_decode(t, ids.ids, ids.n, 0, &raw));
            REQUIRE_OK(cada_tok_utf8_lossy(raw.data, raw.len, &lossy));
            int chunks_ok;
            stream_all(t, ids.ids, ids.n, &streamed, &chunks_ok);
            EXPECT(chunks_ok, "tokenizer %d case %zu: a chunk was not valid UTF-8", which[w], i);
            EXPECT(streamed.len == lossy.len && memcmp(streamed.data, lossy.data, lossy.len) == 0,
                   "tokenizer %d case %zu: streamed text != lossy(decode)", which[w], i);
            cada_tok_ids_free(&ids);
            cada_tok_bytes_free(&raw);
            cada_tok_bytes_free(&lossy);
            cada_tok_bytes_free(&streamed);
        }
        cada_tok_ids ids = {0};
        REQUIRE_OK(cada_tok_encode(t, corpus.text, corpus.len, 0, &ids));
        cada_tok_bytes raw = {0}, streamed = {0};
        REQUIRE_OK(cada_tok_decode(t, ids.ids, ids.n, 0, &raw));
        int chunks_ok;
        stream_all(t, ids.ids, ids.n, &streamed, &chunks_ok);
        EXPECT(chunks_ok && streamed.len == raw.len && memcmp(streamed.data, raw.data, raw.len) == 0,
               "tokenizer %d: streaming the corpus", which[w]);
        cada_tok_ids_free(&ids);
        cada_tok_bytes_free(&raw);
        cada_tok_bytes_free(&streamed);
        cada_tok_bytes_free(&text);
    }
    /* GPT-2 spells an emoji as four byte tokens: nothing comes out until the last. */
    const cada_tokenizer *t = get_tok(TK_GPT2);
    cada_tok_ids ids = {0};
    REQUIRE_OK(cada_tok_encode(t, "\xf0\x9f\xa6\x8a", 4, 0, &ids)); /* U+1F98A */
    REQUIRE(ids.n >= 2, "expected the emoji to take several tokens, got %zu", ids.n);
    cada_tok_stream st;
    cada_tok_stream_init(&st);
    cada_tok_bytes out = {0};
    for (size_t i = 0; i + 1 < ids.n; i++) {
        REQUIRE_OK(cada_tok_stream_push(t, &st, ids.ids[i], 0, &out));
        EXPECT(out.len == 0, "bytes emitted before the character was complete");
    }
    REQUIRE_OK(cada_tok_stream_push(t, &st, ids.ids[ids.n - 1], 0, &out));
    EXPECT(out.len == 4 && memcmp(out.data, "\xf0\x9f\xa6\x8a", 4) == 0);
    /* A cut-off character at the end becomes U+FFFD. */
    out.len = 0;
    REQUIRE_OK(cada_tok_stream_push(t, &st, ids.ids[0], 0, &out));
    EXPECT(out.len == 0);
    REQUIRE_OK(cada_tok_stream_finish(&st, &out));
    EXPECT(out.len == 3 && memcmp(out.data, "\xef\xbf\xbd", 3) == 0);
    cada_tok_bytes_free(&out);
    cada_tok_ids_free(&ids);
}

TEST(tok_lossy_matches_python) {
    /* Expected values from Python: bytes.decode('utf-8', errors='replace'). */
    static const struct { const char *in; size_t n; const char *out; } cases[] = {
        {"\xe2\x82", 2, "\xef\xbf\xbd"},
        {"\xf0\x80\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
        {"\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
        {"\xe2\x82" "A", 3, "\xef\xbf\xbd" "A"},
        {"\xff\xfe", 2, "\xef\xbf\xbd\xef\xbf\xbd"},
        {"\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd"},
        {"\xf4\x90\x80\x80", 4, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
        {"a\xf0\x9f\x98", 4, "a\xef\xbf\xbd"},
        {"\xf0\x9f\x98\x80\x80", 5, "\xf0\x9f\x98\x80\xef\xbf\xbd"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cada_tok_bytes out = {0};
        REQUIRE_OK(cada_tok_utf8_lossy(cases[i].in, cases[i].n, &out));
        EXPECT(out.len == strlen(cases[i].out) && memcmp(out.data, cases[i].out, out.len) == 0, "lossy case %zu", i);
        cada_tok_bytes_free(&out);
    }
}

/* ---- flags and vocabulary ---------------------------------------------------------------------- */

TEST(tok_specials_and_flags) {
    const cada_tokenizer *q = get_tok(TK_QWEN3), *s = get_tok(TK_SMOLLM2), *g = get_tok(TK_GPT2);
    REQUIRE(q && s && g);
    EXPECT(cada_tok_token_id(q, "<|im_end|>") == 151645);
    EXPECT(cada_tok_token_id(q, "<think>") == 151667);
    EXPECT(cada_tok_is_special(q, 151645) && !cada_tok_is_special(q, 151667));
    EXPECT(cada_tok_eos_id(q) == 151645 && cada_tok_pad_id(q) == 151643 && cada_tok_bos_id(q) == -1);
    EXPECT(cada_tok_vocab_size(q) == 151669, "%d", (int)cada_tok_vocab_size(q));
    EXPECT(cada_tok_bos_id(s) == 1 && cada_tok_eos_id(s) == 2 && cada_tok_pad_id(s) == 2);
    EXPECT(cada_tok_bos_id(g) == 50256 && cada_tok_eos_id(g) == 50256);
    size_t len;
    const char *b = cada_tok_token_bytes(g, cada_tok_token_id(g, "\xc4\xa0the"), &len); /* "Ġthe" */
    EXPECT(b && len == 4 && memcmp(b, " the", 4) == 0);
    EXPECT(cada_tok_token_bytes(g, 50257, &len) == NULL && cada_tok_token_bytes(g, -1, &len) == NULL);

    cada_tok_ids ids = {0};
    REQUIRE_OK(cada_tok_encode(s, "Hi", 2, CADA_TOK_ADD_BOS | CADA_TOK_ADD_EOS, &ids));
    EXPECT(ids.n >= 3 && ids.ids[0] == 1 && ids.ids[ids.n - 1] == 2);
    ids.n = 0;
    EXPECT(cada_tok_encode(q, "Hi", 2, CADA_TOK_ADD_BOS, &ids) == CADA_ERR_ARG && ids.n == 0);
    EXPECT(strstr(cada_error_message(), "bos") != NULL, "%s", cada_error_message());
    /* special tokens in text: matched by default, plain text under SPLIT_SPECIAL */
    ids.n = 0;
    REQUIRE_OK(cada_tok_encode(q, "a<|im_end|>b", 12, 0, &ids));
    EXPECT(ids.n == 3 && ids.ids[1] == 151645);
    ids.n = 0;
    REQUIRE_OK(cada_tok_encode(q, "a<|im_end|>b", 12, CADA_TOK_SPLIT_SPECIAL, &ids));
    for (size_t i = 0; i < ids.n; i++) EXPECT(ids.ids[i] != 151645);
    cada_tok_ids_free(&ids);

    cada_tok_bytes out = {0};
    int32_t bad[] = {100, 151669};
    EXPECT(cada_tok_decode(q, bad, 2, 0, &out) == CADA_ERR_ARG);
    EXPECT(strstr(cada_error_message(), "ids[1]") != NULL, "%s", cada_error_message());
    int32_t with_special[] = {151644, 872, 151645};
    REQUIRE_OK(cada_tok_decode(q, with_special, 3, CADA_TOK_SKIP_SPECIAL, &out));
    EXPECT(strcmp(out.data, "user") == 0, "%s", out.data);
    cada_tok_bytes_free(&out);
}

/* tokenizer_config.json's add_bos_token / add_eos_token: reported, and applied only
 * when asked; add_special_tokens follows tokenizer.json's post_processor alone, as in
 * transformers 5 (AutoTokenizer on tok_synth_c.json with such a config adds nothing). */
TEST(tok_config_flags) {
    char dir[1024], p[1200];
    snprintf(dir, sizeof dir, "%s/cfgflags", cada_test_tmpdir());
    snprintf(p, sizeof p, "mkdir -p '%s'", dir);
    REQUIRE(system(p) == 0);
    size_t len;
    char *json = read_all(path_in("%s/tests/ref/golden/tok_synth_c.json", cada_test_root()), &len);
    REQUIRE(json);
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    int ok = write_all(p, json, len);
    free(json);
    REQUIRE(ok);
    const char *cfg = "{\"bos_token\": \"<s>\", \"eos_token\": {\"content\": \"</s>\"}, \"add_bos_token\": true, "
                      "\"add_eos_token\": true}";
    snprintf(p, sizeof p, "%s/tokenizer_config.json", dir);
    REQUIRE(write_all(p, cfg, strlen(cfg)));
    cada_tokenizer *t;
    REQUIRE_OK(cada_tok_load(&t, dir, 0));
    EXPECT(cada_tok_config_flags(t) == (CADA_TOK_ADD_BOS | CADA_TOK_ADD_EOS));
    EXPECT(cada_tok_bos_id(t) == 0 && cada_tok_eos_id(t) == 1);
    cada_tok_ids a = {0}, b = {0}, c = {0};
    REQUIRE_OK(cada_tok_encode(t, "hello world", 11, 0, &a));
    REQUIRE_OK(cada_tok_encode(t, "hello world", 11, CADA_TOK_ADD_SPECIAL, &b));
    REQUIRE_OK(cada_tok_encode(t, "hello world", 11, cada_tok_config_flags(t), &c));
    EXPECT(a.n > 0 && b.n == a.n && memcmp(a.ids, b.ids, a.n * sizeof *a.ids) == 0);
    EXPECT(c.n == a.n + 2 && c.ids[0] == 0 && c.ids[c.n - 1] == 1 && memcmp(c.ids + 1, a.ids, a.n * sizeof *a.ids) == 0);
    cada_tok_ids_free(&a);
    cada_tok_ids_free(&b);
    cada_tok_ids_free(&c);
    cada_tok_free(t);
    EXPECT(cada_tok_config_flags(get_tok(TK_QWEN3)) == 0 && cada_tok_config_flags(get_tok(TK_SMOLLM2)) == 0);
}

/* ---- chat templates --------------------------------------------------------------------------- */

static const char *const LLAMA3_TEMPLATE =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + "
    "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";

/* Writes dir/tokenizer.json (synth_a plus the Llama 3 header tokens) and
 * dir/tokenizer_config.json with the given template; returns 1 on success. */
static int make_tokenizer_dir(const char *dir, const char *tmpl) {
    size_t len;
    char *base = read_all(path_in("%s/tests/ref/golden/tok_synth_a.json", cada_test_root()), &len);
    if (!base) return 0;
    cJSON *root = cJSON_Parse(base);
    free(base);
    if (!root) return 0;
    cJSON *added = cJSON_GetObjectItem(root, "added_tokens");
    int next = 0;
    cJSON *x;
    cJSON_ArrayForEach(x, added) {
        int id = cJSON_GetObjectItem(x, "id")->valueint;
        if (id + 1 > next) next = id + 1;
    }
    const char *names[] = {"<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"};
    for (int i = 0; i < 4; i++) {
        cJSON *a = cJSON_CreateObject();
        cJSON_AddNumberToObject(a, "id", next + i);
        cJSON_AddStringToObject(a, "content", names[i]);
        cJSON_AddBoolToObject(a, "single_word", 0);
        cJSON_AddBoolToObject(a, "lstrip", 0);
        cJSON_AddBoolToObject(a, "rstrip", 0);
        cJSON_AddBoolToObject(a, "normalized", 0);
        cJSON_AddBoolToObject(a, "special", 1);
        cJSON_AddItemToArray(added, a);
    }
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    cJSON *cfg = cJSON_CreateObject();
    cJSON_AddStringToObject(cfg, "bos_token", "<|begin_of_text|>");
    cJSON_AddStringToObject(cfg, "eos_token", "<|eot_id|>");
    cJSON_AddStringToObject(cfg, "chat_template", tmpl);
    char *cfg_json = cJSON_PrintUnformatted(cfg);
    cJSON_Delete(cfg);
    char p[1024];
    snprintf(p, sizeof p, "mkdir -p '%s'", dir);
    int ok = system(p) == 0;
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    ok = ok && json && write_all(p, json, strlen(json));
    snprintf(p, sizeof p, "%s/tokenizer_config.json", dir);
    ok = ok && cfg_json && write_all(p, cfg_json, strlen(cfg_json));
    cJSON_free(json);
    cJSON_free(cfg_json);
    return ok;
}

TEST(tok_chat_llama3) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/llama3", cada_test_tmpdir());
    REQUIRE(make_tokenizer_dir(dir, LLAMA3_TEMPLATE));
    cada_tokenizer *t;
    REQUIRE_OK(cada_tok_load(&t, dir, 0));
    EXPECT(cada_tok_chat_family(t) == CADA_CHAT_LLAMA3);
    cada_chat_msg msgs[] = {{"system", "You are a helpful assistant."},
                            {"user", "  What is 2+2?\n"},
                            {"assistant", "4"},
                            {"user", "And 3+3?"}};
    /* Meta's documented Llama 3 prompt format, written out by hand. */
    const char *want =
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n4<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nAnd 3+3?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n";
    cada_tok_bytes out = {0};
    REQUIRE_OK(cada_tok_chat_render(t, msgs, 4, CADA_CHAT_ADD_GENERATION_PROMPT, &out));
    EXPECT(strcmp(out.data, want) == 0, "got\n%s", out.data);
    /* The header tokens come out as single special ids. */
    cada_tok_ids ids = {0};
    REQUIRE_OK(cada_tok_encode(t, out.data, out.len, 0, &ids));
    int32_t bot = cada_tok_token_id(t, "<|begin_of_text|>"), eot = cada_tok_token_id(t, "<|eot_id|>");
    EXPECT(ids.n > 0 && ids.ids[0] == bot);
    int n_eot = 0;
    for (size_t i = 0; i < ids.n; i++) n_eot += ids.ids[i] == eot;
    EXPECT(n_eot == 4);
    EXPECT(cada_tok_bos_id(t) == bot && cada_tok_eos_id(t) == eot);
    cada_tok_ids_free(&ids);
    out.len = 0;
    REQUIRE_OK(cada_tok_chat_render(t, msgs + 1, 1, 0, &out));
    EXPECT(strcmp(out.data, "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>") == 0,
           "got\n%s", out.data);
    cada_tok_bytes_free(&out);
    cada_tok_free(t);

    /* Templates that are not implemented are refused by name, never guessed. */
    snprintf(dir, sizeof dir, "%s/llama31", cada_test_tmpdir());
    REQUIRE(make_tokenizer_dir(dir, "{{ '<|start_header_id|>system<|end_header_id|>' }}Cutting Knowledge Date: December 2023"));
    REQUIRE_OK(cada_tok_load(&t, dir, 0));
    EXPECT(cada_tok_chat_render(t, msgs, 1, 0, &out) == CADA_ERR_UNSUPPORTED);
    EXPECT(strstr(cada_error_message(), "Llama 3.1") != NULL, "%s", cada_error_message());
    cada_tok_free(t);
    const cada_tokenizer *g = get_tok(TK_GPT2);
    EXPECT(cada_tok_chat_render(g, msgs, 1, 0, &out) == CADA_ERR_UNSUPPORTED);
    EXPECT(strstr(cada_error_message(), "encoder.json") != NULL, "%s", cada_error_message());
    cada_tok_bytes_free(&out);
}

/* ---- bad files ----------------------------------------------------------------------------------- */

/* Loads a tokenizer.json made from synth_a by edit(); expects failure with status want
 * and a message naming the file and containing field. */
static void expect_load_error(const char *name, char *(*edit)(const char *base), cada_status want, const char *field) {
    size_t len;
    char *base = read_all(path_in("%s/tests/ref/golden/tok_synth_a.json", cada_test_root()), &len);
    if (!base) {
        cada_test_fail(__FILE__, __LINE__, "cannot read tok_synth_a.json");
        return;
    }
    char *text = edit(base);
    free(base);
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.json", cada_test_tmpdir(), name);
    if (!text || !write_all(path, text, strlen(text))) {
        cada_test_fail(__FILE__, __LINE__, "%s: cannot write the test file", name);
        free(text);
        return;
    }
    free(text);
    cada_tokenizer *t = (cada_tokenizer *)1;
    cada_status s = cada_tok_load_hf(&t, path, NULL);
    const char *msg = cada_error_message();
    EXPECT(s == want, "%s: status %s, want %s (%s)", name, cada_status_name(s), cada_status_name(want), msg);
    EXPECT(t == NULL, "%s: *out must be NULL on failure", name);
    EXPECT(strstr(msg, path) != NULL, "%s: message does not name the file: %s", name, msg);
    EXPECT(strstr(msg, field) != NULL, "%s: message does not name '%s': %s", name, field, msg);
    if (s == CADA_OK) cada_tok_free(t);
}

static char *json_edit(const char *base, void (*fn)(cJSON *root)) {
    cJSON *root = cJSON_Parse(base);
    if (!root) return NULL;
    fn(root);
    char *out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    char *copy = out ? strdup(out) : NULL;
    cJSON_free(out);
    return copy;
}

static void drop_vocab(cJSON *r) { cJSON_DeleteItemFromObject(cJSON_GetObjectItem(r, "model"), "vocab"); }
static void unknown_merge(cJSON *r) {
    cJSON *merges = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "model"), "merges");
    cJSON_ReplaceItemInArray(merges, 3, cJSON_CreateString("Ġ nosuchtoken"));
}
static void bad_merge_form(cJSON *r) {
    cJSON *merges = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "model"), "merges");
    cJSON_ReplaceItemInArray(merges, 5, cJSON_CreateNumber(7));
}
static void bad_vocab_id(cJSON *r) {
    cJSON *vocab = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "model"), "vocab");
    cJSON_ReplaceItemInObject(vocab, "a", cJSON_CreateString("seven"));
}
static void unsupported_pre(cJSON *r) {
    cJSON_ReplaceItemInObject(r, "pre_tokenizer", cJSON_Parse("{\"type\":\"Whitespace\"}"));
}
static void bad_regex(cJSON *r) {
    cJSON_ReplaceItemInObject(r, "pre_tokenizer",
                              cJSON_Parse("{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(unclosed\"},"
                                          "\"behavior\":\"Isolated\",\"invert\":false}"));
}
static void bad_added_id(cJSON *r) {
    cJSON *a = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "added_tokens"), 3);
    cJSON_ReplaceItemInObject(a, "id", cJSON_CreateNumber(9999));
}
static void unsupported_model(cJSON *r) {
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(r, "model"), "type", cJSON_CreateString("WordPiece"));
}

static char *e_drop_vocab(const char *b) { return json_edit(b, drop_vocab); }
static char *e_unknown_merge(const char *b) { return json_edit(b, unknown_merge); }
static char *e_bad_merge_form(const char *b) { return json_edit(b, bad_merge_form); }
static char *e_bad_vocab_id(const char *b) { return json_edit(b, bad_vocab_id); }
static char *e_unsupported_pre(const char *b) { return json_edit(b, unsupported_pre); }
static char *e_bad_regex(const char *b) { return json_edit(b, bad_regex); }
static char *e_bad_added_id(const char *b) { return json_edit(b, bad_added_id); }
static char *e_unsupported_model(const char *b) { return json_edit(b, unsupported_model); }
static char *e_truncated(const char *b) { return strndup(b, strlen(b) / 2); }
static char *e_malformed(const char *b) {
    char *s = strdup(b);
    char *p = s ? strstr(s, "\"merges\"") : NULL;
    if (p) p[8] = ';'; /* "merges"; [...] */
    return s;
}
static char *e_not_object(const char *b) {
    (void)b;
    return strdup("[1, 2, 3]");
}

TEST(tok_bad_files) {
    expect_load_error("no_vocab", e_drop_vocab, CADA_ERR_FORMAT, "model.vocab");
    expect_load_error("unknown_merge", e_unknown_merge, CADA_ERR_FORMAT, "model.merges[3]");
    expect_load_error("bad_merge_form", e_bad_merge_form, CADA_ERR_FORMAT, "model.merges[5]");
    expect_load_error("bad_vocab_id", e_bad_vocab_id, CADA_ERR_FORMAT, "model.vocab['a']");
    expect_load_error("unsupported_pre", e_unsupported_pre, CADA_ERR_UNSUPPORTED, "pre_tokenizer.type 'Whitespace'");
    expect_load_error("bad_regex", e_bad_regex, CADA_ERR_FORMAT, "pre_tokenizer.pattern");
    expect_load_error("bad_added_id", e_bad_added_id, CADA_ERR_UNSUPPORTED, "added_tokens[3]");
    expect_load_error("unsupported_model", e_unsupported_model, CADA_ERR_UNSUPPORTED, "model.type 'WordPiece'");
    expect_load_error("truncated", e_truncated, CADA_ERR_FORMAT, "truncated");
    expect_load_error("malformed", e_malformed, CADA_ERR_FORMAT, "malformed JSON at byte");
    expect_load_error("not_object", e_not_object, CADA_ERR_FORMAT, "not a JSON object");

    /* Missing files and other formats. */
    cada_tokenizer *t = (cada_tokenizer *)1;
    EXPECT(cada_tok_load(&t, "/nonexistent/tokenizer.json", 0) == CADA_ERR_IO && t == NULL);
    EXPECT(strstr(cada_error_message(), "/nonexistent/tokenizer.json") != NULL, "%s", cada_error_message());
    char p[1024], q[1024];
    snprintf(p, sizeof p, "%s/bad.bpe", cada_test_tmpdir());
    REQUIRE(write_all(p, "#version: 0.2\n\xc4\xa0 t\nnot-a-pair\n", 29));
    EXPECT(cada_tok_load_gpt2(&t, path_in("%s/tokenizers/gpt2/encoder.json", shared_dir()), p) == CADA_ERR_FORMAT);
    EXPECT(strstr(cada_error_message(), "bad.bpe: line 3") != NULL, "%s", cada_error_message());
    snprintf(q, sizeof q, "%s/fake.gguf", cada_test_tmpdir());
    REQUIRE(write_all(q, "GGUF\x03\0\0\0truncated", 17));
    EXPECT(cada_tok_load(&t, q, 0) != CADA_OK && t == NULL);
    EXPECT(strstr(cada_error_message(), "fake.gguf") != NULL, "%s", cada_error_message());
}
