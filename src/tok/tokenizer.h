/* tok/tokenizer.h: byte-level BPE tokenizer with the ids of Hugging Face `tokenizers`.
 *
 * Sources it loads
 *   - tokenizer.json (Hugging Face `tokenizers` format) with tokenizer_config.json beside
 *     it (chat template, bos/eos/pad tokens, add_bos_token/add_eos_token);
 *   - OpenAI's GPT-2 files encoder.json + vocab.bpe (also as vocab.json + merges.txt);
 *   - the vocabulary embedded in a GGUF file (tokenizer.ggml.model = "gpt2").
 * cada_tok_load() takes any of: a tokenizer.json, a .gguf, or a directory holding
 * tokenizer.json, or encoder.json + vocab.bpe, or vocab.json + merges.txt, or a model's
 * config.json (its folder): every model path cada accepts also names its tokenizer.
 * Verified id for id against tokenizers 0.23 / transformers 5 on tests/data/tok_corpus.txt
 * (per line and as one text) for Qwen3, GPT-2 and SmolLM2, and for three synthetic
 * tokenizers that use the options those three do not (tests/unit/test_tok.c).
 *
 * What a tokenizer.json may contain (anything else is CADA_ERR_UNSUPPORTED naming the
 * file and field, never a silent difference):
 *   model        BPE with a byte-level alphabet: vocab, merges as "a b" strings or
 *                ["a","b"] pairs (rank = position; a repeated pair keeps its last rank,
 *                as tokenizers does), ignore_merges, unk_token, fuse_unk; dropout must be
 *                null/0, continuing_subword_prefix and end_of_word_suffix empty,
 *                byte_fallback false.
 *   normalizer   null, NFC, or a Sequence of those.
 *   pre_tokenizer  ByteLevel (add_prefix_space, use_regex: the GPT-2 regex), Split
 *                (Regex or String pattern; Isolated, Removed, MergedWithPrevious,
 *                MergedWithNext, Contiguous; invert), Digits (individual_digits), and a
 *                Sequence of them. A ByteLevel step is required (byte-level BPE).
 *   post_processor  null, ByteLevel (no effect on ids), TemplateProcessing (its "single"
 *                template: special tokens before/after $A), or a Sequence of those.
 *   decoder      null or ByteLevel.
 *   added_tokens all flags: special, normalized, lstrip, rstrip, single_word. Their ids
 *                must be the ones tokenizers assigns (it ignores the file's), else the
 *                file is refused.
 *   truncation, padding  must be null.
 *
 * Encoding semantics (those of tokenizers' TokenizerImpl::encode):
 *   1. added tokens with normalized=false are found in the raw text, leftmost-longest
 *      (special and non-special alike; "special" only matters for decoding and for
 *      CADA_TOK_SPLIT_SPECIAL);
 *   2. each stretch between them is normalized (NFC) and searched for the
 *      normalized=true added tokens;
 *   3. each remaining stretch goes through the pre-tokenizer steps in order, each step
 *      splitting every piece of the previous one;
 *   4. each final piece is BPE-merged: its bytes map to byte tokens, then the adjacent
 *      pair with the lowest merge rank (leftmost on ties) merges until none applies.
 *      With ignore_merges a piece that is itself a vocabulary token is taken whole.
 *      A byte whose token is missing from the vocabulary becomes unk, or, with no unk
 *      token, is dropped, as in tokenizers. (SmolLM2's vocabulary lacks 21 byte tokens:
 *      0x04 0x06 0x13 0x14 0x16 0x1D 0xC0 0xC1 0xF1 0xF2 0xF5..0xFF; those bytes vanish.)
 *   Regexes are PCRE2 (UTF, UCP, JIT when available); `tokenizers` uses Oniguruma.
 *   The two agree on the patterns of these tokenizers for all the test corpus (which
 *   includes NEL, NBSP, U+2028, U+3000, U+180E, ZWSP and Kelvin/long-s case folding);
 *   their Unicode tables may differ for code points assigned after PCRE2's (10.42:
 *   Unicode 14). NFC uses tables generated from Python's unicodedata (Unicode 14).
 *
 * Invalid UTF-8 (tokenizers cannot receive it: its input is a Rust String): encode
 * never fails on it. Regexes run with PCRE2_MATCH_INVALID_UTF, so an ill-formed byte
 * matches no pattern and ends up in the stretch between matches; NFC passes such bytes
 * through unchanged (they block composition, like a starter that composes with
 * nothing); byte-level BPE represents every byte. Hence decode(encode(x)) == x for
 * every byte string x with GPT-2, and == NFC(x), ill-formed bytes kept in place, with
 * Qwen3; with SmolLM2 it is x without the bytes its vocabulary lacks (see above).
 *
 * Decoding: cada_tok_decode returns raw bytes, the concatenated byte strings of the
 * tokens as tokenizers' ByteLevel decoder forms them before its lossy conversion (an
 * ASCII added token gives its text). They can be ill-formed UTF-8 where a multi-byte
 * character is split across a cut. `tokenizers` returns String::from_utf8_lossy of
 * these bytes (cada_tok_utf8_lossy gives the same); cada_tok_stream gives that form
 * incrementally: only complete, valid UTF-8, ill-formed bytes replaced by U+FFFD
 * (maximal-subpart rule, as Python's errors='replace'), an incomplete tail held back
 * until the next token completes it.
 *
 * Threads: a loaded tokenizer is immutable; encode and decode may run on many threads
 * at once. Each call borrows one of a few per-tokenizer workers (PCRE2 match data,
 * scratch, a direct-mapped cache of recently merged words) with an atomic flag, or
 * builds a temporary one (no cache) when all are taken.
 *
 * Speed (one thread, the test corpus repeated to 2 MB, a shared 2-core machine, so
 * noisy): 20-40 MB/s encoding the whole text in one call, about 45 MB/s line by line,
 * against 0.9-1.3 MB/s for tokenizers' encode on the same text and machine
 * (tests/peers/bench_tokenizers.py; cada_tok_bench).
 */
