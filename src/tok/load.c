/* tok/load.c: building a tokenizer (vocabulary, merges, added tokens, derived tables)
 * and freeing it. The file formats that feed these builders are in load_formats.c. */
#include "tok/tok_internal.h"
#include "tok/unicode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- small helpers ------------------------------------------------------------------- */

static uint64_t str_hash(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h ^ (h >> 31);
}

/* Prints at most 48 bytes of a token for an error message. */
static int show_len(size_t n) { return n > 48 ? 48 : (int)n; }

cada_tokenizer *tok_alloc(const char *source) {
    cada_tokenizer *t = CADA_CALLOC(1, sizeof *t, "tokenizer");
    if (!t) return NULL;
    t->source = strdup(source ? source : "(tokenizer)");
    t->pool = CADA_CALLOC(1, sizeof *t->pool, "tokenizer worker pool");
    if (!t->source || !t->pool) {
        free(t->source);
        free(t->pool);
        free(t);
        CADA_ERR(CADA_ERR_NOMEM, "tokenizer: cannot allocate");
        return NULL;
    }
    t->unk_id = t->bos_id = t->eos_id = t->pad_id = -1;
    for (int b = 0; b < 256; b++) t->byte_id[b] = -1;
    return t;
}

void cada_tok_free(cada_tokenizer *t) {
    if (!t) return;
    tok_pool_free(t->pool);
    free(t->source);
    free(t->str_pool);
    free(t->str_off);
    free(t->str_len);
    free(t->in_model);
    free(t->vocab_table);
    free(t->dec_pool);
    free(t->dec_off);
    free(t->is_special);
    tok_merges_free(&t->merges);
    for (int i = 0; i < t->n_added; i++) {
        if (t->added[i].match != t->added[i].content) free(t->added[i].match);
        free(t->added[i].content);
    }
    free(t->added);
    free(t->raw_matcher.idx);
    free(t->norm_matcher.idx);
    for (int i = 0; i < t->n_pre; i++) pcre2_code_free(t->pre[i].re);
    free(t->chat_default_system);
    free(t->bos_text);
    free(t->chat_refusal);
    free(t);
}

/* ---- vocabulary ---------------------------------------------------------------------- */

int32_t tok_vocab_lookup(const cada_tokenizer *t, const char *s, size_t len) {
    if (!t->vocab_table) return -1;
    for (uint64_t i = str_hash(s, len) & t->vocab_mask;; i = (i + 1) & t->vocab_mask) {
        int32_t id = t->vocab_table[i];
        if (id < 0) return -1;
        if (t->str_len[id] == len && memcmp(t->str_pool + t->str_off[id], s, len) == 0) return id;
    }
}

