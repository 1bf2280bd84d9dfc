#!/usr/bin/env python3
"""Manual check of `./cada convert IN.gguf OUT_DIR` (not run in CI).

Loads OUT_DIR (config.json + model.safetensors, exactly as cada wrote it) with
transformers' AutoModelForCausalLM.from_pretrained, loads the GGUF with transformers'
own GGUF reader (gguf-py dequantisation, llama.cpp's Q/K row permutation undone), runs
both in float32 with eager attention on a few token rows and compares the logits.
Also prints the per-tensor weight differences, worst first, to point at a bad tensor.

  python3 tests/ref/check_convert.py OUT_DIR [--gguf PATH] [--tol 1e-4]

Exit status: 0 when max |logits difference| <= tol, 1 when above, 2 on a usage or
loading error. Needs torch, transformers 5.x, gguf, accelerate (see tests/ref/README.md).
"""
import argparse
import os
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_GGUF = Path(os.environ.get("CADA_CACHE", ROOT / ".cache")) / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "In 1905 Albert Einstein published four papers that changed physics.",
]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir", help="the folder written by `cada convert` (config.json + model.safetensors)")
    ap.add_argument("--gguf", default=str(DEFAULT_GGUF), help="the GGUF that was converted (default: %(default)s)")
    ap.add_argument("--tol", type=float, default=1e-4, help="max allowed |logits difference| (default: %(default)s)")
    ap.add_argument("--seq", type=int, default=32, help="tokens per row (default: %(default)s)")
    args = ap.parse_args()

    from transformers import AutoModelForCausalLM, AutoTokenizer

    out_dir, gguf = Path(args.out_dir), Path(args.gguf)
    for p, what in ((out_dir / "config.json", "config.json"), (gguf, "GGUF")):
        if not p.is_file():
            print(f"check_convert: {what} not found: {p}", file=sys.stderr)
            return 2
    torch.manual_seed(0)
    try:
        conv = AutoModelForCausalLM.from_pretrained(out_dir, dtype=torch.float32, attn_implementation="eager")
        ref = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32,
                                                   attn_implementation="eager")
    except Exception as e:  # a broken folder is the thing this tool is for: say why
        print(f"check_convert: loading failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    conv.eval()
    ref.eval()
    print(f"check_convert: converted {type(conv).__name__} from {out_dir} "
          f"(declared dtype {getattr(conv.config, 'dtype', None)}), reference {type(ref).__name__} from {gguf.name}")

    # Configuration fields that change the computation.
    fields = ["model_type", "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
              "num_attention_heads", "num_key_value_heads", "head_dim", "rms_norm_eps",
              "tie_word_embeddings", "rope_parameters", "hidden_act", "attention_bias", "mlp_bias"]
    for f in fields:
        a, b = getattr(conv.config, f, None), getattr(ref.config, f, None)
        if a != b:
            print(f"  config {f}: converted {a!r}, gguf {b!r}")

    # Weights, worst first.
    cp, rp = dict(conv.named_parameters()), dict(ref.named_parameters())
    only = sorted(set(cp) ^ set(rp))
    if only:
        print(f"  parameters in one model only: {only}")
    diffs = []
    for name in sorted(set(cp) & set(rp)):
        a, b = cp[name].detach(), rp[name].detach()
        if a.shape != b.shape:
            print(f"  {name}: shape {tuple(a.shape)} vs gguf {tuple(b.shape)}")
            diffs.append((float("inf"), name))
            continue
        diffs.append(((a - b).abs().max().item(), name))
    diffs.sort(reverse=True)
    print(f"  weights: {len(diffs)} compared, max |diff| {diffs[0][0] if diffs else 0:.3g}")
    for d, name in diffs[:5]:
        if d > 0:
            print(f"    {name}: max |diff| {d:.3g}")

    # Logits on a few rows: two real sentences and one row of random ids.
    rows = []
    try:
        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        for t in TEXTS:
            ids = tok(t)["input_ids"][: args.seq]
            rows.append(ids + [ids[-1]] * (args.seq - len(ids)))
    except Exception as e:
        print(f"  (no tokenizer from the GGUF: {e}; random rows only)")
    vocab = min(conv.config.vocab_size, ref.config.vocab_size)
    g = torch.Generator().manual_seed(1)
    rows.append(torch.randint(0, vocab, (args.seq,), generator=g).tolist())
    ids = torch.tensor(rows)
    with torch.no_grad():
        a = conv(input_ids=ids, use_cache=False).logits
        b = ref(input_ids=ids, use_cache=False).logits
    if a.shape != b.shape:
        print(f"check_convert: logits shape {tuple(a.shape)} vs gguf {tuple(b.shape)}: FAIL")
        return 1
    d = (a - b).abs()
    worst = int(d.argmax())
    r, rem = divmod(worst, d.shape[1] * d.shape[2])
    t, v = divmod(rem, d.shape[2])
    md = d.max().item()
    ok = md <= args.tol
    print(f"check_convert: logits ({ids.shape[0]} rows x {ids.shape[1]} tokens) max |diff| {md:.3g} "
          f"at row {r} token {t} vocab {v} (converted {a[r, t, v].item():.6g}, gguf {b[r, t, v].item():.6g}), "
          f"tol {args.tol:g}: {'ok' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
