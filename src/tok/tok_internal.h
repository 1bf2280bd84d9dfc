/* tok/tok_internal.h: the tokenizer's internal structures, shared by the files of
 * src/tok (tokenizer.c: encode/decode; bpe.c: merges; load.c: file formats; chat.c:
 * templates). Not an API: include tok/tokenizer.h elsewhere. */
#ifndef CADA_TOK_INTERNAL_H
#define CADA_TOK_INTERNAL_H

#include "tok/tokenizer.h"

#include <pcre2.h>
#include <stdatomic.h>
#include <stdint.h>

#ifndef PCRE2_MATCH_INVALID_UTF
#error "cada's tokenizer needs PCRE2 >= 10.34 (PCRE2_MATCH_INVALID_UTF)"
#endif

#define TOK_MAX_PRE_STEPS 8   /* pre-tokenizer steps after flattening Sequences */
#define TOK_WORKERS 8         /* concurrent encoders that keep their word cache */
#define TOK_MAX_AFFIX 8       /* special tokens a post-processor adds before/after */

/* The GPT-2 pre-tokenizer regex (tokenizers' ByteLevel, OpenAI's encoder.py). */
#define TOK_GPT2_REGEX \
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

/* ---- merges: (left id, right id) -> (rank, merged id), open addressing --------------- */
typedef struct {
    uint64_t key; /* (uint64)left << 32 | right; TOK_MERGE_EMPTY when free */
    uint32_t rank;
    int32_t id;
} tok_merge_slot;
#define TOK_MERGE_EMPTY UINT64_MAX

typedef struct {
    tok_merge_slot *slots;
    uint64_t mask; /* capacity - 1 (a power of two) */
    size_t n;
} tok_merge_map;

cada_status tok_merges_init(tok_merge_map *m, size_t expected);
void tok_merges_free(tok_merge_map *m);
/* Inserts or overwrites (a repeated pair keeps the last rank, as tokenizers' HashMap). */
void tok_merges_put(tok_merge_map *m, int32_t left, int32_t right, uint32_t rank, int32_t id);

static inline uint64_t tok_merge_hash(uint64_t key) {
    key ^= key >> 29;
    key *= 0xbf58476d1ce4e5b9ull;
    key ^= key >> 32;
    return key;
}

static inline const tok_merge_slot *tok_merges_get(const tok_merge_map *m, int32_t left, int32_t right) {
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    for (uint64_t i = tok_merge_hash(key) & m->mask;; i = (i + 1) & m->mask) {
        const tok_merge_slot *s = &m->slots[i];
        if (s->key == key) return s;
        if (s->key == TOK_MERGE_EMPTY) return NULL;
    }
}

/* Scratch for one BPE word (arrays of cap entries). Array path: rank[i] and prev[i]
 * hold the rank and merged id of the pair (i, i+1). Heap path: id/prev/next form the
 * symbol list and rank[] flags removed symbols. */
typedef struct {
    int32_t *id;
    uint32_t *rank;
    int32_t *prev, *next;
    struct tok_heap_entry *heap;
    size_t cap, heap_cap;
} tok_bpe_scratch;

/* Merges ids[0..*n) in place and updates *n. Words of up to
 * tok_bpe_array_max symbols use an array scan, longer ones a binary heap; both give
 * tokenizers' order: the lowest rank first, the leftmost on ties. */
extern size_t tok_bpe_array_max; /* a variable so that tests can force either path */
cada_status tok_bpe_merge(const tok_merge_map *m, tok_bpe_scratch *s, int32_t *ids, size_t *n);
void tok_bpe_scratch_free(tok_bpe_scratch *s);

/* ---- pre-tokenizer steps -------------------------------------------------------------- */
typedef enum { PRE_SPLIT, PRE_DIGITS, PRE_BYTELEVEL } tok_pre_kind;
typedef enum {
    SPLIT_ISOLATED, SPLIT_REMOVED, SPLIT_MERGED_PREV, SPLIT_MERGED_NEXT, SPLIT_CONTIGUOUS
} tok_split_behavior;

typedef struct {
    tok_pre_kind kind;
    pcre2_code *re;            /* SPLIT, and BYTELEVEL with use_regex (GPT-2 regex) */
    tok_split_behavior behavior;
    int invert;
    int individual_digits;     /* DIGITS */
    int add_prefix_space;      /* BYTELEVEL */
} tok_pre_step;

/* ---- added tokens -------------------------------------------------------------------- */
typedef struct {
    char *content;       /* as in the file; what it decodes to */
    size_t len;
    char *match;         /* what is searched for: content, or NFC(content) when
                          * normalized and the normalizer is NFC (owned when != content) */
    size_t match_len;
    int32_t id;
    uint8_t special, normalized, lstrip, rstrip, single_word;
} tok_added;

/* Finds added tokens by first byte: for byte b, idx[first[b] .. first[b+1]) index the
 * tokens starting with b, longest first. */
typedef struct {
    int32_t *idx;
    uint32_t first[257];
    int n;
} tok_added_matcher;

