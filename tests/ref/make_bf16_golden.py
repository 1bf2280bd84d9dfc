#!/usr/bin/env python3
"""How far PyTorch's own mixed precision lands from the fp64 references: the yardstick
for cada's bf16 matmuls (learn.matmul = bf16, ops/bgemm.h).

Run from the repository root, after make_golden.py (same packages, tests/ref/README.md):
    python3 tests/ref/make_bf16_golden.py

For the two tiny models and SmolLM2-135M (the GGUF), on the batches of their golden
files (tests/ref/golden/*.gold), this runs transformers in fp32 under
torch.autocast("cpu", dtype=torch.bfloat16): PyTorch's CPU mixed precision (linear
layers take bf16 operands and sum in fp32). It measures, against the fp64 reference
already in the golden file,
  - the largest |log p(target) - reference| over the target tokens,
  - (tiny models) for every parameter gradient, max |g - reference| / max |reference|,
and writes them to tests/ref/golden/bf16_peer.gold:
  <model>.logprob_maxerr          (1)
  <model>.grad_relerr.<hf name>   (1) per parameter
tests/unit/test_golden_model.c requires cada's bf16 matmuls to be no further from the
reference than this (its error must be at most the peer's, tensor by tensor).
Deterministic for fixed package versions (no sampling; CPU kernels are deterministic).
"""
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_golden as mg  # noqa: E402


def spans_of(positions):
    """Documents of each row from the golden batch: a document starts where its position
    is 0 (padding is one more document; its targets are -1, so it adds no log-prob)."""
    spans = []
    for b in range(positions.shape[0]):
        starts = [t for t in range(positions.shape[1]) if positions[b, t] == 0]
        ends = starts[1:] + [positions.shape[1]]
        spans.append([(s, e - s, False) for s, e in zip(starts, ends)])
    return spans


def logprob_err(logits, targets, gold_logprobs):
    logprobs, _, loss = mg.loss_terms(logits.to(torch.float64), targets)
    mask = targets != -1
    err = (logprobs.detach().numpy() - gold_logprobs)[mask]
    return float(np.abs(err).max()), loss


def tiny(name):
    from transformers import AutoModelForCausalLM
    g = mg.read_golden(mg.GOLDEN_DIR / f"{name}.gold")
    tokens, positions, targets = (g[k].astype(np.int64) for k in ("tokens", "positions", "targets"))
    model = AutoModelForCausalLM.from_pretrained(mg.MODELS_DIR / name, dtype=torch.float32,
                                                 attn_implementation="eager")
    model.eval()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = mg.per_document_logits(model, tokens, spans_of(positions))
    err, loss = logprob_err(logits, targets, g["logprobs"])
    model.zero_grad(set_to_none=True)
    loss.backward()
    out = [(f"{name}.logprob_maxerr", np.array([err], np.float32))]
    worst = 0.0
    for n, p in model.named_parameters():
        ref = g["grad." + n]
        rel = float(np.abs(p.grad.numpy() - ref).max() / max(np.abs(ref).max(), 1e-30))
        worst = max(worst, rel)
        out.append((f"{name}.grad_relerr.{n}", np.array([rel], np.float32)))
    print(f"  {name}: log-prob max err {err:.3e}, gradient max rel err {worst:.3e} (torch autocast bf16)")
    return out


def smollm2():
    g = mg.read_golden(mg.GOLDEN_DIR / "smollm2.gold")
    tokens, positions, targets = (g[k].astype(np.int64) for k in ("tokens", "positions", "targets"))
    _, model = mg.load_smollm2(torch.float32)
    model.eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        logits = mg.per_document_logits(model, tokens, spans_of(positions))
    err, _ = logprob_err(logits, targets, g["logprobs"])
    print(f"  smollm2: log-prob max err {err:.3e} (torch autocast bf16)")
    return [("smollm2.logprob_maxerr", np.array([err], np.float32))]


def main():
    torch.manual_seed(0)
    print("make_bf16_golden: PyTorch autocast bf16 against the fp64 references")
    tensors = tiny("tiny_llama") + tiny("tiny_qwen2") + smollm2()
    path = mg.GOLDEN_DIR / "bf16_peer.gold"
    mg.write_golden(path, tensors)
    mg.read_golden(path)
    print(f"  wrote {path.relative_to(mg.ROOT)} ({len(tensors)} tensors)")


if __name__ == "__main__":
    main()
