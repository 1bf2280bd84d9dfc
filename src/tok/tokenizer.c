/* tok/tokenizer.c: encoding, decoding and the streaming decoder (see tokenizer.h).
 *
 * The encode pipeline mirrors tokenizers' TokenizerImpl::encode_single_sequence:
 * AddedVocabulary::extract_and_normalize (raw added tokens, normalizer, normalized added
 * tokens), then the pre-tokenizer, then the model on each piece. Each stage works on
 * byte ranges of its input and calls the next stage per piece, depth first, so nothing
 * is copied except what a stage rewrites (NFC output, ByteLevel's prefix space). */
#include "tok/tok_internal.h"
#include "tok/unicode.h"

#include <stdlib.h>
#include <string.h>

/* ---- byte-level alphabet ------------------------------------------------------------- */

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes (! .. ~, ¡ .. ¬, ® .. ÿ) map to
 * themselves, the other 68 bytes to U+0100.. in byte order. */
static int printable_byte(unsigned b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
}

uint32_t tok_byte_to_cp(unsigned char b) {
    if (printable_byte(b)) return b;
    uint32_t k = 0;
    for (unsigned x = 0; x < b; x++) k += !printable_byte(x);
    return 256 + k;
}

int tok_cp_to_byte(uint32_t cp) {
    if (cp < 256) return printable_byte(cp) ? (int)cp : -1;
    if (cp >= 256 + 68) return -1;
    uint32_t k = cp - 256;
    for (unsigned x = 0; x < 256; x++)
        if (!printable_byte(x) && k-- == 0) return (int)x;
    return -1;
}

/* ---- buffers ------------------------------------------------------------------------- */

void cada_tok_ids_free(cada_tok_ids *v) {
    free(v->ids);
    memset(v, 0, sizeof *v);
}

void cada_tok_bytes_free(cada_tok_bytes *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}

static cada_status ids_reserve(cada_tok_ids *v, size_t extra) {
    if (v->n + extra <= v->cap) return CADA_OK;
    size_t cap = v->cap ? v->cap : 256;
    while (cap < v->n + extra) cap *= 2;
    int32_t *p = realloc(v->ids, cap * sizeof *p);
    if (!p) return CADA_ERR(CADA_ERR_NOMEM, "token ids: cannot grow to %zu", cap);
    v->ids = p;
    v->cap = cap;
    return CADA_OK;
}

static cada_status bytes_append(cada_tok_bytes *b, const void *data, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p) return CADA_ERR(CADA_ERR_NOMEM, "text buffer: cannot grow to %zu bytes", cap);
        b->data = p;
        b->cap = cap;
    }
    if (n) memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = 0;
    return CADA_OK;
}

static int grow_buf(char **buf, size_t *cap, size_t need) {
    if (need <= *cap) return 1;
    size_t c = *cap ? *cap : 256;
    while (c < need) c *= 2;
    char *p = realloc(*buf, c);
    if (!p) return 0;
    *buf = p;
    *cap = c;
    return 1;
}

/* ---- workers ------------------------------------------------------------------------- */

static void worker_free(tok_worker *w) {
    if (!w) return;
    pcre2_match_data_free(w->md);
    pcre2_match_context_free(w->mctx);
    pcre2_jit_stack_free(w->jit_stack);
    for (int i = 0; i < TOK_MAX_PRE_STEPS; i++) {
        free(w->spans[i].v);
        free(w->prefix[i]);
    }
    free(w->norm);
    free(w->mapped);
    free(w->word);
    tok_bpe_scratch_free(&w->bpe);
    free(w->cache);
    free(w);
}

static tok_worker *worker_new(int with_cache) {
    tok_worker *w = CADA_CALLOC(1, sizeof *w, "tokenizer worker");
    if (!w) return NULL;
    w->md = pcre2_match_data_create(16, NULL);
    w->mctx = pcre2_match_context_create(NULL);
    /* The default JIT stack (32 KiB on the machine stack) suffices for these patterns;
     * a larger heap stack keeps pathological inputs from failing. */
    w->jit_stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, NULL);
    if (!w->md || !w->mctx || !w->jit_stack) {
        worker_free(w);
        CADA_ERR(CADA_ERR_NOMEM, "tokenizer worker: PCRE2 match data");
        return NULL;
    }
    pcre2_jit_stack_assign(w->mctx, NULL, w->jit_stack);
    if (with_cache) {
        /* Optional: without it encoding is slower, not wrong. */
        w->cache = calloc((size_t)1 << TOK_CACHE_BITS, sizeof *w->cache);
    }
    return w;
}