#ifndef CADA_TOK_TOKENIZER_H
#define CADA_TOK_TOKENIZER_H

#include "base/error.h"

#include <stddef.h>
#include <stdint.h>

typedef struct cada_tokenizer cada_tokenizer;

/* A growable array of token ids (append-only; reset n to reuse). */
typedef struct {
    int32_t *ids;
    size_t n, cap;
} cada_tok_ids;
void cada_tok_ids_free(cada_tok_ids *v);

/* A growable byte string, always NUL-terminated (data[len] == 0) after a successful
 * append, so text output can be printed directly. */
typedef struct {
    char *data;
    size_t len, cap;
} cada_tok_bytes;
void cada_tok_bytes_free(cada_tok_bytes *b);

/* ---- loading ------------------------------------------------------------------------ */

enum {
    /* GGUF only: build the pre-tokenizer the way transformers' GGUF converter does
     * (plain GPT-2 ByteLevel for every tokenizer.ggml.model = "gpt2" vocabulary,
     * ignoring tokenizer.ggml.pre), for id-for-id parity with
     * AutoTokenizer.from_pretrained(..., gguf_file=...). The default follows
     * tokenizer.ggml.pre as llama.cpp does ("smollm": every \p{N} split off first, then
     * the GPT-2 regex), which is how SmolLM2 was trained (its original tokenizer.json
     * has Digits(individual_digits) + ByteLevel). The two differ only where a non-ASCII
     * numeral follows a space (" ½"). */
    CADA_TOK_LOAD_GGUF_AS_TRANSFORMERS = 1u << 0,
};
/* The user-facing names of that choice (`--gguf-tokenizer NAME` on the commands that
 * load a tokenizer, model.gguf_tokenizer in sched/config.h): "llama.cpp" gives 0 (the
 * default), "transformers" CADA_TOK_LOAD_GGUF_AS_TRANSFORMERS; anything else is
 * CADA_ERR_CONFIG naming the value and both choices. */
cada_status cada_tok_gguf_mode_parse(const char *name, unsigned *flags);

/* Loads from a file or directory (see the top of this file). flags: CADA_TOK_LOAD_*.
 * On failure *out is NULL and the error names the file and the field at fault. */
