#!/usr/bin/env python3
"""Writes the tokenizer golden files tests/ref/golden/tok_*.ids (and tok_synth_*.json).

Reference implementations: the PyPI `tokenizers` library (0.23) for the ids, and
`transformers` (5.x) for the GGUF-embedded SmolLM2 vocabulary and for the chat
templates (tokenizer.apply_chat_template(..., tokenize=False)).

Inputs:
  tests/data/tok_corpus.txt                     the corpus (UTF-8, read as bytes)
  $CADA_SHARED/tokenizers/qwen3/tokenizer.json  (+ tokenizer_config.json)
  $CADA_SHARED/tokenizers/gpt2/encoder.json + vocab.bpe
  $CADA_CACHE/models/SmolLM2-135M-Instruct.Q4_1.gguf
CADA_SHARED defaults to <repo>/../shared, CADA_CACHE to <repo>/.cache.

Golden file format (text; one record per line unless a byte block follows):
  # ...                                   comment
  tokenizer <name>                        first record
  line <i> <n> <id>*n                     ids of corpus line i (corpus split on b"\\n";
                                          a line keeps its "\\r"), add_special_tokens=False
  full <n> <id>*n                         ids of the whole corpus as one text
  full_nospecial <n> <id>*n               the same with encode_special_tokens=True
                                          (special added tokens are read as plain text);
                                          absent when equal to "full"
  full_addspecial <n> <id>*n              the whole corpus with add_special_tokens=True;
                                          absent when equal to "full"
  decoded <nbytes>\\n<bytes>\\n             tok.decode(full ids) as UTF-8 bytes
  nfc <nbytes>\\n<bytes>\\n                 (tok_nfc.ids) NFC of the preceding text
  text <nbytes>\\n<bytes>\\n                an extra input text, followed by
  textids <n> <id>*n                      its ids (add_special_tokens=False), then,
                                          only when they differ from textids:
  textids_addspecial <n> <id>*n           its ids with add_special_tokens=True
  chat <case> <gen> <think> <nmsg>        a chat-template case: gen = add_generation_prompt
                                          (0/1), think = enable_thinking (-1 absent, 0, 1),
                                          then nmsg times:
  msg <role> <nbytes>\\n<bytes>\\n          one message (role has no spaces)
  expect <nbytes>\\n<bytes>\\n              apply_chat_template(..., tokenize=False)
Byte blocks are raw bytes of exactly nbytes, then one "\\n".

Files: tok_qwen3.ids, tok_gpt2.ids, tok_smollm2.ids, tok_smollm2_hf.ids, tok_nfc.ids
(NFC cases: text + nfc records), and for the synthetic tokenizers
that exercise features the three real ones do not use (Split behaviours and invert,
Digits, add_prefix_space, ignore_merges, "a b" merges, lstrip/rstrip/single_word and
normalized added tokens, TemplateProcessing) tok_synth_<x>.json + tok_synth_<x>.ids.
The synthetic tokenizers are trained here with tokenizers' BpeTrainer on the corpus;
training is deterministic for a fixed corpus and library version.

Run: python3 tests/ref/make_tok_golden.py   (about 15 s)
"""
import json
import os
import sys

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
shared = os.environ.get("CADA_SHARED", os.path.join(root, "..", "shared"))
cache = os.environ.get("CADA_CACHE", os.path.join(root, ".cache"))
out_dir = os.path.join(root, "tests", "ref", "golden")
os.makedirs(out_dir, exist_ok=True)

from tokenizers import Tokenizer, AddedToken, Regex  # noqa: E402
from tokenizers import decoders, models, normalizers, pre_tokenizers, processors, trainers  # noqa: E402

corpus_bytes = open(os.path.join(root, "tests", "data", "tok_corpus.txt"), "rb").read()
corpus = corpus_bytes.decode("utf-8")
corpus_lines = corpus_bytes.split(b"\n")


