#!/usr/bin/env python3
"""Checks the tokenizer that `cada convert IN.gguf OUT_DIR` writes, as transformers loads it.

  python3 tests/ref/check_tokenizer_export.py OUT_DIR [--require-transformers]

OUT_DIR/tokenizer.json is what cada exported from the GGUF; OUT_DIR/tokenizer_config.json
says which class transformers builds from it. Two readers, neither of them cada's:
  1. tokenizers.Tokenizer.from_file(OUT_DIR/tokenizer.json): the file as written;
  2. transformers.AutoTokenizer.from_pretrained(OUT_DIR): what users of the folder get.
They must agree on
  - the whole pipeline (normalizer, pre-tokenizer, model, post-processor, decoder,
    added tokens), compared as tokenizers serialises it: a tokenizer_class that makes
    transformers rebuild the pipeline (GPT2Tokenizer drops the Digits pre-tokenizer of
    SmolLM2) shows up here by name;
  - the ids of every text in TEXTS (digit runs, whitespace runs before digits, where a
    lost Digits step changes the ids, code, non-ASCII, special tokens in the text), and
    the decoding of those ids;
  - the special tokens of tokenizer_config.json (bos, eos, unk, pad) and their ids;
  - the chat template: apply_chat_template's ids equal the file's ids of the rendered text.
When transformers or tokenizers cannot be imported the check is skipped with a note
(tests/py_deps.sh installs them into .cache/python); --require-transformers makes that a
failure. Exit status 0 when everything agrees, 1 on a difference, 2 on a usage error.
"""
import json
import os
import sys

TEXTS = [
    "12345678",
    "3.14159",
    "year 2026",
    # Whitespace runs before digits: GPT-2's regex alone keeps the last space with the
    # digits (" 2026"), Digits first leaves the whole run together ("  " is one token).
    "year  2026",
    "x =   12",
    "    1 + 1 = 2",
    "| 1 |  22 |   333 |",
    "a\t\t3",
    "line\n  42\n",
    "The quick brown fox jumps over the lazy dog.",
    "Hello, world! It's 9:30am on 2024-02-29, isn't it?",
    "def f(x):\n    return x ** 2  # square\n",
    "naïve café — 東京 🚀 ²³ ١٢٣",
    "<|im_start|>user\nWhat is 17 * 23?<|im_end|>\n",
    "",
]


def pipeline(tok):
    """The tokenizers library's own serialisation of a backend tokenizer, as data."""
    return json.loads(tok.to_str())


def first_difference(a, b, where):
    """A readable path to the first place two JSON values differ, or None."""
    if isinstance(a, dict) and isinstance(b, dict) and a.get("type") == b.get("type"):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return f"{where}.{k}: only in {'tokenizers' if k in a else 'AutoTokenizer'}"
            d = first_difference(a[k], b[k], f"{where}.{k}")
            if d:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            d = first_difference(x, y, f"{where}[{i}]")
            if d:
                return d
        return None
    if a != b:
        return f"{where}: tokenizer.json has {json.dumps(a)[:300]}, AutoTokenizer has {json.dumps(b)[:300]}"
    return None


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    require = "--require-transformers" in sys.argv
    if len(args) != 1 or not os.path.isdir(args[0]):
        print(__doc__, file=sys.stderr)
        return 2
    out_dir = args[0]
    # Local folder only: never ask a hub; keep transformers' notes (no PyTorch, ...) quiet.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    try:
        from tokenizers import Tokenizer
        from transformers import AutoTokenizer
    except ImportError as e:
        if require:
            print(f"FAIL: transformers / tokenizers cannot be imported: {e}")
            return 1
        print(f"SKIP AutoTokenizer check: {e} (tests/py_deps.sh installs transformers and tokenizers)")
        return 0
    import transformers
    import tokenizers

    ref = Tokenizer.from_file(os.path.join(out_dir, "tokenizer.json"))
    auto = AutoTokenizer.from_pretrained(out_dir)
    config = json.load(open(os.path.join(out_dir, "tokenizer_config.json"), encoding="utf-8"))
    cls = type(auto).__name__
    print(f"transformers {transformers.__version__}, tokenizers {tokenizers.__version__}: "
          f"tokenizer_class {config.get('tokenizer_class')!r} loads as {cls}")
    bad = []

    want, got = pipeline(ref), pipeline(auto.backend_tokenizer)
    for part in sorted(set(want) | set(got)):  # one line per changed part (pre_tokenizer, decoder, ...)
        d = first_difference(want.get(part), got.get(part), part)
        if d:
            bad.append(f"AutoTokenizer ({cls}) does not use tokenizer.json as written: {d}")

    for text in TEXTS:
        want = ref.encode(text).ids
        got = auto(text)["input_ids"]
        if got != want:
            bad.append(f"ids of {text!r}: tokenizer.json {want}, AutoTokenizer {got}")
            continue
        want_text = ref.decode(want, skip_special_tokens=False)
        got_text = auto.decode(got, skip_special_tokens=False)
        if got_text != want_text:
            bad.append(f"decoding {want}: tokenizer.json {want_text!r}, AutoTokenizer {got_text!r}")

    for name in ("bos_token", "eos_token", "unk_token", "pad_token"):
        want = config.get(name)
        got = getattr(auto, name)
        want_id = ref.token_to_id(want) if want is not None else None
        got_id = getattr(auto, name + "_id")
        if got != want or got_id != want_id:
            bad.append(f"{name}: tokenizer_config.json {want!r} (id {want_id}), AutoTokenizer {got!r} (id {got_id})")

    if config.get("chat_template"):
        chat = [{"role": "user", "content": "What is 12345 + 678?"}, {"role": "assistant", "content": "It is  13023."}]
        rendered = auto.apply_chat_template(chat, tokenize=False)
        got = auto.apply_chat_template(chat, tokenize=True, return_dict=True)["input_ids"]
        if "What is 12345 + 678?" not in rendered:
            bad.append(f"chat template dropped the message: {rendered!r}")
        if list(got) != ref.encode(rendered).ids:
            bad.append(f"chat ids: AutoTokenizer {list(got)}, tokenizer.json {ref.encode(rendered).ids}")

    for b in bad:
        print("FAIL:", b)
    if not bad:
        print(f"AutoTokenizer ({cls}) and tokenizer.json agree: pipeline, {len(TEXTS)} texts (ids and decoding), "
              f"special tokens, chat template")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
