#!/usr/bin/env python3
"""Single-thread encode throughput of Hugging Face `tokenizers` (the peer of cada_tok_bench).

The text is tests/data/tok_corpus.txt repeated to about 2 MB (written to --text, default
/tmp/cada_tok_bench.txt, so that `cada bench tokenizer` / cada_tok_bench can read the same
bytes). Two measurements, both single-threaded (RAYON_NUM_THREADS=1; encode_batch is not
used):
  whole text  one tok.encode(text) call on the 2 MB string (what cada_tok_bench does)
  per line    tok.encode(line) for every line (more Python call overhead)
MB = 1e6 bytes of UTF-8 input. Each measurement is the best of --repeat runs.

Usage: python3 tests/peers/bench_tokenizers.py [--tokenizer qwen3|gpt2|smollm2|all] [--text PATH]
"""
import argparse
import os
import time

os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tokenizers import Tokenizer, AddedToken, decoders, models, pre_tokenizers  # noqa: E402

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
shared = os.environ.get("CADA_SHARED", os.path.join(root, "..", "shared"))
cache = os.environ.get("CADA_CACHE", os.path.join(root, ".cache"))


def load(name):
    if name == "qwen3":
        return Tokenizer.from_file(os.path.join(shared, "tokenizers", "qwen3", "tokenizer.json"))
    if name == "gpt2":
        d = os.path.join(shared, "tokenizers", "gpt2")
        tok = Tokenizer(models.BPE.from_file(os.path.join(d, "encoder.json"), os.path.join(d, "vocab.bpe")))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        tok.decoder = decoders.ByteLevel()
        tok.add_special_tokens([AddedToken("<|endoftext|>", special=True, normalized=False)])
        return tok
    if name == "smollm2":
        from transformers import AutoTokenizer
        hf = AutoTokenizer.from_pretrained(os.path.join(cache, "models"), gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
        return hf.backend_tokenizer
    raise SystemExit("unknown tokenizer " + name)


def best_of(fn, repeat):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenizer", default="all")
    ap.add_argument("--text", default="/tmp/cada_tok_bench.txt")
    ap.add_argument("--size", type=int, default=2_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    corpus = open(os.path.join(root, "tests", "data", "tok_corpus.txt"), "rb").read()
    data = corpus * (args.size // len(corpus) + 1)
    data = data[: data.rfind(b"\n", 0, args.size) + 1]
    with open(args.text, "wb") as f:
        f.write(data)
    text = data.decode("utf-8")
    lines = text.split("\n")
    nbytes = len(data)
    print("text: %s (%d bytes, tests/data/tok_corpus.txt repeated)" % (args.text, nbytes))

    names = ["qwen3", "gpt2", "smollm2"] if args.tokenizer == "all" else [args.tokenizer]
    for name in names:
        tok = load(name)
        tok.encode(text)  # warm-up (its word cache, as cada's bench warms its own)
        n_tokens = len(tok.encode(text, add_special_tokens=False).ids)
        whole = best_of(lambda: tok.encode(text, add_special_tokens=False), args.repeat)
        per_line = best_of(lambda: [tok.encode(l, add_special_tokens=False) for l in lines], args.repeat)
        print("tokenizers %s: %d tokens; whole text %.2f MB/s; per line %.2f MB/s (one thread)" %
              (name, n_tokens, nbytes / whole / 1e6, nbytes / per_line / 1e6))


if __name__ == "__main__":
    main()