cada_status tok_set_vocab(cada_tokenizer *t, size_t n, const char *const *strs, const size_t *lens,
                          const int32_t *ids, const char *field) {
    if (n == 0) return CADA_ERR(CADA_ERR_FORMAT, "%s: %s is empty", t->source, field);
    if (n > (size_t)INT32_MAX / 2) return CADA_ERR(CADA_ERR_FORMAT, "%s: %s has %zu entries", t->source, field, n);
    int32_t max_id = -1;
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0) return CADA_ERR(CADA_ERR_FORMAT, "%s: %s: negative id %d", t->source, field, (int)ids[i]);
        if (ids[i] > max_id) max_id = ids[i];
        bytes += lens[i];
    }
    if ((size_t)max_id >= 4 * n + 1024)
        return CADA_ERR(CADA_ERR_FORMAT, "%s: %s: id %d is far beyond the %zu entries", t->source, field,
                        (int)max_id, n);
    size_t nv = (size_t)max_id + 1;
    t->n_vocab = (int32_t)nv;
    t->str_pool = CADA_MALLOC(bytes + 1, "vocabulary strings");
    t->str_off = CADA_CALLOC(nv, sizeof *t->str_off, "vocabulary offsets");
    t->str_len = CADA_MALLOC(nv * sizeof *t->str_len, "vocabulary lengths");
    t->in_model = CADA_CALLOC(nv, 1, "vocabulary flags");
    if (!t->str_pool || !t->str_off || !t->str_len || !t->in_model) return CADA_ERR_NOMEM;
    for (size_t i = 0; i < nv; i++) t->str_len[i] = UINT32_MAX; /* a hole until filled */
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (t->in_model[id])
            return CADA_ERR(CADA_ERR_FORMAT, "%s: %s: id %d is given to both '%.*s' and '%.*s'", t->source,
                            field, (int)id, show_len(t->str_len[id]), t->str_pool + t->str_off[id],
                            show_len(lens[i]), strs[i]);
        if (lens[i] >= UINT32_MAX)
            return CADA_ERR(CADA_ERR_FORMAT, "%s: %s: token %d is too long", t->source, field, (int)id);
        memcpy(t->str_pool + off, strs[i], lens[i]);
        t->str_off[id] = off;
        t->str_len[id] = (uint32_t)lens[i];
        t->in_model[id] = 1;
        off += lens[i];
    }
    uint64_t cap = 16;
    while (cap < 2 * (uint64_t)n) cap *= 2;
    t->vocab_table = CADA_MALLOC(cap * sizeof *t->vocab_table, "vocabulary hash table");
    if (!t->vocab_table) return CADA_ERR_NOMEM;
    memset(t->vocab_table, 0xFF, cap * sizeof *t->vocab_table);
    t->vocab_mask = cap - 1;
    /* A repeated string maps to its last id (a Python dict / serde map would). */
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        const char *s = t->str_pool + t->str_off[id];
        size_t len = t->str_len[id];
        for (uint64_t j = str_hash(s, len) & t->vocab_mask;; j = (j + 1) & t->vocab_mask) {
            int32_t cur = t->vocab_table[j];
            if (cur < 0) {
                t->vocab_table[j] = id;
                break;
            }
            if (t->str_len[cur] == len && memcmp(t->str_pool + t->str_off[cur], s, len) == 0) {
                t->vocab_table[j] = id;
                break;
            }
        }
    }
    return CADA_OK;
}

cada_status tok_add_merge(cada_tokenizer *t, const char *src, const char *a, size_t alen, const char *b,
                          size_t blen, uint32_t rank, const char *field, size_t index) {
    if (!t->merges.slots) return CADA_ERR(CADA_ERR_INTERNAL, "%s: merge table not initialised", t->source);
    int32_t ia = tok_vocab_lookup(t, a, alen);
    if (ia < 0)
        return CADA_ERR(CADA_ERR_FORMAT, "%s: %s[%zu]: token '%.*s' is not in the vocabulary", src, field,
                        index, show_len(alen), a);
    int32_t ib = tok_vocab_lookup(t, b, blen);
    if (ib < 0)
        return CADA_ERR(CADA_ERR_FORMAT, "%s: %s[%zu]: token '%.*s' is not in the vocabulary", src, field,
                        index, show_len(blen), b);
    char stack[256];
    char *ab = alen + blen <= sizeof stack ? stack : malloc(alen + blen);
    if (!ab) return CADA_ERR(CADA_ERR_NOMEM, "%s: merge of %zu bytes", src, alen + blen);
    memcpy(ab, a, alen);
    memcpy(ab + alen, b, blen);
    int32_t id = tok_vocab_lookup(t, ab, alen + blen);
    cada_status s = CADA_OK;
    if (id < 0)
        s = CADA_ERR(CADA_ERR_FORMAT, "%s: %s[%zu]: merged token '%.*s' is not in the vocabulary", src, field,
                     index, show_len(alen + blen), ab);
    else tok_merges_put(&t->merges, ia, ib, rank, id);
    if (ab != stack) free(ab);
    return s;
}

cada_status tok_add_added(cada_tokenizer *t, const char *content, size_t len, int32_t id,
                          int special, int normalized, int lstrip, int rstrip, int single_word,
                          const char *field) {
    if (len == 0) return CADA_OK; /* tokenizers ignores empty added tokens */
    if (id < 0) return CADA_ERR(CADA_ERR_FORMAT, "%s: %s: negative id", t->source, field);
    /* Same content again: the later definition wins (as tokenizers' add_tokens). */
    tok_added *a = NULL;
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].len == len && memcmp(t->added[i].content, content, len) == 0) a = &t->added[i];
    if (!a) {
        tok_added *p = realloc(t->added, (size_t)(t->n_added + 1) * sizeof *p);
        if (!p) return CADA_ERR(CADA_ERR_NOMEM, "%s: added tokens", t->source);
        t->added = p;
        a = &t->added[t->n_added++];
        memset(a, 0, sizeof *a);
        a->content = malloc(len + 1);
        if (!a->content) {
            t->n_added--;
            return CADA_ERR(CADA_ERR_NOMEM, "%s: added token", t->source);
        }
        memcpy(a->content, content, len);
        a->content[len] = 0;
        a->len = len;
        a->match = a->content;
        a->match_len = len;
    }
    a->id = id;
    a->special = (uint8_t)!!special;
    a->normalized = (uint8_t)!!normalized;
    a->lstrip = (uint8_t)!!lstrip;
    a->rstrip = (uint8_t)!!rstrip;
    a->single_word = (uint8_t)!!single_word;
    return CADA_OK;
}