class Writer:
    def __init__(self, name):
        self.name = name
        self.parts = [b"# written by tests/ref/make_tok_golden.py; format documented there\n",
                      b"tokenizer " + name.encode() + b"\n"]

    def ids(self, tag, ids):
        self.parts.append(("%s %d%s\n" % (tag, len(ids), "".join(" %d" % i for i in ids))).encode())

    def block(self, tag, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.parts.append(b"%s %d\n" % (tag.encode(), len(data)) + data + b"\n")

    def save(self):
        path = os.path.join(out_dir, "tok_%s.ids" % self.name)
        with open(path, "wb") as f:
            f.write(b"".join(self.parts))
        return path


def encode(tok, text, add_special=False):
    return tok.encode(text, add_special_tokens=add_special).ids


def write_corpus_records(w, tok, extra_texts=()):
    for i, line in enumerate(corpus_lines):
        w.ids("line %d" % i, encode(tok, line.decode("utf-8")))
    full = encode(tok, corpus)
    w.ids("full", full)
    tok.encode_special_tokens = True
    nospecial = encode(tok, corpus)
    tok.encode_special_tokens = False
    if nospecial != full:
        w.ids("full_nospecial", nospecial)
    addspecial = encode(tok, corpus, add_special=True)
    if addspecial != full:
        w.ids("full_addspecial", addspecial)
    w.block("decoded", tok.decode(full, skip_special_tokens=False))
    for t in extra_texts:
        w.block("text", t)
        w.ids("textids", encode(tok, t))
        with_special = encode(tok, t, add_special=True)
        if with_special != encode(tok, t):
            w.ids("textids_addspecial", with_special)
    return full


def write_chat(w, hf_tok, cases):
    for name, msgs, gen, think in cases:
        kwargs = {}
        if think is not None:
            kwargs["enable_thinking"] = think
        s = hf_tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=gen, **kwargs)
        w.parts.append(b"chat %s %d %d %d\n" % (name.encode(), int(gen), -1 if think is None else int(think), len(msgs)))
        for m in msgs:
            w.block("msg " + m["role"], m["content"])
        w.block("expect", s)


# ---- chat cases ----------------------------------------------------------------------
SYS = {"role": "system", "content": "You are a careful assistant. Follow the policy."}
U1 = {"role": "user", "content": "How do I bake bread?"}
A1 = {"role": "assistant", "content": "Mix flour, water, salt and yeast; knead; let it rise; bake at 230 C."}
U2 = {"role": "user", "content": "And without yeast?\nKeep it short."}
A_THINK = {"role": "assistant", "content": "<think>\nThe user wants soda bread.\n</think>\n\nUse baking soda and buttermilk."}
A_THINK_LAST = {"role": "assistant", "content": "\n<think>\nreasoning here\n\n</think>\n\nFinal answer."}
A_NOTHINK = {"role": "assistant", "content": "Plain answer without reasoning."}
TOOL1 = {"role": "tool", "content": "{\"temperature\": 21}"}
TOOL2 = {"role": "tool", "content": "{\"humidity\": 40}"}
U_TOOLRESP = {"role": "user", "content": "<tool_response>\nok\n</tool_response>"}
SYS2 = {"role": "system", "content": "A second system message mid-conversation."}
U_UNI = {"role": "user", "content": "Ünïcödé ✓ 你好 <|im_end|> inside content"}

QWEN3_CASES = [
    ("user_only", [U1], True, None),
    ("system_user", [SYS, U1], True, None),
    ("multi_turn", [SYS, U1, A1, U2], True, None),
    ("no_gen_prompt", [U1, A1], False, None),
    ("think_history", [U1, A_THINK, U2, A_THINK_LAST], False, None),
    ("think_after_last_query", [U1, A_NOTHINK, U2, A_NOTHINK], False, None),
    ("tools", [U1, A_NOTHINK, TOOL1, TOOL2, U_TOOLRESP, A_THINK], True, None),
    ("thinking_off", [SYS, U1], True, False),
    ("thinking_on", [U1], True, True),
    ("second_system", [SYS, U1, SYS2, U2], True, None),
    ("unicode", [U_UNI], True, None),
]
SMOL_CASES = [
    ("user_only", [U1], True, None),
    ("system_user", [SYS, U1], True, None),
    ("multi_turn", [U1, A1, U2], True, None),
    ("no_gen_prompt", [SYS, U1, A1], False, None),
    ("unicode", [U_UNI], True, None),
]

EXTRA = [
    "",
    " ",
    "a",
    "<|im_end|>",
    "<|im_end|><|im_start|>",
    "x<|endoftext|>y<|endoftext|>",
]


