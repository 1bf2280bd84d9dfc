/* tok/chat.c: chat templates in C (see the chat section of tokenizer.h).
 *
 * Each family reproduces, byte for byte, what the model's Jinja template renders with
 * transformers' apply_chat_template(messages, tokenize=False, add_generation_prompt=..),
 * for messages made of a role and a string content. The Qwen3 code follows the
 * template in Qwen3's tokenizer_config.json statement by statement; the Python string
 * methods it calls (split, strip('\n'), startswith) are reproduced on byte ranges. */
#include "tok/tok_internal.h"
#include "tok/unicode.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *p;
    size_t n;
} view;

static view cstr(const char *s) { return (view){s, strlen(s)}; }

static cada_status put(cada_tok_bytes *out, view v) {
    if (out->len + v.n + 1 > out->cap) {
        size_t cap = out->cap ? out->cap : 256;
        while (cap < out->len + v.n + 1) cap *= 2;
        char *p = realloc(out->data, cap);
        if (!p) return CADA_ERR(CADA_ERR_NOMEM, "chat template: %zu bytes", cap);
        out->data = p;
        out->cap = cap;
    }
    if (v.n) memcpy(out->data + out->len, v.p, v.n);
    out->len += v.n;
    out->data[out->len] = 0;
    return CADA_OK;
}

static cada_status puts_(cada_tok_bytes *out, const char *s) { return put(out, cstr(s)); }

/* ---- Python string methods on views ---------------------------------------------------- */

static const char *find_first(view s, const char *needle) {
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= s.n; i++)
        if (memcmp(s.p + i, needle, m) == 0) return s.p + i;
    return NULL;
}

static const char *find_last(view s, const char *needle) {
    size_t m = strlen(needle);
    for (size_t i = s.n >= m ? s.n - m + 1 : 0; i-- > 0;)
        if (memcmp(s.p + i, needle, m) == 0) return s.p + i;
    return NULL;
}

static int starts_with(view s, const char *pre) {
    size_t m = strlen(pre);
    return s.n >= m && memcmp(s.p, pre, m) == 0;
}

static int ends_with(view s, const char *suf) {
    size_t m = strlen(suf);
    return s.n >= m && memcmp(s.p + s.n - m, suf, m) == 0;
}

/* s.split(sep)[-1] and s.split(sep)[0] */
static view after_last(view s, const char *sep) {
    const char *q = find_last(s, sep);
    if (!q) return s;
    size_t off = (size_t)(q - s.p) + strlen(sep);
    return (view){s.p + off, s.n - off};
}

static view before_first(view s, const char *sep) {
    const char *q = find_first(s, sep);
    return q ? (view){s.p, (size_t)(q - s.p)} : s;
}

static view lstrip_nl(view s) {
    while (s.n && s.p[0] == '\n') s.p++, s.n--;
    return s;
}

static view rstrip_nl(view s) {
    while (s.n && s.p[s.n - 1] == '\n') s.n--;
    return s;
}

/* Python str.isspace: White_Space plus the separators U+001C..U+001F. */
static int py_space(uint32_t cp) { return cada_uni_is_space(cp) || (cp >= 0x1C && cp <= 0x1F); }

/* str.strip() (Jinja's trim filter). */
static view strip_space(view s) {
    const unsigned char *p = (const unsigned char *)s.p;
    size_t b = 0, e = s.n;
    while (b < e) {
        uint32_t cp;
        size_t len = cada_utf8_decode(p + b, e - b, &cp);
        if (!py_space(cp)) break;
        b += len;
    }
    while (e > b) {
        size_t j = e - 1;
        while (j > b && e - j < 4 && (p[j] & 0xC0) == 0x80) j--;
        uint32_t cp;
        size_t len = cada_utf8_decode(p + j, e - j, &cp);
        if (j + len != e) cp = CADA_UNI_INVALID, j = e - 1;
        if (!py_space(cp)) break;
        e = j;
    }
    return (view){s.p + b, e - b};
}

static int role_is(const cada_chat_msg *m, const char *role) { return strcmp(m->role, role) == 0; }

/* ---- families ------------------------------------------------------------------------- */

static cada_status render_chatml(const cada_tokenizer *t, const cada_chat_msg *m, size_t n, unsigned flags,
                                 cada_tok_bytes *out) {
    if (t->chat_default_system && n > 0 && !role_is(&m[0], "system"))
        CADA_TRY(puts_(out, t->chat_default_system));
    for (size_t i = 0; i < n; i++) {
        CADA_TRY(puts_(out, "<|im_start|>"));
        CADA_TRY(puts_(out, m[i].role));
        CADA_TRY(puts_(out, "\n"));
        CADA_TRY(puts_(out, m[i].content));
        CADA_TRY(puts_(out, "<|im_end|>\n"));
    }
    if (flags & CADA_CHAT_ADD_GENERATION_PROMPT) CADA_TRY(puts_(out, "<|im_start|>assistant\n"));
    return CADA_OK;
}

