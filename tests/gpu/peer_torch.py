#!/usr/bin/env python3
"""tests/gpu/peer_torch.py: the PyTorch peer for cada's GPU benchmarks, same card, same run.

  learner: forward + backward of a Llama-3-8B-shaped model with --layers layers
           (hidden 4096, 32 heads, 8 KV heads, intermediate 14336, vocab 128256),
           one sequence of --seq tokens, bf16 weights, attention through
           scaled_dot_product_attention (flash); tokens/s and MFU by the same
           accounting as cada (6 x (layer + LM-head parameters) + 12 L H D T per
           token, full attention counted, dense bf16 peak 989 TFLOP/s).
  decode:  the full 32-layer 8B shape, random bf16 weights, greedy generation with the
           KV cache (transformers generate), batch 1 and 64; decode time is
           (time for prompt + 1 + new tokens) - (time for prompt + 1 token), so the
           prefill is not counted.
Prints lines "RESULT peer-torch ..." (tests/gpu/run.sh gathers them)."""
import argparse
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM

PEAK_TFLOPS = 989.0  # H100/H200 SXM dense bf16, datasheet


def shape(layers):
    return LlamaConfig(hidden_size=4096, intermediate_size=14336, num_hidden_layers=layers,
                       num_attention_heads=32, num_key_value_heads=8, vocab_size=128256,
                       max_position_embeddings=8192, rope_theta=500000.0, tie_word_embeddings=False,
                       attn_implementation="sdpa", torch_dtype=torch.bfloat16)


def flops_per_token(cfg, T):
    C, I, L, H, KVH = cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers, cfg.num_attention_heads, cfg.num_key_value_heads
    D = C // H
    layer = C * (H + 2 * KVH) * D + H * D * C + 3 * C * I
    return 6 * (L * layer + cfg.vocab_size * C) + 12 * L * H * D * T


def make(cfg):
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)
    with torch.device("cuda"):
        m = LlamaForCausalLM(cfg)
    torch.set_default_dtype(torch.float32)
    return m


def timed(fn, warm=2, iters=5):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(iters):
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        ts.append(time.perf_counter() - t)
    ts.sort()
    return ts[len(ts) // 2]


def learner(layers, T):
    cfg = shape(layers)
    m = make(cfg)
    m.train()
    ids = torch.randint(0, cfg.vocab_size, (1, T), device="cuda")

    def step():
        out = m(input_ids=ids, labels=ids)
        out.loss.backward()
        m.zero_grad(set_to_none=False)

    torch.cuda.reset_peak_memory_stats()
    t = timed(step)
    tok_s = T / t
    mfu = flops_per_token(cfg, T) * tok_s / (PEAK_TFLOPS * 1e12)
    peak = torch.cuda.max_memory_allocated() / 2**30
    print(f"RESULT peer-torch learner | L={layers} T={T} bf16 sdpa | {t*1e3:.1f} ms/step | {tok_s:.0f} tok/s | MFU {100*mfu:.1f}% | peak {peak:.1f} GiB", flush=True)
    del m
    torch.cuda.empty_cache()


def decode(batches, prompt, new):
    cfg = shape(32)
    m = make(cfg)
    m.eval()
    for b in batches:
        ids = torch.randint(0, cfg.vocab_size, (b, prompt), device="cuda")
        kw = dict(do_sample=False, use_cache=True, pad_token_id=0, eos_token_id=None)

        def gen(n):
            with torch.no_grad():
                return m.generate(ids, max_new_tokens=n, min_new_tokens=n, **kw)

        t1 = timed(lambda: gen(1), warm=1, iters=3)
        tn = timed(lambda: gen(new + 1), warm=1, iters=3)
        tok_s = b * new / (tn - t1)
        print(f"RESULT peer-torch decode | 8B shape batch {b} prompt {prompt} | {1e3*(tn-t1)/new:.2f} ms/step | {tok_s:.0f} tok/s | prefill {t1*1e3:.1f} ms", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--seq", type=int, default=4096)
    ap.add_argument("--batch", default="1,64")
    ap.add_argument("--prompt", type=int, default=128)
    ap.add_argument("--new", type=int, default=128)
    ap.add_argument("--skip-decode", action="store_true")
    a = ap.parse_args()
    print(f"torch {torch.__version__} on {torch.cuda.get_device_name()}", flush=True)
    learner(a.layers, a.seq)
    if not a.skip_decode:
        decode([int(x) for x in a.batch.split(",")], a.prompt, a.new)


if __name__ == "__main__":
    main()