def qwen3():
    d = os.path.join(shared, "tokenizers", "qwen3")
    tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
    w = Writer("qwen3")
    write_corpus_records(w, tok, EXTRA + ["<think>x</think>", "cafe\u0301 vs caf\u00e9"])
    from transformers import AutoTokenizer
    hf = AutoTokenizer.from_pretrained(d)
    write_chat(w, hf, QWEN3_CASES)
    return w.save()


def gpt2():
    d = os.path.join(shared, "tokenizers", "gpt2")
    tok = Tokenizer(models.BPE.from_file(os.path.join(d, "encoder.json"), os.path.join(d, "vocab.bpe")))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken("<|endoftext|>", special=True, normalized=False)])
    w = Writer("gpt2")
    write_corpus_records(w, tok, EXTRA)
    return w.save()


def smollm2():
    from transformers import AutoTokenizer
    hf = AutoTokenizer.from_pretrained(os.path.join(cache, "models"), gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
    conv = hf.backend_tokenizer
    # transformers' GGUF converter gives SmolLM2 plain GPT-2 ByteLevel pre-tokenization
    # (it ignores tokenizer.ggml.pre). llama.cpp reads tokenizer.ggml.pre = "smollm" as
    # "split every \\p{N} first, then the GPT-2 regex", which is also SmolLM2's original
    # tokenizer.json (Digits(individual_digits) + ByteLevel): the way the model was
    # trained. cada's default follows tokenizer.ggml.pre; the reference for it is the
    # converted vocabulary with that pre-tokenizer. tok_smollm2_hf.ids holds transformers'
    # conversion as is (cada's CADA_TOK_GGUF_AS_TRANSFORMERS mode): its full text and
    # the lines where the two disagree (non-ASCII numerals after a space).
    tok = Tokenizer.from_str(conv.to_str())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    extra = EXTRA + ["x\u00b2\u00b3 12\u00bd 1\u0663 \u00bd"]
    w = Writer("smollm2")
    write_corpus_records(w, tok, extra)
    write_chat(w, hf, SMOL_CASES)
    w2 = Writer("smollm2_hf")
    ndiff = 0
    for i, line in enumerate(corpus_lines):
        t = line.decode("utf-8")
        ids = encode(conv, t)
        if ids != encode(tok, t):
            w2.ids("line %d" % i, ids)
            ndiff += 1
    if ndiff == 0:
        sys.exit("smollm2: expected the two pre-tokenizations to differ on some corpus line")
    full = encode(conv, corpus)
    w2.ids("full", full)
    conv.encode_special_tokens = True
    nospecial = encode(conv, corpus)
    conv.encode_special_tokens = False
    if nospecial != full:
        w2.ids("full_nospecial", nospecial)
    for t in extra:
        w2.block("text", t)
        w2.ids("textids", encode(conv, t))
    return [w.save(), w2.save()]


# ---- synthetic tokenizers ------------------------------------------------------------
def train_synth(name, normalizer, pre, added, post, vocab_size, ignore_merges=False, string_merges=False):
    tok = Tokenizer(models.BPE())
    if normalizer is not None:
        tok.normalizer = normalizer
    tok.pre_tokenizer = pre
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=["<s>", "</s>"])
    tok.train_from_iterator([l.decode() for l in corpus_lines], trainer=trainer)
    tok.add_tokens(added)
    if post is not None:
        tok.post_processor = post
    j = json.loads(tok.to_str())
    j["model"]["ignore_merges"] = ignore_merges
    if string_merges:
        j["model"]["merges"] = [" ".join(m) for m in j["model"]["merges"]]
    text = json.dumps(j, ensure_ascii=False, indent=None, separators=(",", ":"))
    path = os.path.join(out_dir, "tok_synth_%s.json" % name)
    open(path, "w", encoding="utf-8").write(text)
    return Tokenizer.from_file(path)  # the reference is what the saved file loads as


