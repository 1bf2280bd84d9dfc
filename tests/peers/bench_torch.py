#!/usr/bin/env python3
"""The PyTorch peer for cada's CPU benchmark (`cada bench forward`, `cada bench train-step`).

A LlamaForCausalLM with SmolLM2-135M's shapes (30 layers, hidden 576, 9 heads, 3 KV
heads, head_dim 64, intermediate 1536, vocab 49152, tied embeddings, rope_theta 1e5),
randomly initialised (the weights do not change the speed), fp32, on the CPU.

  python3 tests/peers/bench_torch.py [--threads N] [--batch 4] [--seq 256] [--iters 5]
                                     [--warmup 2] [--attn sdpa|eager] [--matmul] [--bf16]

Default: forward-only (no_grad) tokens/s and forward+backward (cross-entropy on every
token) tokens/s, each the median of --iters timed iterations after --warmup untimed
ones. --matmul instead times torch.matmul on the model's main GEMM shapes, M = batch*seq:
M x 576 x 576 (q, o), M x 576 x 192 (k, v), M x 576 x 1536 (gate, up), M x 1536 x 576
(down) and M x 576 x 49152 (lm_head), in GFLOP/s (2*M*K*N per product).

--bf16: the model's forward and backward under torch.autocast("cpu", dtype=torch.bfloat16)
(PyTorch's CPU mixed precision: linear layers in bf16 through oneDNN, weights and
gradients fp32), the peer of `cada bench train-step --bf16`; with --matmul, the GEMMs
on bf16 tensors.

One line per measurement, e.g.
  torch forward tokens/s 1234.5 (batch 4x256, threads 2, attn sdpa)
"""
import argparse
import contextlib
import os
import re
import statistics
import time

import torch


def smollm2_config(attn):
    from transformers import LlamaConfig
    return LlamaConfig(
        vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
        num_attention_heads=9, num_key_value_heads=3, head_dim=64, rope_theta=100000.0,
        rms_norm_eps=1e-5, tie_word_embeddings=True, max_position_embeddings=8192,
        hidden_act="silu", attn_implementation=attn)


def timed(fn, warmup, iters):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def print_backends(threads):
    b = torch.backends
    print(f"torch version {torch.__version__}")
    print(f"torch backends: mkl {b.mkl.is_available()}, mkldnn/oneDNN {b.mkldnn.is_available()} "
          f"(enabled {b.mkldnn.enabled}), openmp {b.openmp.is_available()}, "
          f"threads {torch.get_num_threads()} (asked {threads}), interop threads {torch.get_num_interop_threads()}")
    cfg = torch.__config__.show()
    found = []
    for key in ("CPU capability usage", "BLAS_INFO", "LAPACK_INFO", "USE_MKLDNN", "USE_OPENMP"):
        m = re.search(re.escape(key) + r"\s*[:=]\s*([^,;\n]+)", cfg)
        if m:
            found.append(f"{key} {m.group(1).strip()}")
    if found:
        print("torch config: " + ", ".join(found))


def bench_matmul(args, threads):
    M = args.batch * args.seq
    shapes = [(M, 576, 576, "q/o proj"), (M, 576, 192, "k/v proj"), (M, 576, 1536, "gate/up proj"),
              (M, 1536, 576, "down proj"), (M, 576, 49152, "lm_head")]
    g = torch.Generator().manual_seed(0)
    for m, k, n, what in shapes:
        dt = torch.bfloat16 if args.bf16 else torch.float32
        a = torch.randn(m, k, generator=g).to(dt)
        b = torch.randn(k, n, generator=g).to(dt)
        out = torch.empty(m, n, dtype=dt)
        med, _ = timed(lambda: torch.matmul(a, b, out=out), args.warmup, args.iters)
        gflops = 2.0 * m * k * n / med / 1e9
        print(f"torch matmul {m}x{k}x{n} GFLOP/s {gflops:.1f} ({what}, {'bf16' if args.bf16 else 'fp32'}, "
              f"median of {args.iters}, threads {threads})")


def bench_model(args, threads):
    from transformers import AutoModelForCausalLM
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(smollm2_config(args.attn), dtype=torch.float32)
    attn = model.config._attn_implementation
    n_params = sum(p.numel() for p in model.parameters())
    print(f"torch model: LlamaForCausalLM SmolLM2-135M shapes, {n_params / 1e6:.1f}M parameters, fp32 weights, "
          f"attention {attn}")
    B, T = args.batch, args.seq
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, model.config.vocab_size, (B, T), generator=g)
    targets = torch.randint(0, model.config.vocab_size, (B, T), generator=g)
    tag = f"(batch {B}x{T}, threads {threads}, attn {attn}, {'autocast bf16' if args.bf16 else 'fp32'})"
    precision = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if args.bf16 else contextlib.nullcontext

    model.eval()  # no dropout either way; eval keeps the forward pass free of training-only work

    def forward():
        with torch.no_grad(), precision():
            model(input_ids=ids, use_cache=False)

    med, _ = timed(forward, args.warmup, args.iters)
    print(f"torch forward tokens/s {B * T / med:.1f} {tag}")

    model.train()

    def train_step():
        model.zero_grad(set_to_none=True)
        with precision():
            logits = model(input_ids=ids, use_cache=False).logits
            loss = torch.nn.functional.cross_entropy(logits.view(-1, logits.shape[-1]).float(), targets.view(-1))
        loss.backward()

    med, _ = timed(train_step, args.warmup, args.iters)
    print(f"torch forward+backward tokens/s {B * T / med:.1f} {tag}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="torch.set_num_threads (default: all CPUs)")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--iters", type=int, default=5, help="timed iterations; the median is reported")
    ap.add_argument("--warmup", type=int, default=2, help="untimed iterations first")
    ap.add_argument("--attn", choices=["sdpa", "eager"], default="sdpa")
    ap.add_argument("--matmul", action="store_true", help="time the model's GEMM shapes instead")
    ap.add_argument("--bf16", action="store_true", help="PyTorch's CPU mixed precision (autocast bf16)")
    args = ap.parse_args()
    if args.iters < 1 or args.batch < 1 or args.seq < 1 or args.threads < 1:
        ap.error("--iters, --batch, --seq and --threads must be >= 1")

    torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    print_backends(args.threads)
    if args.matmul:
        bench_matmul(args, threads)
    else:
        bench_model(args, threads)


if __name__ == "__main__":
    main()