/* ---- workers ------------------------------------------------------------------------- */
#define TOK_CACHE_BITS 14
#define TOK_CACHE_KEY 22 /* words up to this many bytes are cached */
#define TOK_CACHE_IDS 8  /* ... when they merge to at most this many ids */
typedef struct {
    uint32_t hash;
    uint8_t klen, nids; /* klen 0: empty slot */
    char key[TOK_CACHE_KEY];
    int32_t ids[TOK_CACHE_IDS];
} tok_cache_entry;

typedef struct {
    int32_t start, end; /* byte offsets in the piece */
    int32_t is_match;
} tok_span;

typedef struct {
    tok_span *v;
    size_t n, cap;
} tok_span_vec;

typedef struct tok_worker {
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit_stack;
    tok_span_vec spans[TOK_MAX_PRE_STEPS];
    char *prefix[TOK_MAX_PRE_STEPS]; /* ByteLevel add_prefix_space copies */
    size_t prefix_cap[TOK_MAX_PRE_STEPS];
    char *norm;          /* NFC output */
    size_t norm_cap;
    char *mapped;        /* byte-level spelling of a word (ignore_merges look-up) */
    size_t mapped_cap;
    int32_t *word;       /* initial symbols of a word */
    size_t word_cap;
    tok_bpe_scratch bpe;
    tok_cache_entry *cache; /* 1 << TOK_CACHE_BITS entries, NULL: no cache */
} tok_worker;

typedef struct {
    atomic_int busy[TOK_WORKERS];
    tok_worker *w[TOK_WORKERS];
} tok_pool;
void tok_pool_free(tok_pool *p);

/* ---- the tokenizer ------------------------------------------------------------------- */
struct cada_tokenizer {
    char *source;            /* the file it came from, for messages */

    /* Vocabulary: ids 0..n_vocab-1, possibly with holes (str_len[id] == UINT32_MAX). */
    int32_t n_vocab;
    char *str_pool;          /* token strings as spelled in the file */
    uint64_t *str_off;       /* [n_vocab] */
    uint32_t *str_len;       /* [n_vocab] */
    uint8_t *in_model;       /* [n_vocab]: 1 when the id is a model vocabulary token */
    int32_t *vocab_table;    /* string -> id hash table over model tokens, -1 free */
    uint64_t vocab_mask;

    /* Decoding: the bytes of each id. */
    unsigned char *dec_pool;
    uint64_t *dec_off;       /* [n_vocab + 1] */
    uint8_t *is_special;     /* [n_vocab] */

    /* BPE */
    tok_merge_map merges;
    int32_t byte_id[256];    /* id of the byte-level token of each byte, -1 none */
    int32_t unk_id;          /* -1: no unk token */
    int fuse_unk, ignore_merges;

    /* Added tokens */
    tok_added *added;
    int n_added;
    tok_added_matcher raw_matcher, norm_matcher; /* normalized = false / true */

    int nfc;                 /* normalizer */
    tok_pre_step pre[TOK_MAX_PRE_STEPS];
    int n_pre;

    /* Post-processing (CADA_TOK_ADD_SPECIAL) */
    int32_t prefix_ids[TOK_MAX_AFFIX], suffix_ids[TOK_MAX_AFFIX];
    int n_prefix, n_suffix;
    int32_t bos_id, eos_id, pad_id;
    unsigned config_flags;   /* CADA_TOK_ADD_BOS / _EOS as the configuration asks */

    /* Chat */
    cada_chat_family chat;
    char *chat_default_system; /* CHATML: the literal default system turn, or NULL */
    char *bos_text;            /* LLAMA3: the bos token's text */
    char *chat_refusal;        /* why there is no family, for the error message */

    tok_pool *pool;
};

/* Byte-level alphabet (GPT-2's bytes_to_unicode). */
uint32_t tok_byte_to_cp(unsigned char b);
int tok_cp_to_byte(uint32_t cp); /* -1 when cp is not in the alphabet */

/* ---- building (load.c) ---------------------------------------------------------------- */
cada_tokenizer *tok_alloc(const char *source);
/* The vocabulary: n entries of (string, length, id). */
cada_status tok_set_vocab(cada_tokenizer *t, size_t n, const char *const *strs, const size_t *lens,
                          const int32_t *ids, const char *field);
int32_t tok_vocab_lookup(const cada_tokenizer *t, const char *s, size_t len);
/* Errors name src (the merges file) and field[index]. */
cada_status tok_add_merge(cada_tokenizer *t, const char *src, const char *a, size_t alen, const char *b,
                          size_t blen, uint32_t rank, const char *field, size_t index);
cada_status tok_add_added(cada_tokenizer *t, const char *content, size_t len, int32_t id,
                          int special, int normalized, int lstrip, int rstrip, int single_word,
                          const char *field);
cada_status tok_compile_regex(pcre2_code **re, const char *pattern, size_t len, int literal,
                              const char *source, const char *field);
/* Builds the derived tables (byte ids, decode bytes, matchers, worker pool). */
cada_status tok_finish(cada_tokenizer *t);

/* ---- chat (chat.c) ------------------------------------------------------------------- */
/* Picks the family from the template text (NULL: none). */
cada_status tok_chat_setup(cada_tokenizer *t, const char *tmpl);

#endif