static cada_status render_qwen3(const cada_chat_msg *m, size_t n, unsigned flags, cada_tok_bytes *out) {
    if (n > 0 && role_is(&m[0], "system")) {
        CADA_TRY(puts_(out, "<|im_start|>system\n"));
        CADA_TRY(puts_(out, m[0].content));
        CADA_TRY(puts_(out, "<|im_end|>\n"));
    }
    /* The last user message that is not a wrapped tool response. */
    size_t last_query = n ? n - 1 : 0;
    for (size_t k = n; k-- > 0;) {
        view c = cstr(m[k].content);
        if (role_is(&m[k], "user") && !(starts_with(c, "<tool_response>") && ends_with(c, "</tool_response>"))) {
            last_query = k;
            break;
        }
    }
    for (size_t i = 0; i < n; i++) {
        view content = cstr(m[i].content);
        if (role_is(&m[i], "user") || (role_is(&m[i], "system") && i > 0)) {
            CADA_TRY(puts_(out, "<|im_start|>"));
            CADA_TRY(puts_(out, m[i].role));
            CADA_TRY(puts_(out, "\n"));
            CADA_TRY(put(out, content));
            CADA_TRY(puts_(out, "<|im_end|>\n"));
        } else if (role_is(&m[i], "assistant")) {
            view reasoning = {"", 0};
            if (find_first(content, "</think>")) {
                reasoning = lstrip_nl(after_last(rstrip_nl(before_first(content, "</think>")), "<think>"));
                content = lstrip_nl(after_last(content, "</think>"));
            }
            if (i > last_query && (i + 1 == n || reasoning.n > 0)) {
                CADA_TRY(puts_(out, "<|im_start|>assistant\n<think>\n"));
                CADA_TRY(put(out, rstrip_nl(lstrip_nl(reasoning))));
                CADA_TRY(puts_(out, "\n</think>\n\n"));
                CADA_TRY(put(out, lstrip_nl(content)));
            } else {
                CADA_TRY(puts_(out, "<|im_start|>assistant\n"));
                CADA_TRY(put(out, content));
            }
            CADA_TRY(puts_(out, "<|im_end|>\n"));
        } else if (role_is(&m[i], "tool")) {
            if (i == 0 || !role_is(&m[i - 1], "tool")) CADA_TRY(puts_(out, "<|im_start|>user"));
            CADA_TRY(puts_(out, "\n<tool_response>\n"));
            CADA_TRY(put(out, content));
            CADA_TRY(puts_(out, "\n</tool_response>"));
            if (i + 1 == n || !role_is(&m[i + 1], "tool")) CADA_TRY(puts_(out, "<|im_end|>\n"));
        }
        /* Other roles (and the first system message, emitted above) render nothing. */
    }
    if (flags & CADA_CHAT_ADD_GENERATION_PROMPT) {
        CADA_TRY(puts_(out, "<|im_start|>assistant\n"));
        if (flags & CADA_CHAT_THINKING_OFF) CADA_TRY(puts_(out, "<think>\n\n</think>\n\n"));
    }
    return CADA_OK;
}

/* Meta Llama 3 (the Meta-Llama-3-*-Instruct template): bos before the first message,
 * each message "<|start_header_id|>role<|end_header_id|>\n\n" + content|trim +
 * "<|eot_id|>". */
static cada_status render_llama3(const cada_tokenizer *t, const cada_chat_msg *m, size_t n, unsigned flags,
                                 cada_tok_bytes *out) {
    for (size_t i = 0; i < n; i++) {
        if (i == 0) CADA_TRY(puts_(out, t->bos_text));
        CADA_TRY(puts_(out, "<|start_header_id|>"));
        CADA_TRY(puts_(out, m[i].role));
        CADA_TRY(puts_(out, "<|end_header_id|>\n\n"));
        CADA_TRY(put(out, strip_space(cstr(m[i].content))));
        CADA_TRY(puts_(out, "<|eot_id|>"));
    }
    if (flags & CADA_CHAT_ADD_GENERATION_PROMPT)
        CADA_TRY(puts_(out, "<|start_header_id|>assistant<|end_header_id|>\n\n"));
    return CADA_OK;
}