cada_status cada_tok_load(cada_tokenizer **out, const char *path, unsigned flags);
/* tokenizer.json plus an optional tokenizer_config.json (NULL: none). */
cada_status cada_tok_load_hf(cada_tokenizer **out, const char *json_path, const char *config_path);
/* OpenAI GPT-2 files: token->id JSON and ranked merges ("#version" line allowed).
 * The pre-tokenizer is GPT-2's ByteLevel; <|endoftext|>, when in the vocabulary, is a
 * special added token and the bos/eos token (as Hugging Face's GPT-2 tokenizer). */
cada_status cada_tok_load_gpt2(cada_tokenizer **out, const char *encoder_json, const char *vocab_bpe);
/* A GGUF file's tokenizer.ggml.* keys (model "gpt2" only). Token type 3 (control)
 * makes a special added token, 4 (user-defined) a non-special added token. */
cada_status cada_tok_load_gguf(cada_tokenizer **out, const char *gguf_path, unsigned flags);
void cada_tok_free(cada_tokenizer *t);

/* ---- encoding ------------------------------------------------------------------------ */

enum {
    /* Add the post-processor's special tokens: tokenizers' / transformers'
     * add_special_tokens=True. For tokenizer.json that is its post_processor
     * (TemplateProcessing's single template) and nothing else; for a GGUF,
     * tokenizer.ggml.add_bos_token / add_eos_token (as transformers converts them). */
    CADA_TOK_ADD_SPECIAL = 1u << 0,
    /* Read special added tokens in the text as plain text (tokenizers'
     * encode_special_tokens = True). Use it for untrusted content, so that a user who
     * types "<|im_end|>" cannot end a turn. Non-special added tokens still match. */
    CADA_TOK_SPLIT_SPECIAL = 1u << 1,
    /* Prepend the bos / append the eos token whatever the configuration says (an error
     * when the tokenizer has none). */
    CADA_TOK_ADD_BOS = 1u << 2,
    CADA_TOK_ADD_EOS = 1u << 3,
};

/* Appends the ids of text[0..len) to out. Any byte string is accepted (see above).
 * Errors: out of memory, or a flag asking for a token the tokenizer lacks. */
cada_status cada_tok_encode(const cada_tokenizer *t, const char *text, size_t len, unsigned flags,
                            cada_tok_ids *out);

/* ---- decoding ------------------------------------------------------------------------ */

enum { CADA_TOK_SKIP_SPECIAL = 1u << 0 }; /* leave out special added tokens */

/* Appends the bytes of ids to out. An id outside the vocabulary (or a hole in it) is a
 * CADA_ERR_ARG naming the id and its position. */
cada_status cada_tok_decode(const cada_tokenizer *t, const int32_t *ids, size_t n, unsigned flags,
                            cada_tok_bytes *out);

/* Streaming decoder for generation: push ids one at a time, get text that is always
 * complete, valid UTF-8. Holds at most 3 bytes between calls. */
typedef struct {
    unsigned char pending[4];
    int n_pending;
} cada_tok_stream;
void cada_tok_stream_init(cada_tok_stream *s);
/* Appends the text that id completes (possibly nothing). flags: CADA_TOK_SKIP_SPECIAL. */
cada_status cada_tok_stream_push(const cada_tokenizer *t, cada_tok_stream *s, int32_t id,
                                 unsigned flags, cada_tok_bytes *out);
/* End of stream: a held incomplete tail becomes U+FFFD. */
cada_status cada_tok_stream_finish(cada_tok_stream *s, cada_tok_bytes *out);
/* The lossy conversion the stream applies: appends bytes with each maximal ill-formed
 * subpart replaced by U+FFFD (Python's bytes.decode('utf-8', errors='replace')). */
cada_status cada_tok_utf8_lossy(const char *bytes, size_t n, cada_tok_bytes *out);

/* ---- vocabulary ---------------------------------------------------------------------- */

int32_t cada_tok_vocab_size(const cada_tokenizer *t);     /* largest id + 1 */
/* Id of a token given as its text (added-token content, or a vocabulary token in the
 * file's byte-level spelling, e.g. "Ġthe"); -1 when absent. */