static tok_worker *worker_acquire(const cada_tokenizer *t, int *slot) {
    tok_pool *p = t->pool;
    for (int i = 0; i < TOK_WORKERS; i++) {
        int expected = 0;
        if (atomic_load_explicit(&p->busy[i], memory_order_relaxed) == 0 &&
            atomic_compare_exchange_strong(&p->busy[i], &expected, 1)) {
            if (!p->w[i]) p->w[i] = worker_new(1);
            if (!p->w[i]) {
                atomic_store(&p->busy[i], 0);
                return NULL;
            }
            *slot = i;
            return p->w[i];
        }
    }
    *slot = -1;
    return worker_new(0);
}

static void worker_release(const cada_tokenizer *t, tok_worker *w, int slot) {
    if (slot >= 0) atomic_store(&t->pool->busy[slot], 0);
    else worker_free(w);
}

void tok_pool_free(tok_pool *p) {
    if (!p) return;
    for (int i = 0; i < TOK_WORKERS; i++) worker_free(p->w[i]);
    free(p);
}

/* ---- encoding ------------------------------------------------------------------------ */

typedef struct {
    const cada_tokenizer *t;
    tok_worker *w;
    cada_tok_ids *out;
    unsigned flags;
} enc_ctx;

static uint32_t word_hash(const unsigned char *p, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
    while (n >= 8) {
        uint64_t x;
        memcpy(&x, p, 8);
        h = (h ^ x) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
        p += 8;
        n -= 8;
    }
    uint64_t x = 0;
    memcpy(&x, p, n);
    h = (h ^ x) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 29;
    return (uint32_t)h;
}

/* The model on one piece: byte tokens, then merges. */
static cada_status bpe_piece(enc_ctx *c, const char *piece, size_t n) {
    const cada_tokenizer *t = c->t;
    tok_worker *w = c->w;
    const unsigned char *p = (const unsigned char *)piece;
    tok_cache_entry *e = NULL;
    uint32_t h = 0;
    if (w->cache && n <= TOK_CACHE_KEY) {
        h = word_hash(p, n);
        e = &w->cache[h & (((uint32_t)1 << TOK_CACHE_BITS) - 1)];
        if (e->klen == n && e->hash == h && memcmp(e->key, p, n) == 0) {
            CADA_TRY(ids_reserve(c->out, e->nids));
            memcpy(c->out->ids + c->out->n, e->ids, e->nids * sizeof(int32_t));
            c->out->n += e->nids;
            return CADA_OK;
        }
    }
    if (n + 1 > w->word_cap) {
        size_t cap = w->word_cap ? w->word_cap : 64;
        while (cap < n + 1) cap *= 2;
        int32_t *words = realloc(w->word, cap * sizeof *words);
        if (!words) return CADA_ERR(CADA_ERR_NOMEM, "tokenizer: word of %zu bytes", n);
        w->word = words;
        w->word_cap = cap;
    }
    int32_t *ids = w->word;
    size_t k = 0;
    int found_whole = 0;
    if (t->ignore_merges) {
        /* tokenizers looks the whole piece up in the vocabulary, in the byte-level
         * spelling, before merging. */
        if (!grow_buf(&w->mapped, &w->mapped_cap, 2 * n + 1))
            return CADA_ERR(CADA_ERR_NOMEM, "tokenizer: word of %zu bytes", n);
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            m += cada_utf8_encode(tok_byte_to_cp(p[i]), (unsigned char *)w->mapped + m);
        int32_t id = tok_vocab_lookup(t, w->mapped, m);
        if (id >= 0) {
            ids[k++] = id;
            found_whole = 1;
        }
    }
    if (!found_whole) {
        int last_unk = 0;
        for (size_t i = 0; i < n; i++) {
            int32_t id = t->byte_id[p[i]];
            if (id >= 0) {
                ids[k++] = id;
                last_unk = 0;
            } else if (t->unk_id >= 0) {
                /* tokenizers: an unknown character becomes unk (fused with a preceding
                 * unk when fuse_unk); with no unk token it is dropped. */
                if (!(t->fuse_unk && last_unk)) ids[k++] = t->unk_id;
                last_unk = 1;
            }
        }
        CADA_TRY(tok_bpe_merge(&t->merges, &w->bpe, ids, &k));
    }
    if (e && k <= TOK_CACHE_IDS) {
        e->hash = h;
        e->klen = (uint8_t)n;
        e->nids = (uint8_t)k;
        memcpy(e->key, p, n);
        memcpy(e->ids, ids, k * sizeof *ids);
    }
    CADA_TRY(ids_reserve(c->out, k));
    memcpy(c->out->ids + c->out->n, ids, k * sizeof *ids);
    c->out->n += k;
    return CADA_OK;
}