cada_status cada_tok_chat_render(const cada_tokenizer *t, const cada_chat_msg *msgs, size_t n,
                                 unsigned flags, cada_tok_bytes *out) {
    if (!t || !out || (!msgs && n)) return CADA_ERR(CADA_ERR_ARG, "cada_tok_chat_render: NULL argument");
    for (size_t i = 0; i < n; i++)
        if (!msgs[i].role || !msgs[i].content)
            return CADA_ERR(CADA_ERR_ARG, "cada_tok_chat_render: messages[%zu] has a NULL role or content", i);
    size_t len0 = out->len;
    cada_status s;
    switch (t->chat) {
    case CADA_CHAT_CHATML: s = render_chatml(t, msgs, n, flags, out); break;
    case CADA_CHAT_QWEN3: s = render_qwen3(msgs, n, flags, out); break;
    case CADA_CHAT_LLAMA3: s = render_llama3(t, msgs, n, flags, out); break;
    default:
        return CADA_ERR(CADA_ERR_UNSUPPORTED, "%s: %s", t->source,
                        t->chat_refusal ? t->chat_refusal : "no chat template");
    }
    if (s != CADA_OK) {
        out->len = len0;
        if (out->data) out->data[len0] = 0;
        return s;
    }
    return out->data ? CADA_OK : put(out, (view){"", 0});
}

/* ---- family detection ----------------------------------------------------------------- */

/* Decodes the Jinja string literal starting at the quote *p; returns the end (after the
 * closing quote) or NULL when unterminated. */
static const char *jinja_literal(const char *p, const char *end, cada_tok_bytes *val) {
    char q = *p++;
    val->len = 0;
    while (p < end && *p != q) {
        char c = *p++;
        if (c == '\\' && p < end) {
            char e = *p++;
            c = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
        }
        if (put(val, (view){&c, 1}) != CADA_OK) return NULL;
    }
    return p < end ? p + 1 : NULL;
}

/* A literal "<|im_start|>system\n...<|im_end|>\n" inside a Jinja block: the default
 * system turn of templates like SmolLM2's and Qwen2.5's. */
static cada_status find_default_system(cada_tokenizer *t, const char *tmpl) {
    const char *p = tmpl, *end = tmpl + strlen(tmpl);
    cada_tok_bytes val = {0};
    int in_block = 0;
    cada_status s = CADA_OK;
    while (p < end) {
        if (!in_block) {
            if (p + 1 < end && p[0] == '{' && (p[1] == '{' || p[1] == '%')) in_block = 1, p += 2;
            else p++;
            continue;
        }
        if (p + 1 < end && (p[0] == '}' || p[0] == '%') && p[1] == '}') {
            in_block = 0;
            p += 2;
            continue;
        }
        if (*p == '\'' || *p == '"') {
            const char *next = jinja_literal(p, end, &val);
            if (!next) break;
            p = next;
            view v = {val.data ? val.data : "", val.len};
            static const char head[] = "<|im_start|>system\n", tail[] = "<|im_end|>\n";
            if (v.n > strlen(head) + strlen(tail) && starts_with(v, head) && ends_with(v, tail) &&
                !find_first((view){v.p + strlen(head), v.n - strlen(head)}, "<|im_start|>")) {
                t->chat_default_system = strndup(v.p, v.n);
                if (!t->chat_default_system) s = CADA_ERR(CADA_ERR_NOMEM, "chat template");
                break;
            }
            continue;
        }
        p++;
    }
    cada_tok_bytes_free(&val);
    return s;
}

static cada_status refuse(cada_tokenizer *t, const char *why) {
    t->chat = CADA_CHAT_NONE;
    t->chat_refusal = strdup(why);
    return t->chat_refusal ? CADA_OK : CADA_ERR(CADA_ERR_NOMEM, "chat template");
}

cada_status tok_chat_setup(cada_tokenizer *t, const char *tmpl) {
    if (!tmpl || !*tmpl) return refuse(t, "the model files carry no chat template");
    if (strstr(tmpl, "<|start_header_id|>")) {
        if (strstr(tmpl, "Cutting Knowledge Date"))
            return refuse(t, "Llama 3.1-style chat template (dated system preamble) is not supported");
        if (!t->bos_text) {
            int32_t id = cada_tok_token_id(t, "<|begin_of_text|>");
            if (id < 0) return refuse(t, "Llama 3 chat template but no bos token");
            t->bos_text = strdup("<|begin_of_text|>");
            if (!t->bos_text) return CADA_ERR(CADA_ERR_NOMEM, "chat template");
        }
        t->chat = CADA_CHAT_LLAMA3;
        return CADA_OK;
    }
    if (strstr(tmpl, "<|im_start|>")) {
        if (strstr(tmpl, "<think>") && strstr(tmpl, "reasoning_content")) {
            t->chat = CADA_CHAT_QWEN3;
            return CADA_OK;
        }
        t->chat = CADA_CHAT_CHATML;
        return find_default_system(t, tmpl);
    }
    return refuse(t, "unrecognised chat template (supported families: ChatML, Qwen3, Llama 3)");
}