cada_status tok_compile_regex(pcre2_code **re, const char *pattern, size_t len, int literal,
                              const char *source, const char *field) {
    /* UTF + UCP: \s, \p{L}, \p{N} and (?i) work on Unicode properties as in Oniguruma.
     * MATCH_INVALID_UTF: ill-formed bytes in the subject match nothing instead of making
     * the match fail. PCRE2_LITERAL does not combine with UCP (nor needs it). */
    uint32_t opts = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP);
    int err;
    PCRE2_SIZE off;
    *re = pcre2_compile((PCRE2_SPTR)pattern, len, opts, &err, &off, NULL);
    if (!*re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return CADA_ERR(CADA_ERR_FORMAT, "%s: %s: regex does not compile at offset %zu: %s", source, field,
                        (size_t)off, (const char *)msg);
    }
    /* JIT is an optimisation: without it (no JIT support on this CPU/build) pcre2_match
     * interprets the pattern with the same result. */
    (void)pcre2_jit_compile(*re, PCRE2_JIT_COMPLETE);
    return CADA_OK;
}

/* ---- derived tables ------------------------------------------------------------------ */

static cada_status build_matcher(cada_tokenizer *t, tok_added_matcher *m, int normalized) {
    int n = 0;
    for (int i = 0; i < t->n_added; i++) n += t->added[i].normalized == normalized;
    m->n = n;
    memset(m->first, 0, sizeof m->first);
    if (n == 0) return CADA_OK;
    m->idx = CADA_MALLOC((size_t)n * sizeof *m->idx, "added-token matcher");
    if (!m->idx) return CADA_ERR_NOMEM;
    /* Counting sort by first byte, then longest first within a byte (insertion sort;
     * there are a few dozen added tokens), so that the first hit is the longest. */
    uint32_t count[256] = {0};
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].normalized == normalized && t->added[i].match_len > 0)
            count[(unsigned char)t->added[i].match[0]]++;
    m->first[0] = 0;
    for (int b = 0; b < 256; b++) m->first[b + 1] = m->first[b] + count[b];
    uint32_t fill[256];
    memcpy(fill, m->first, sizeof fill);
    for (int i = 0; i < t->n_added; i++) {
        const tok_added *a = &t->added[i];
        if (a->normalized != normalized || a->match_len == 0) continue;
        unsigned b = (unsigned char)a->match[0];
        uint32_t j = fill[b]++;
        while (j > m->first[b] && t->added[m->idx[j - 1]].match_len < a->match_len) {
            m->idx[j] = m->idx[j - 1];
            j--;
        }
        m->idx[j] = i;
    }
    m->n = (int)m->first[256];
    return CADA_OK;
}