static cada_status pre_run(enc_ctx *c, int step, const char *p, size_t n);

static size_t unit_len(const char *p, size_t n) {
    uint32_t cp;
    return cada_utf8_decode((const unsigned char *)p, n, &cp);
}

static cada_status span_push(tok_span_vec *v, size_t start, size_t end, int is_match) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 256;
        tok_span *s = realloc(v->v, cap * sizeof *s);
        if (!s) return CADA_ERR(CADA_ERR_NOMEM, "pre-tokenizer: %zu pieces", cap);
        v->v = s;
        v->cap = cap;
    }
    v->v[v->n++] = (tok_span){(int32_t)start, (int32_t)end, is_match};
    return CADA_OK;
}

/* tokenizers' NormalizedString::split: turns the (offsets, is_match) list into pieces
 * per behaviour (the fold of normalizer.rs), in place, marking removed ones. */
static void apply_behavior(tok_span_vec *v, tok_split_behavior b) {
    size_t n = v->n, k = 0;
    tok_span *s = v->v;
    int prev = 0;
    switch (b) {
    case SPLIT_ISOLATED:
        for (size_t i = 0; i < n; i++) s[i].is_match = 0;
        return;
    case SPLIT_REMOVED:
        return; /* is_match marks the removed pieces */
    case SPLIT_CONTIGUOUS: /* output index k <= i: read s[i] before writing s[k] */
        for (size_t i = 0; i < n; i++) {
            tok_span cur = s[i];
            if (cur.is_match == prev && k > 0) s[k - 1].end = cur.end;
            else s[k++] = (tok_span){cur.start, cur.end, 0};
            prev = cur.is_match;
        }
        break;
    case SPLIT_MERGED_PREV:
        for (size_t i = 0; i < n; i++) {
            tok_span cur = s[i];
            if (cur.is_match && !prev && k > 0) s[k - 1].end = cur.end;
            else s[k++] = (tok_span){cur.start, cur.end, 0};
            prev = cur.is_match;
        }
        break;
    case SPLIT_MERGED_NEXT: {
        /* Folded from the right; written from the right end of the array down. */
        size_t top = n; /* s[top..n) holds the output, in order */
        for (size_t i = n; i-- > 0;) {
            tok_span cur = s[i];
            if (cur.is_match && !prev && top < n) s[top].start = cur.start;
            else s[--top] = (tok_span){cur.start, cur.end, 0};
            prev = cur.is_match;
        }
        memmove(s, s + top, (n - top) * sizeof *s);
        k = n - top;
        break;
    }
    }
    v->n = k;
}

/* Runs the next stage on every kept, non-empty piece of v. */
static cada_status emit_spans(enc_ctx *c, int step, const char *p, const tok_span_vec *v) {
    for (size_t i = 0; i < v->n; i++) {
        const tok_span *s = &v->v[i];
        if (s->is_match || s->end <= s->start) continue; /* removed, or empty */
        CADA_TRY(pre_run(c, step + 1, p + s->start, (size_t)(s->end - s->start)));
    }
    return CADA_OK;
}