int32_t cada_tok_token_id(const cada_tokenizer *t, const char *token);
/* The bytes id decodes to (not NUL-terminated); NULL when id is not a token. */
const char *cada_tok_token_bytes(const cada_tokenizer *t, int32_t id, size_t *len);
int cada_tok_is_special(const cada_tokenizer *t, int32_t id);
int32_t cada_tok_bos_id(const cada_tokenizer *t); /* -1 when none */
int32_t cada_tok_eos_id(const cada_tokenizer *t); /* -1 when none */
int32_t cada_tok_pad_id(const cada_tokenizer *t); /* -1 when none */
/* CADA_TOK_ADD_BOS | CADA_TOK_ADD_EOS as the model files ask: tokenizer_config.json's
 * add_bos_token / add_eos_token, or the GGUF's tokenizer.ggml.add_bos_token /
 * add_eos_token. For tokenizer.json these are not part of CADA_TOK_ADD_SPECIAL (see
 * there); pass them to cada_tok_encode to follow the configuration. 0 for the
 * tokenizers of this project's tests (Qwen3, GPT-2, SmolLM2). */
unsigned cada_tok_config_flags(const cada_tokenizer *t);

/* ---- chat templates -------------------------------------------------------------------
 * Written in C, no Jinja. The family comes from the chat template text that ships with
 * the model (tokenizer_config.json's chat_template, or GGUF's tokenizer.chat_template):
 *   QWEN3   ChatML with Qwen3's reasoning handling: a first system message is emitted
 *           first; an assistant message's "<think>...</think>" part is dropped before
 *           the last user query and kept (re-formatted) after it; consecutive "tool"
 *           messages are wrapped in one user turn as <tool_response> blocks;
 *           CADA_CHAT_THINKING_OFF appends the empty think block after the generation
 *           prompt (enable_thinking=False).
 *   CHATML  "<|im_start|>role\ncontent<|im_end|>\n" per message, generation prompt
 *           "<|im_start|>assistant\n"; when the template carries a literal default
 *           system turn ("<|im_start|>system\n...<|im_end|>\n", e.g. SmolLM2's "You are
 *           a helpful AI assistant named SmolLM, trained by Hugging Face") it is
 *           inserted when the first message is not a system message.
 *   LLAMA3  bos + "<|start_header_id|>role<|end_header_id|>\n\n" + trimmed content +
 *           "<|eot_id|>" per message; generation prompt
 *           "<|start_header_id|>assistant<|end_header_id|>\n\n" (Meta Llama 3 format).
 * Not covered: tool definitions / tool_calls in Qwen3's template, Llama 3.1's dated
 * system preamble (a template mentioning "Cutting Knowledge Date" is refused), any other
 * template (CADA_ERR_UNSUPPORTED). Roles and contents are NUL-terminated UTF-8. */
typedef enum {
    CADA_CHAT_NONE = 0, CADA_CHAT_CHATML, CADA_CHAT_QWEN3, CADA_CHAT_LLAMA3
} cada_chat_family;

typedef struct {
    const char *role;    /* "system", "user", "assistant", "tool" */
    const char *content;
} cada_chat_msg;

enum {
    CADA_CHAT_ADD_GENERATION_PROMPT = 1u << 0,
    CADA_CHAT_THINKING_OFF = 1u << 1, /* Qwen3: enable_thinking=False */
};

cada_chat_family cada_tok_chat_family(const cada_tokenizer *t);
/* Appends the rendered conversation (text, not ids) to out. Encode it with
 * cada_tok_encode (flags 0) to get the ids that apply_chat_template(tokenize=True)
 * gives. */
cada_status cada_tok_chat_render(const cada_tokenizer *t, const cada_chat_msg *msgs, size_t n,
                                 unsigned flags, cada_tok_bytes *out);

/* ---- benchmark ------------------------------------------------------------------------- */

/* Loads the tokenizer at tokenizer_path (as cada_tok_load), reads text_path, encodes
 * the whole text in one call on one thread, repeated for at least 2 s after a warm-up
 * call, and prints "tok bench: <path>: <bytes> bytes -> <n> tokens, <MB/s> MB/s" to
 * stdout (MB = 1e6 bytes). */
cada_status cada_tok_bench(const char *tokenizer_path, const char *text_path);

#endif