cada_status tok_finish(cada_tokenizer *t) {
    if (!t->str_len) return CADA_ERR(CADA_ERR_INTERNAL, "%s: no vocabulary", t->source);
    /* Grow the per-id arrays to cover added tokens outside the model vocabulary. */
    int32_t nv = t->n_vocab;
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].id >= nv) nv = t->added[i].id + 1;
    if (nv > t->n_vocab) {
        if ((size_t)nv > (size_t)t->n_vocab + 4 * (size_t)t->n_added + 1024)
            return CADA_ERR(CADA_ERR_FORMAT, "%s: added token id %d is far beyond the vocabulary (%d)",
                            t->source, (int)nv - 1, (int)t->n_vocab);
        uint64_t *off = realloc(t->str_off, (size_t)nv * sizeof *off);
        if (off) t->str_off = off;
        uint32_t *len = realloc(t->str_len, (size_t)nv * sizeof *len);
        if (len) t->str_len = len;
        uint8_t *im = realloc(t->in_model, (size_t)nv);
        if (im) t->in_model = im;
        if (!off || !len || !im) return CADA_ERR(CADA_ERR_NOMEM, "%s: vocabulary of %d", t->source, (int)nv);
        for (int32_t i = t->n_vocab; i < nv; i++) {
            t->str_off[i] = 0;
            t->str_len[i] = UINT32_MAX;
            t->in_model[i] = 0;
        }
        t->n_vocab = nv;
    }
    t->is_special = CADA_CALLOC((size_t)nv, 1, "special-token flags");
    if (!t->is_special) return CADA_ERR_NOMEM;

    /* Added tokens: string for ids the model lacks; NFC match strings. Tokens are also
     * indexed by id for decoding. */
    int32_t *added_of = CADA_MALLOC((size_t)nv * sizeof *added_of, "added-token index");
    if (!added_of) return CADA_ERR_NOMEM;
    for (int32_t i = 0; i < nv; i++) added_of[i] = -1;
    cada_status st = CADA_OK;
    for (int i = 0; i < t->n_added && st == CADA_OK; i++) {
        tok_added *a = &t->added[i];
        added_of[a->id] = i;
        t->is_special[a->id] = a->special;
        if (a->normalized && t->nfc && a->match == a->content) {
            char *buf = NULL;
            size_t cap = 0, n;
            const char *out;
            st = cada_uni_nfc(a->content, a->len, &buf, &cap, &out, &n);
            if (st == CADA_OK && out == buf) {
                a->match = buf;
                a->match_len = n;
            } else {
                free(buf);
            }
        }
    }
    if (st != CADA_OK) {
        free(added_of);
        return st;
    }

    /* Decode bytes, as tokenizers' ByteLevel decoder makes them: each character of the
     * token's text (an added token's content, else the vocabulary string) maps back
     * through the byte-level alphabet; if any character is outside it, the text's UTF-8
     * is used as is. ASCII added tokens thus give their text; an added token made of
     * Latin-1 letters ("café") gives the bytes those letters stand for, as it does in
     * tokenizers. */
    size_t total = 0;
    for (int32_t i = 0; i < nv; i++) {
        if (added_of[i] >= 0) total += t->added[added_of[i]].len;
        else if (t->str_len[i] != UINT32_MAX) total += t->str_len[i];
    }
    t->dec_pool = CADA_MALLOC(total + 1, "decode table");
    t->dec_off = CADA_MALLOC(((size_t)nv + 1) * sizeof *t->dec_off, "decode offsets");
    if (!t->dec_pool || !t->dec_off) {
        free(added_of);
        return CADA_ERR_NOMEM;
    }
    size_t o = 0;
    for (int32_t i = 0; i < nv; i++) {
        t->dec_off[i] = o;
        const unsigned char *s;
        size_t n;
        if (added_of[i] >= 0) {
            const tok_added *a = &t->added[added_of[i]];
            s = (const unsigned char *)a->content;
            n = a->len;
            if (t->str_len[i] == UINT32_MAX) t->str_len[i] = 0; /* marks the id present */
        } else if (t->str_len[i] != UINT32_MAX) {
            s = (const unsigned char *)t->str_pool + t->str_off[i];
            n = t->str_len[i];
        } else {
            continue;
        }
        size_t start = o;
        int mapped = 1;
        for (size_t j = 0; j < n;) {
            uint32_t cp;
            size_t len = cada_utf8_decode(s + j, n - j, &cp);
            int b = cp == CADA_UNI_INVALID ? -1 : tok_cp_to_byte(cp);
            if (b < 0) {
                mapped = 0;
                break;
            }
            t->dec_pool[o++] = (unsigned char)b;
            j += len;
        }
        if (!mapped) {
            o = start;
            memcpy(t->dec_pool + o, s, n);
            o += n;
        }
    }
    t->dec_off[nv] = o;
    free(added_of);

    /* Byte tokens. */
    for (int b = 0; b < 256; b++) {
        unsigned char u[4];
        size_t n = cada_utf8_encode(tok_byte_to_cp((unsigned char)b), u);
        t->byte_id[b] = tok_vocab_lookup(t, (const char *)u, n);
    }
    CADA_TRY(build_matcher(t, &t->raw_matcher, 0));
    CADA_TRY(build_matcher(t, &t->norm_matcher, 1));
    return CADA_OK;
}