/* Regex split (tokenizers' Split / ByteLevel regex). Matches are enumerated as
 * rust-onig's find_iter does (an empty match right after the previous match is skipped
 * by advancing one character). Isolated, the common case, streams pieces to the next
 * stage; the other behaviours collect the list first. */
static cada_status regex_split(enc_ctx *c, int step, const pcre2_code *re, tok_split_behavior b,
                               int invert, const char *p, size_t n) {
    tok_worker *w = c->w;
    int stream = b == SPLIT_ISOLATED;
    tok_span_vec *v = &w->spans[step];
    v->n = 0;
    size_t last_end = 0, prev = 0;
    long last_match_end = -1;
    while (last_end <= n) {
        int rc = pcre2_match(re, (PCRE2_SPTR)p, n, last_end, 0, w->md, w->mctx);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return CADA_ERR(CADA_ERR_INTERNAL, "%s: pre-tokenizer regex failed at byte %zu: %s",
                            c->t->source, last_end, (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(w->md);
        size_t s = ov[0], e = ov[1];
        if (s == e && last_match_end == (long)e) {
            last_end += last_end < n ? unit_len(p + last_end, n - last_end) : 1;
            continue;
        }
        last_end = e;
        last_match_end = (long)e;
        if (stream) {
            if (prev < s) CADA_TRY(pre_run(c, step + 1, p + prev, s - prev));
            if (s < e) CADA_TRY(pre_run(c, step + 1, p + s, e - s));
        } else {
            if (prev < s) CADA_TRY(span_push(v, prev, s, invert));
            CADA_TRY(span_push(v, s, e, !invert));
        }
        prev = e;
    }
    if (stream) {
        if (prev < n) CADA_TRY(pre_run(c, step + 1, p + prev, n - prev));
        return CADA_OK;
    }
    if (prev < n) CADA_TRY(span_push(v, prev, n, invert));
    apply_behavior(v, b);
    return emit_spans(c, step, p, v);
}

/* tokenizers' Digits: numeric characters (char::is_numeric) are the matches of a
 * char-predicate pattern, one match per character; Isolated when individual_digits,
 * Contiguous otherwise. */
static cada_status digits_split(enc_ctx *c, int step, int individual, const char *p, size_t n) {
    tok_span_vec *v = &c->w->spans[step];
    v->n = 0;
    size_t last = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len = cada_utf8_decode((const unsigned char *)p + i, n - i, &cp);
        if (cada_uni_is_numeric(cp)) {
            if (last < i) CADA_TRY(span_push(v, last, i, 0));
            CADA_TRY(span_push(v, i, i + len, 1));
            last = i + len;
        }
        i += len;
    }
    if (last < n) CADA_TRY(span_push(v, last, n, 0));
    apply_behavior(v, individual ? SPLIT_ISOLATED : SPLIT_CONTIGUOUS);
    return emit_spans(c, step, p, v);
}

static cada_status pre_run(enc_ctx *c, int step, const char *p, size_t n) {
    const cada_tokenizer *t = c->t;
    if (step == t->n_pre) return bpe_piece(c, p, n);
    const tok_pre_step *st = &t->pre[step];
    switch (st->kind) {
    case PRE_BYTELEVEL:
        if (st->add_prefix_space && p[0] != ' ') {
            /* tokenizers' ByteLevel prepends a space to every piece it receives. */
            tok_worker *w = c->w;
            if (!grow_buf(&w->prefix[step], &w->prefix_cap[step], n + 1))
                return CADA_ERR(CADA_ERR_NOMEM, "tokenizer: piece of %zu bytes", n);
            w->prefix[step][0] = ' ';
            memcpy(w->prefix[step] + 1, p, n);
            p = w->prefix[step];
            n++;
        }
        if (st->re) return regex_split(c, step, st->re, SPLIT_ISOLATED, 0, p, n);
        return pre_run(c, step + 1, p, n);
    case PRE_SPLIT:
        return regex_split(c, step, st->re, st->behavior, st->invert, p, n);
    case PRE_DIGITS:
        return digits_split(c, step, st->individual_digits, p, n);
    }
    return CADA_ERR(CADA_ERR_INTERNAL, "pre-tokenizer step %d has no kind", step);
}

/* The code point before s[pos] (pos > 0) and its length. */
static size_t prev_unit(const unsigned char *s, size_t pos, uint32_t *cp) {
    size_t j = pos - 1;
    while (j > 0 && pos - j < 4 && (s[j] & 0xC0) == 0x80) j--;
    uint32_t c;
    size_t len = cada_utf8_decode(s + j, pos - j, &c);
    if (j + len == pos) {
        *cp = c;
        return len;
    }
    *cp = CADA_UNI_INVALID;
    return 1;
}

typedef cada_status (*text_fn)(enc_ctx *c, const char *p, size_t n);

/* AddedVocabulary::find_matches: leftmost-longest matches of the added tokens, with
 * single_word / lstrip / rstrip, each stretch between them passed to next(). As with
 * aho-corasick's find_iter, a match that is skipped (special under
 * CADA_TOK_SPLIT_SPECIAL, or not a single word) still consumes its bytes, and the
 * search resumes at the end of the match as found, before any rstrip. */
static cada_status split_added(enc_ctx *c, const tok_added_matcher *m, const char *text, size_t n,
                               text_fn next) {
    const cada_tokenizer *t = c->t;
    const unsigned char *s = (const unsigned char *)text;
    size_t start_offset = 0, i = 0;
    while (i < n) {
        unsigned b = s[i];
        uint32_t lo = m->first[b], hi = m->first[b + 1];
        if (lo == hi) {
            i++;
            continue;
        }
        const tok_added *a = NULL;
        for (uint32_t j = lo; j < hi; j++) {
            const tok_added *x = &t->added[m->idx[j]];
            if (x->match_len <= n - i && memcmp(x->match, s + i, x->match_len) == 0) {
                a = x;
                break;
            }
        }
        if (!a) {
            i++;
            continue;
        }
        size_t start = i, stop = i + a->match_len;
        i = stop;
        if ((c->flags & CADA_TOK_SPLIT_SPECIAL) && a->special) continue;
        if (a->single_word) {
            uint32_t before = CADA_UNI_INVALID, after = CADA_UNI_INVALID;
            if (start > 0) prev_unit(s, start, &before);
            if (stop < n) cada_utf8_decode(s + stop, n - stop, &after);
            if ((start > 0 && cada_uni_is_word(before)) || (stop < n && cada_uni_is_word(after)))
                continue;
        }
        if (a->lstrip) {
            size_t ns = start;
            while (ns > 0) {
                uint32_t cp;
                size_t len = prev_unit(s, ns, &cp);
                if (!cada_uni_is_space(cp)) break;
                ns -= len;
            }
            start = ns > start_offset ? ns : start_offset;
        }
        if (a->rstrip) {
            while (stop < n) {
                uint32_t cp;
                size_t len = cada_utf8_decode(s + stop, n - stop, &cp);
                if (!cada_uni_is_space(cp)) break;
                stop += len;
            }
        }
        if (start_offset < start) CADA_TRY(next(c, text + start_offset, start - start_offset));
        CADA_TRY(ids_reserve(c->out, 1));
        c->out->ids[c->out->n++] = a->id;
        start_offset = stop;
    }
    if (start_offset < n) CADA_TRY(next(c, text + start_offset, n - start_offset));
    return CADA_OK;
}

static cada_status pre_entry(enc_ctx *c, const char *p, size_t n) { return pre_run(c, 0, p, n); }

/* A stretch between raw added tokens: normalize, then the normalized added tokens. */
static cada_status normalized_stretch(enc_ctx *c, const char *p, size_t n) {
    const cada_tokenizer *t = c->t;
    if (t->nfc) {
        const char *q;
        size_t qn;
        CADA_TRY(cada_uni_nfc(p, n, &c->w->norm, &c->w->norm_cap, &q, &qn));
        p = q;
        n = qn;
    }
    if (t->norm_matcher.n > 0) return split_added(c, &t->norm_matcher, p, n, pre_entry);
    return pre_run(c, 0, p, n);
}

static cada_status encode_with(enc_ctx *c, const char *text, size_t len) {
    const cada_tokenizer *t = c->t;
    unsigned flags = c->flags;
    cada_tok_ids *out = c->out;
    if ((flags & CADA_TOK_ADD_BOS) && t->bos_id < 0)
        return CADA_ERR(CADA_ERR_ARG, "%s: CADA_TOK_ADD_BOS: the tokenizer has no bos token", t->source);
    if ((flags & CADA_TOK_ADD_EOS) && t->eos_id < 0)
        return CADA_ERR(CADA_ERR_ARG, "%s: CADA_TOK_ADD_EOS: the tokenizer has no eos token", t->source);
    CADA_TRY(ids_reserve(out, TOK_MAX_AFFIX + 2));
    if (flags & CADA_TOK_ADD_BOS) out->ids[out->n++] = t->bos_id;
    if (flags & CADA_TOK_ADD_SPECIAL)
        for (int i = 0; i < t->n_prefix; i++) out->ids[out->n++] = t->prefix_ids[i];
    if (len > 0) {
        if (t->raw_matcher.n > 0) CADA_TRY(split_added(c, &t->raw_matcher, text, len, normalized_stretch));
        else CADA_TRY(normalized_stretch(c, text, len));
    }
    CADA_TRY(ids_reserve(out, TOK_MAX_AFFIX + 1));
    if (flags & CADA_TOK_ADD_SPECIAL)
        for (int i = 0; i < t->n_suffix; i++) out->ids[out->n++] = t->suffix_ids[i];
    if (flags & CADA_TOK_ADD_EOS) out->ids[out->n++] = t->eos_id;
    return CADA_OK;
}

cada_status cada_tok_encode(const cada_tokenizer *t, const char *text, size_t len, unsigned flags,
                            cada_tok_ids *out) {
    if (!t || !out || (!text && len))
        return CADA_ERR(CADA_ERR_ARG, "cada_tok_encode: NULL tokenizer, output or text");
    int slot;
    tok_worker *w = worker_acquire(t, &slot);
    if (!w) return CADA_ERR_NOMEM;
    enc_ctx c = {t, w, out, flags};
    size_t n0 = out->n;
    cada_status s = encode_with(&c, text, len);
    if (s != CADA_OK) out->n = n0;
    worker_release(t, w, slot);
    return s;
}

/* ---- decoding ------------------------------------------------------------------------ */

static int id_present(const cada_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_vocab && t->str_len[id] != UINT32_MAX;
}

cada_status cada_tok_decode(const cada_tokenizer *t, const int32_t *ids, size_t n, unsigned flags,
                            cada_tok_bytes *out) {
    if (!t || !out || (!ids && n)) return CADA_ERR(CADA_ERR_ARG, "cada_tok_decode: NULL argument");
    size_t len0 = out->len;
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (!id_present(t, id)) {
            out->len = len0;
            if (out->data) out->data[len0] = 0;
            return CADA_ERR(CADA_ERR_ARG, "%s: decode: ids[%zu] = %d is not a token (vocabulary size %d)",
                            t->source, i, (int)id, (int)t->n_vocab);
        }
        if ((flags & CADA_TOK_SKIP_SPECIAL) && t->is_special[id]) continue;
        CADA_TRY(bytes_append(out, t->dec_pool + t->dec_off[id], t->dec_off[id + 1] - t->dec_off[id]));
    }
    if (!out->data) CADA_TRY(bytes_append(out, "", 0));
    return CADA_OK;
}