def synth_a():
    added = [AddedToken("<sep>", special=True, lstrip=True, rstrip=True, normalized=False),
             AddedToken("foo", special=False, single_word=True, normalized=False),
             AddedToken("caf\u00e9", special=False, normalized=True),
             AddedToken("[MASK]", special=True, lstrip=True, normalized=False)]
    # <s> and </s> are the trainer's first two special tokens: ids 0 and 1.
    post = processors.TemplateProcessing(single="<s> $A </s>", pair="<s> $A </s> $B:1 </s>:1",
                                         special_tokens=[("<s>", 0), ("</s>", 1)])
    tok = train_synth("a", normalizers.NFC(),
                      pre_tokenizers.Sequence([
                          pre_tokenizers.Split(Regex(r"\p{N}+|[,.;:]"), behavior="merged_with_previous"),
                          pre_tokenizers.Digits(individual_digits=False),
                          pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)]),
                      added, post, 420, ignore_merges=True, string_merges=True)
    w = Writer("synth_a")
    write_corpus_records(w, tok, EXTRA + [
        "a<sep>b", "a   <sep>   b", "x [MASK] y", "foo food foo. (foo) afoo foo_bar",
        "cafe\u0301 and caf\u00e9 and CAFE", "12,345.678;9", "<sep><sep>  <sep>"])
    return w.save()


def synth_b():
    tok = train_synth("b", None,
                      pre_tokenizers.Sequence([
                          pre_tokenizers.Split(" ", behavior="merged_with_next"),
                          pre_tokenizers.Split(Regex(r"[aeiou]+"), behavior="contiguous", invert=True),
                          pre_tokenizers.Split(Regex(r"x"), behavior="removed"),
                          pre_tokenizers.Split(Regex(r"[0-9]"), behavior="isolated", invert=True),
                          pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]),
                      [], processors.ByteLevel(trim_offsets=False), 380)
    w = Writer("synth_b")
    write_corpus_records(w, tok, EXTRA + ["xxx", "box of xylophones", "aeiou xaex 0x1f"])
    return w.save()


def synth_c():
    tok = train_synth("c", normalizers.Sequence([normalizers.NFC()]),
                      pre_tokenizers.Sequence([
                          pre_tokenizers.Digits(individual_digits=True),
                          pre_tokenizers.Split(Regex(r"\s+"), behavior="merged_with_previous", invert=True),
                          pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]),
                      [AddedToken("<|tag|>", special=False, normalized=False)], None, 350)
    w = Writer("synth_c")
    write_corpus_records(w, tok, EXTRA + ["1<|tag|>2 <|tag|> 3"])
    return w.save()


def nfc_cases():
    """Random strings rich in what NFC acts on, with tokenizers' NFC (normalizers.NFC,
    Rust's unicode-normalization) as the reference. Code points are drawn from blocks
    assigned before Unicode 14 (cada's tables) so that version skew cannot matter."""
    import random
    rng = random.Random(20250101)
    pools = [
        range(0x41, 0x5B), range(0x61, 0x7B), range(0xC0, 0x100), range(0x300, 0x370),
        range(0x591, 0x5C8), range(0x900, 0x980), range(0x9BC, 0x9D8), range(0xF71, 0xF85),
        range(0x1100, 0x1113), range(0x1161, 0x1176), range(0x11A8, 0x11C3), range(0xAC00, 0xAC40),
        range(0x1E00, 0x1F00), range(0x1F00, 0x2000), range(0x370, 0x400), range(0x3099, 0x309B),
        range(0x304B, 0x3050), range(0xF900, 0xF910), range(0x1D15E, 0x1D165), range(0x20D0, 0x20F1),
        [0x212B, 0x2126, 0x212A, 0x0340, 0x0341, 0x0343, 0x0344, 0x0374, 0x037E, 0x0387, 0x0958, 0x2ADC],
    ]
    norm = normalizers.NFC()
    w = Writer("nfc")
    w.parts.append(b"# text: input; nfc: tokenizers' normalizers.NFC() of it\n")
    for k in range(400):
        n = 1 + rng.randrange(8)
        t = "".join(chr(rng.choice(rng.choice(pools))) for _ in range(n))
        w.block("text", t)
        w.block("nfc", norm.normalize_str(t))
    return w.save()


if __name__ == "__main__":
    paths = [qwen3(), gpt2()] + smollm2() + [synth_a(), synth_b(), synth_c(), nfc_cases()]
    total = 0
    for p in sorted(os.listdir(out_dir)):
        if p.startswith("tok_"):
            total += os.path.getsize(os.path.join(out_dir, p))
    for p in paths:
        print("wrote", os.path.relpath(p, root), os.path.getsize(p), "bytes")
    print("tok golden total: %d bytes" % total)
