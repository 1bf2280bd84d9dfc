#!/usr/bin/env python3
"""The Hugging Face transformers peer for `cada bench generate`: prefill and greedy-decode
throughput of SmolLM2-135M-Instruct, loaded by transformers from the same GGUF
($CADA_CACHE/models/SmolLM2-135M-Instruct.Q4_1.gguf, default .cache/models; dequantised
to fp32), on the CPU.

  python3 tests/peers/bench_hf_generate.py [--threads N] [--prompts 8] [--new-tokens 64]
                                           [--batch 16] [--iters 3] [--warmup 1]
                                           [--attn sdpa|eager]

The prompts are the 8 chat prompts of tests/ref/golden/smollm2_generate.gold (their
token ids, as stored there by tests/ref/make_generate_golden.py; 37-44 tokens each),
cycled when --prompts is larger than 8.

Measurements (each the median of --iters timed runs after --warmup untimed ones):
  prefill   batch 1: one forward over each of the --prompts prompts with a KV cache and
            logits for the last position only (what generate() does for its prefill);
            tokens/s = all prompt tokens / total time.
  decode    batch 1: generate() greedy with min_new_tokens = max_new_tokens = --new-tokens
            (so an EOS does not end it early) from one prompt (iteration k uses prompt
            k mod N), minus generate() of 1 new token (= prefill + first token) from the
            same prompt: tokens/s = (new_tokens - 1) / (t(new_tokens) - t(1)), i.e. the
            rate of the decode steps alone (the first new token comes from the prefill).
  decode    batch --batch (16): the same with --batch prompts (cycled) left-padded with
            the pad id (2) and an attention mask: tokens/s = batch * (new_tokens - 1) /
            (t(new_tokens) - t(1)).
Peak RSS (getrusage ru_maxrss) is printed after loading (the GGUF dequantisation in
transformers peaks there) and at the end.

One line per measurement, e.g.
  hf prefill tokens/s 1234.5 (batch 1, threads 2)
  hf decode tokens/s 12.3 (batch 1, 64 new tokens, threads 2)
  hf decode tokens/s 45.6 (batch 16, 64 new tokens, threads 2)
"""
import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "ref"))
import make_golden as mg  # noqa: E402  (GGUF location, read_golden)

GOLDEN = mg.GOLDEN_DIR / "smollm2_generate.gold"


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def load_prompts(tok):
    """The 8 chat prompts of the generate golden file, as token ids."""
    if GOLDEN.is_file():
        g = mg.read_golden(GOLDEN)
        return [g[f"prompt.{i}"].tolist() for i in range(int(g["n_prompts"][0]))]
    print(f"note: {GOLDEN} missing; tokenizing make_generate_golden.PROMPTS instead")
    import make_generate_golden as mgg
    return [mgg.prompt_ids(tok, t) for t in mgg.PROMPTS]


def median_of(fn, warmup, iters):
    for k in range(warmup):
        fn(k)
    return statistics.median(fn(k) for k in range(iters))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="torch.set_num_threads (default: all CPUs)")
    ap.add_argument("--prompts", type=int, default=8, help="prompts for the prefill measurement (cycled)")
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--batch", type=int, default=16, help="batch size of the batched decode measurement")
    ap.add_argument("--iters", type=int, default=3, help="timed runs; the median is reported")
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs first")
    ap.add_argument("--attn", choices=["sdpa", "eager"], default="sdpa")
    args = ap.parse_args()
    if min(args.threads, args.prompts, args.batch, args.iters) < 1 or args.new_tokens < 2 or args.warmup < 0:
        ap.error("--threads, --prompts, --batch, --iters must be >= 1, --new-tokens >= 2, --warmup >= 0")

    torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    torch.set_grad_enabled(False)
    import transformers
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, threads {threads} "
          f"(asked {args.threads}), interop threads {torch.get_num_interop_threads()}, cpus {os.cpu_count()}")
    t = time.perf_counter()
    tok, model = mg.load_smollm2(torch.float32, attn=args.attn)
    print(f"hf model: SmolLM2-135M-Instruct from {mg.GGUF_NAME}, fp32, attention "
          f"{model.config._attn_implementation}, loaded in {time.perf_counter() - t:.1f} s; "
          f"peak RSS {peak_rss_mib():.0f} MiB")
    pad = model.generation_config.pad_token_id
    base = load_prompts(tok)
    prompts = [base[i % len(base)] for i in range(args.prompts)]
    n_new = args.new_tokens

    # ---- prefill, batch 1 -----------------------------------------------------------
    n_prompt_tokens = sum(len(p) for p in prompts)

    def prefill(_k):
        t0 = time.perf_counter()
        for p in prompts:
            model(input_ids=torch.tensor([p]), use_cache=True, logits_to_keep=1)
        return n_prompt_tokens / (time.perf_counter() - t0)

    rate = median_of(prefill, args.warmup, args.iters)
    print(f"hf prefill tokens/s {rate:.1f} (batch 1, {len(prompts)} prompts, {n_prompt_tokens} tokens, "
          f"threads {threads})", flush=True)

    # ---- greedy decode --------------------------------------------------------------
    def batch_of(k, b):
        rows = [base[(k * b + j) % len(base)] for j in range(b)]
        T = max(len(r) for r in rows)
        ids = torch.full((b, T), pad, dtype=torch.long)
        mask = torch.zeros((b, T), dtype=torch.long)
        for j, r in enumerate(rows):  # left padding
            ids[j, T - len(r):] = torch.tensor(r)
            mask[j, T - len(r):] = 1
        return ids, mask

    def gen_time(ids, mask, n):
        t0 = time.perf_counter()
        out = model.generate(ids, attention_mask=mask, max_new_tokens=n, min_new_tokens=n,
                             do_sample=False, pad_token_id=pad)
        dt = time.perf_counter() - t0
        assert out.shape[1] == ids.shape[1] + n, out.shape
        return dt

    for b in sorted({1, args.batch}):
        times = {"t1": [], "tn": []}

        def decode(k, b=b, times=times):
            ids, mask = batch_of(k, b)
            t1 = gen_time(ids, mask, 1)
            tn = gen_time(ids, mask, n_new)
            times["t1"].append(t1)
            times["tn"].append(tn)
            return b * (n_new - 1) / (tn - t1)

        rate = median_of(decode, args.warmup, args.iters)
        t1 = statistics.median(times["t1"][args.warmup:])
        tn = statistics.median(times["tn"][args.warmup:])
        print(f"hf decode tokens/s {rate:.1f} (batch {b}, {n_new} new tokens, threads {threads}; "
              f"generate {n_new} in {tn:.2f} s, prefill + first token {t1:.3f} s, "
              f"end-to-end {b * n_new / tn:.1f} tokens/s)", flush=True)

    print(f"hf peak RSS {peak_rss_mib():.0f} MiB (ru_maxrss, includes the GGUF load)")


if __name__ == "__main__":
    main()