static const char replacement[3] = {(char)0xEF, (char)0xBF, (char)0xBD}; /* U+FFFD */

/* Appends the complete part of s[0..n) lossily; returns in *held the length of an
 * incomplete tail left unconsumed (only when hold_tail). */
static cada_status lossy_append(const unsigned char *s, size_t n, int hold_tail, size_t *held,
                                cada_tok_bytes *out) {
    size_t i = 0, run = 0; /* s[run..i) is valid and not yet appended */
    *held = 0;
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        int status;
        size_t len = cada_utf8_subpart(s + i, n - i, &status);
        if (status == 0) {
            i += len;
            continue;
        }
        CADA_TRY(bytes_append(out, s + run, i - run));
        if (status == 1 && hold_tail) {
            *held = n - i;
            return CADA_OK;
        }
        CADA_TRY(bytes_append(out, replacement, sizeof replacement));
        i += len;
        run = i;
    }
    return bytes_append(out, s + run, i - run);
}

cada_status cada_tok_utf8_lossy(const char *bytes, size_t n, cada_tok_bytes *out) {
    size_t held;
    if (!out || (!bytes && n)) return CADA_ERR(CADA_ERR_ARG, "cada_tok_utf8_lossy: NULL argument");
    return lossy_append((const unsigned char *)bytes, n, 0, &held, out);
}

void cada_tok_stream_init(cada_tok_stream *s) { memset(s, 0, sizeof *s); }

cada_status cada_tok_stream_push(const cada_tokenizer *t, cada_tok_stream *s, int32_t id,
                                 unsigned flags, cada_tok_bytes *out) {
    if (!t || !s || !out) return CADA_ERR(CADA_ERR_ARG, "cada_tok_stream_push: NULL argument");
    if (!id_present(t, id))
        return CADA_ERR(CADA_ERR_ARG, "%s: stream decode: id %d is not a token", t->source, (int)id);
    if ((flags & CADA_TOK_SKIP_SPECIAL) && t->is_special[id]) return CADA_OK;
    const unsigned char *tok = t->dec_pool + t->dec_off[id];
    size_t n = t->dec_off[id + 1] - t->dec_off[id];
    /* Complete the held tail first: it needs at most 3 more bytes. */
    size_t used = 0;
    if (s->n_pending > 0) {
        unsigned char buf[8];
        size_t k = (size_t)s->n_pending;
        memcpy(buf, s->pending, k);
        while (used < n && k < 4) buf[k++] = tok[used++];
        int status;
        size_t len = cada_utf8_subpart(buf, k, &status);
        if (status == 1 && used == n) { /* still incomplete */
            memcpy(s->pending, buf, k);
            s->n_pending = (int)k;
            return CADA_OK;
        }
        if (status == 0) CADA_TRY(bytes_append(out, buf, len));
        else CADA_TRY(bytes_append(out, replacement, sizeof replacement));
        /* Bytes of buf beyond the subpart came from tok: give them back. */
        used -= k - len;
        s->n_pending = 0;
    }
    size_t held;
    CADA_TRY(lossy_append(tok + used, n - used, 1, &held, out));
    if (held) memcpy(s->pending, tok + n - held, held);
    s->n_pending = (int)held;
    if (!out->data) CADA_TRY(bytes_append(out, "", 0));
    return CADA_OK;
}

cada_status cada_tok_stream_finish(cada_tok_stream *s, cada_tok_bytes *out) {
    if (!s || !out) return CADA_ERR(CADA_ERR_ARG, "cada_tok_stream_finish: NULL argument");
    size_t held;
    cada_status st = lossy_append(s->pending, (size_t)s->n_pending, 0, &held, out);
    s->n_pending = 0;
    return st;
}

/* ---- vocabulary ---------------------------------------------------------------------- */

int32_t cada_tok_vocab_size(const cada_tokenizer *t) { return t->n_vocab; }

int32_t cada_tok_token_id(const cada_tokenizer *t, const char *token) {
    size_t len = strlen(token);
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].len == len && memcmp(t->added[i].content, token, len) == 0) return t->added[i].id;
    return tok_vocab_lookup(t, token, len);
}

const char *cada_tok_token_bytes(const cada_tokenizer *t, int32_t id, size_t *len) {
    if (!id_present(t, id)) return NULL;
    *len = t->dec_off[id + 1] - t->dec_off[id];
    return (const char *)t->dec_pool + t->dec_off[id];
}

int cada_tok_is_special(const cada_tokenizer *t, int32_t id) { return id_present(t, id) && t->is_special[id]; }
int32_t cada_tok_bos_id(const cada_tokenizer *t) { return t->bos_id; }
int32_t cada_tok_eos_id(const cada_tokenizer *t) { return t->eos_id; }
int32_t cada_tok_pad_id(const cada_tokenizer *t) { return t->pad_id; }
unsigned cada_tok_config_flags(const cada_tokenizer *t) { return t->config_flags; }
cada_chat_family cada_tok_chat_family(const cada_tokenizer *t) { return t->chat; }
