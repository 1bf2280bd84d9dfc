#!/usr/bin/env python3
"""Writes the golden reference files that cada's unit tests compare against.

Run from the repository root:  python3 tests/ref/make_golden.py
Needs torch, transformers (5.x), gguf, accelerate, numpy, safetensors (see
tests/ref/README.md). Deterministic: fixed seeds, fixed texts, float64 reference.

Writes
  tests/ref/models/tiny_llama/   Hugging Face folder, bf16, one safetensors file
  tests/ref/models/tiny_qwen2/   Hugging Face folder, fp32, sharded (index.json)
  tests/ref/golden/tiny_llama.gold, tiny_qwen2.gold   logits, log-probs, loss, grads
  tests/ref/golden/smollm2.gold  SmolLM2-135M-Instruct (GGUF) logits head, logsumexp,
                                 log-probs, loss and dequantised weight slices
  tests/ref/golden/VERSIONS.txt  the package versions that produced them

Golden file format (read by tests/unit/golden.c; see tests/unit/golden.h), little-endian:
  "CADAGOLD", u32 version (1), u32 count, then per tensor: u32 name length, name,
  u32 dtype (0 f32, 1 i32), u32 ndim, u64 dims[ndim], row-major data.

Packing semantics (what the C model implements): a row holds several documents back to
back; positions restart at 0 at each document start; a token attends only to earlier
tokens of its own document; the target of a token is the next token of the same
document and -1 at a document's last token. The reference runs Hugging Face on each
document alone (positions 0..n-1) and concatenates; the loss is one mean over every
token of the batch whose target is not -1.

Float64: model.double() alone is not a float64 computation in transformers 5.x:
LlamaRMSNorm/Qwen2RMSNorm cast to float32 and back, the rotary embedding computes its
angles in float32, and eager attention takes its softmax in float32. While computing
the references this script replaces those three with the same formulas in float64
(float64_exact below) and checks that the result stays within float32-level distance
of transformers as shipped.
"""
import contextlib
import math
import os
import struct
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
GOLDEN_DIR = ROOT / "tests" / "ref" / "golden"
MODELS_DIR = ROOT / "tests" / "ref" / "models"
CACHE = Path(os.environ.get("CADA_CACHE", ROOT / ".cache"))
GGUF_DIR = CACHE / "models"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"

GOLDEN_MAGIC = b"CADAGOLD"
GOLDEN_VERSION = 1


# ---- the golden format ------------------------------------------------------------------

def write_golden(path, tensors):
    """tensors: list of (name, array-like). float arrays are stored as f32, integer arrays
    as i32 (values must fit). Writes atomically (temporary file, then rename)."""
    path = Path(path)
    names = [n for n, _ in tensors]
    assert len(set(names)) == len(names), "duplicate tensor names"
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as f:
        f.write(GOLDEN_MAGIC)
        f.write(struct.pack("<II", GOLDEN_VERSION, len(tensors)))
        for name, value in tensors:
            if isinstance(value, torch.Tensor):
                value = value.detach().cpu().numpy()
            a = np.asarray(value)
            if a.dtype.kind == "f":
                a, code = np.ascontiguousarray(a, dtype="<f4"), 0
            elif a.dtype.kind in "iu":
                assert a.size == 0 or (a.min() >= -2**31 and a.max() < 2**31), name
                a, code = np.ascontiguousarray(a, dtype="<i4"), 1
            else:
                raise TypeError(f"{name}: dtype {a.dtype}")
            assert a.ndim <= 8, name
            nb = name.encode("utf-8")
            f.write(struct.pack("<I", len(nb)))
            f.write(nb)
            f.write(struct.pack("<II", code, a.ndim))
            for d in a.shape:
                f.write(struct.pack("<Q", d))
            f.write(a.tobytes(order="C"))
    os.replace(tmp, path)


def read_golden(path):
    """The inverse of write_golden (used here to check what was written)."""
    data = Path(path).read_bytes()
    assert data[:8] == GOLDEN_MAGIC
    version, count = struct.unpack_from("<II", data, 8)
    assert version == GOLDEN_VERSION
    pos, out = 16, {}
    for _ in range(count):
        (n,) = struct.unpack_from("<I", data, pos)
        name = data[pos + 4:pos + 4 + n].decode("utf-8")
        pos += 4 + n
        code, ndim = struct.unpack_from("<II", data, pos)
        pos += 8
        dims = struct.unpack_from("<%dQ" % ndim, data, pos)
        pos += 8 * ndim
        count_el = int(np.prod(dims)) if ndim else 1
        dt = "<f4" if code == 0 else "<i4"
        out[name] = np.frombuffer(data, dtype=dt, count=count_el, offset=pos).reshape(dims)
        pos += 4 * count_el
    assert pos == len(data), "trailing bytes"
    return out


# ---- exact float64 versions of the three float32 islands in transformers ---------------

def inv_freq_f64(config):
    """RoPE inverse frequencies in float64, for rope_type default and llama3 (the same
    formulas as transformers.modeling_rope_utils, which computes them in float32)."""
    rp = config.rope_parameters
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    dim = int(head_dim * rp.get("partial_rotary_factor", 1.0))
    base = float(rp["rope_theta"])
    inv = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    kind = rp.get("rope_type", "default")
    if kind == "default":
        return inv
    if kind != "llama3":
        raise NotImplementedError(f"rope_type {kind}")
    factor, lo, hi = float(rp["factor"]), float(rp["low_freq_factor"]), float(rp["high_freq_factor"])
    old = float(rp["original_max_position_embeddings"])
    low_wl, high_wl = old / lo, old / hi
    wl = 2 * math.pi / inv
    scaled = torch.where(wl > low_wl, inv / factor, inv)
    smooth = (old / wl - lo) / (hi - lo)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = ~(wl < high_wl) & ~(wl > low_wl)
    return torch.where(medium, smoothed, scaled)


def _rms_forward_f64(self, x):
    assert x.dtype == torch.float64, "float64_exact expects a float64 model"
    var = x.pow(2).mean(-1, keepdim=True)
    return self.weight * (x * torch.rsqrt(var + self.variance_epsilon))


def _rope_forward_f64(self, x, position_ids):
    inv = self.cada_inv_freq64.to(x.device)
    freqs = position_ids[..., None].to(torch.float64) * inv
    emb = torch.cat((freqs, freqs), dim=-1)
    return (emb.cos() * self.attention_scaling).to(x.dtype), (emb.sin() * self.attention_scaling).to(x.dtype)


def _make_eager_f64(repeat_kv):
    def eager_attention_forward(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
        k = repeat_kv(key, module.num_key_value_groups)
        v = repeat_kv(value, module.num_key_value_groups)
        w = torch.matmul(query, k.transpose(2, 3)) * scaling
        if attention_mask is not None:
            w = w + attention_mask
        w = torch.nn.functional.softmax(w, dim=-1)  # in the input dtype (float64)
        out = torch.matmul(w, v).transpose(1, 2).contiguous()
        return out, w
    return eager_attention_forward


@contextlib.contextmanager
def float64_exact(model):
    """Within the block, RMSNorm, RoPE and eager softmax of `model` run in float64."""
    from transformers.models.llama import modeling_llama as ml
    from transformers.models.qwen2 import modeling_qwen2 as mq
    saved = []
    for mod in (ml, mq):
        saved.append((mod, "eager_attention_forward", mod.eager_attention_forward))
        mod.eager_attention_forward = _make_eager_f64(mod.repeat_kv)
    for cls in (ml.LlamaRMSNorm, mq.Qwen2RMSNorm):
        saved.append((cls, "forward", cls.forward))
        cls.forward = _rms_forward_f64
    for cls in (ml.LlamaRotaryEmbedding, mq.Qwen2RotaryEmbedding):
        saved.append((cls, "forward", cls.forward))
        cls.forward = _rope_forward_f64
    rot = model.model.rotary_emb
    inv64 = inv_freq_f64(model.config)
    # The float64 frequencies must agree with transformers' float32 ones to float32 precision.
    hf = rot.original_inv_freq.to(torch.float64)
    assert torch.allclose(inv64, hf, rtol=1e-6, atol=0), (inv64, hf)
    rot.cada_inv_freq64 = inv64
    try:
        yield
    finally:
        for obj, name, value in reversed(saved):
            setattr(obj, name, value)


# ---- packing --------------------------------------------------------------------------

def pack_rows(rows, T, pad_id):
    """rows: list (one per batch row) of lists of documents (lists of token ids). The
    last document of a row is cut to fit; the tail is filled with a padding document
    (pad_id tokens, positions 0.., all targets -1). Returns tokens, positions, targets
    (int64 arrays (B,T)) and per row the list of (start, length, is_padding)."""
    B = len(rows)
    tokens = np.zeros((B, T), np.int64)
    positions = np.zeros((B, T), np.int64)
    targets = np.full((B, T), -1, np.int64)
    spans = []
    for b, docs in enumerate(rows):
        at, row_spans = 0, []
        for doc in docs:
            doc = list(doc)[:T - at]
            if not doc:
                break
            n = len(doc)
            tokens[b, at:at + n] = doc
            positions[b, at:at + n] = np.arange(n)
            targets[b, at:at + n - 1] = doc[1:]
            row_spans.append((at, n, False))
            at += n
        if at < T:
            n = T - at
            tokens[b, at:] = pad_id
            positions[b, at:] = np.arange(n)
            row_spans.append((at, n, True))
        spans.append(row_spans)
    return tokens, positions, targets, spans


def per_document_logits(model, tokens, spans):
    """HF on each document alone, concatenated back into (B, T, V)."""
    rows = []
    for b, row_spans in enumerate(spans):
        parts = []
        for start, n, _ in row_spans:
            ids = torch.as_tensor(tokens[b, start:start + n])[None]
            pos = torch.arange(n)[None]
            parts.append(model(input_ids=ids, position_ids=pos, use_cache=False).logits[0])
        rows.append(torch.cat(parts, 0))
    return torch.stack(rows, 0)


def loss_terms(logits, targets):
    """(log p(target) with 0 where target is -1, logsumexp, mean CE loss), all float64."""
    t = torch.as_tensor(targets)
    mask = t != -1
    lse = torch.logsumexp(logits, -1)
    picked = logits.gather(-1, t.clamp(min=0)[..., None])[..., 0]
    logprobs = torch.where(mask, picked - lse, torch.zeros_like(lse))
    loss = -(logprobs.sum()) / mask.sum()
    return logprobs, lse, loss


def batch_tensors(tokens, positions, targets):
    return [("tokens", tokens.astype(np.int32)), ("positions", positions.astype(np.int32)),
            ("targets", targets.astype(np.int32))]


def max_abs(a, b):
    return (a - b).abs().max().item()


# ---- the tiny models ------------------------------------------------------------------

def init_params(model, seed):
    """linear weights N(0, 0.08), norm weights 1 + 0.1 N, biases 0.1 N, embeddings
    N(0, 0.5) -- or N(0, 0.1) when the embeddings are tied to the LM head: with tied
    weights each token's own embedding comes back as a logit of about hidden * std
    (64 * 0.5 = 32 here), which saturates the softmax (loss ~26, p(argmax) ~ 1 - 5e-5)
    and leaves the loss gradient almost nothing to test. With 0.1 the loss is ~ln(V)."""
    emb_std = 0.1 if model.config.tie_word_embeddings else 0.5
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            z = torch.randn(p.shape, generator=g, dtype=torch.float64)
            if "norm" in name:
                v = 1.0 + 0.1 * z
            elif name.endswith(".bias"):
                v = 0.1 * z
            elif "embed_tokens" in name:
                v = emb_std * z
            else:
                v = 0.08 * z
            p.copy_(v.to(p.dtype))


def tiny_llama_config():
    from transformers import LlamaConfig
    return LlamaConfig(
        vocab_size=128, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=16, rope_theta=500000.0,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                      "high_freq_factor": 4.0, "original_max_position_embeddings": 64},
        rms_norm_eps=1e-5, tie_word_embeddings=True, max_position_embeddings=1024,
        bos_token_id=1, eos_token_id=2)


def tiny_qwen2_config():
    from transformers import Qwen2Config
    return Qwen2Config(
        vocab_size=128, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, rope_theta=10000.0, rms_norm_eps=1e-6,
        tie_word_embeddings=False, max_position_embeddings=1024)


def check_llama3_bands(config):
    """All three llama3 bands must be exercised: unchanged, smoothed, divided."""
    rp = config.rope_parameters
    head_dim = config.head_dim
    inv = 1.0 / (rp["rope_theta"] ** (np.arange(0, head_dim, 2) / head_dim))
    wl = 2 * math.pi / inv
    old = rp["original_max_position_embeddings"]
    low_wl, high_wl = old / rp["low_freq_factor"], old / rp["high_freq_factor"]
    n_unchanged = int((wl < high_wl).sum())
    n_divided = int((wl > low_wl).sum())
    n_smoothed = len(wl) - n_unchanged - n_divided
    assert n_unchanged >= 1 and n_smoothed >= 1 and n_divided >= 1, (wl, low_wl, high_wl)
    return n_unchanged, n_smoothed, n_divided, wl


def make_tiny(name, config, dtype, seed, shard, summary):
    from transformers import AutoModelForCausalLM
    out_dir = MODELS_DIR / name
    torch.manual_seed(seed)  # HF's own init runs first; every parameter is overwritten below
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    init_params(model, seed)
    if dtype == torch.bfloat16:
        # Round to bf16 first: the saved file and the reference then hold the same values.
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(p.to(torch.bfloat16).to(torch.float32))
    kept = {n: p.detach().to(torch.float64).clone() for n, p in model.named_parameters()}
    model = model.to(dtype)
    if out_dir.exists():
        for f in out_dir.iterdir():
            f.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)
    if shard:
        model.save_pretrained(out_dir, max_shard_size=shard)
    else:
        model.save_pretrained(out_dir)
    files = sorted(f.name for f in out_dir.iterdir())
    if shard:
        shards = [f for f in files if f.endswith(".safetensors")]
        assert len(shards) >= 2 and "model.safetensors.index.json" in files, files
    else:
        assert "model.safetensors" in files and "model.safetensors.index.json" not in files, files

    # The reference is computed from the saved folder, loaded back in float64.
    ref = AutoModelForCausalLM.from_pretrained(out_dir, dtype=torch.float64, attn_implementation="eager")
    ref.eval()
    params = dict(ref.named_parameters())
    assert set(params) == set(kept), (sorted(set(params) ^ set(kept)))
    for n, p in params.items():
        assert torch.equal(p.detach(), kept[n]), f"{name}: {n} changed through save/load"
    if config.tie_word_embeddings:
        assert ref.lm_head.weight is ref.model.embed_tokens.weight
        assert "lm_head.weight" not in params
    from safetensors import safe_open
    saved_names = set()
    for f in files:
        if f.endswith(".safetensors"):
            with safe_open(out_dir / f, "pt") as sf:
                for k in sf.keys():
                    saved_names.add(k)
                    assert sf.get_slice(k).get_dtype() == {torch.bfloat16: "BF16", torch.float32: "F32"}[dtype]
    assert saved_names == set(kept), sorted(saved_names ^ set(kept))

    # The batch: B=2 rows x T=24 of random ids, row 0 = docs [10, 14], row 1 = [7, 9, 5] + 3 pad.
    V, T = config.vocab_size, 24
    g = torch.Generator().manual_seed(seed + 1)
    def doc(n):
        return torch.randint(1, V, (n,), generator=g).tolist()
    rows = [[doc(10), doc(14)], [doc(7), doc(9), doc(5)]]
    tokens, positions, targets, spans = pack_rows(rows, T, pad_id=0)
    assert [s[1] for s in spans[0]] == [10, 14] and [s[1] for s in spans[1]] == [7, 9, 5, 3]
    assert spans[1][-1][2] and (targets[1, 21:] == -1).all() and (tokens[1, 21:] == 0).all()

    with float64_exact(ref):
        logits = per_document_logits(ref, tokens, spans)
        logprobs, _, loss = loss_terms(logits, targets)
        ref.zero_grad(set_to_none=True)
        loss.backward()
        with torch.no_grad():
            # Self-check 1: one document run directly (no position_ids, batch of one) gives
            # the same logits as its slice of the concatenation.
            s, n, _ = spans[1][1]
            direct = ref(input_ids=torch.as_tensor(tokens[1, s:s + n])[None], use_cache=False).logits[0]
            d1 = max_abs(direct, logits[1, s:s + n])
            assert d1 < 1e-12, f"{name}: direct call differs from the per-document reference by {d1}"
            # Self-check 2: transformers' own packed-sequence path (whole rows, restarting
            # position_ids, no attention mask) agrees with the per-document reference.
            packed = ref(input_ids=torch.as_tensor(tokens), position_ids=torch.as_tensor(positions),
                         use_cache=False).logits
            d2 = max_abs(packed, logits)
            assert d2 < 1e-10, f"{name}: HF packed-sequence call differs by {d2}"
    with torch.no_grad():
        # Transformers as shipped (float32 norm/rope/softmax inside a float64 model).
        shipped = per_document_logits(ref, tokens, spans)
        d3 = max_abs(shipped, logits)
        assert d3 < 1e-4, f"{name}: float64_exact moved the logits by {d3}"

    tensors = batch_tensors(tokens, positions, targets)
    tensors += [("logits", logits.detach()), ("logprobs", logprobs.detach()),
                ("loss", loss.detach().reshape(1))]
    for n, p in ref.named_parameters():
        assert p.grad is not None, f"{name}: no grad for {n}"
        tensors.append(("grad." + n, p.grad))
    path = GOLDEN_DIR / f"{name}.gold"
    write_golden(path, tensors)
    back = read_golden(path)
    assert np.array_equal(back["tokens"], tokens) and abs(back["loss"][0] - loss.item()) < 1e-6
    gnorm = math.sqrt(sum(float((p.grad ** 2).sum()) for p in ref.parameters()))
    summary.append(f"{name}: loss {loss.item():.6f} (ln V = {math.log(V):.4f}), "
                   f"{int((targets != -1).sum())} target tokens, grad norm {gnorm:.4f}, "
                   f"{len(tensors) - 6} grads; |logits| max {logits.abs().max().item():.3f}; "
                   f"checks: direct {d1:.1e}, HF packed {d2:.1e}, HF as shipped {d3:.1e}")
    return path


# ---- SmolLM2-135M from the GGUF ---------------------------------------------------------

SMOL_CHATS = [
    [{"role": "system", "content": "You are a concise assistant."},
     {"role": "user", "content": "What is the capital of France?"},
     {"role": "assistant", "content": "The capital of France is Paris."}],
    [{"role": "user", "content": "Name a primary color."},
     {"role": "assistant", "content": "Blue is a primary color."}],
]
SMOL_PLAIN = "The quick brown fox jumps over the lazy dog near the quiet river bank."


def load_smollm2(dtype=torch.float64, attn="eager"):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    path = GGUF_DIR / GGUF_NAME
    if not path.is_file():
        sys.exit(f"make_golden: {path} is missing; run tests/fetch_models.sh (or make fetch-models)")
    tok = AutoTokenizer.from_pretrained(GGUF_DIR, gguf_file=GGUF_NAME)
    model = AutoModelForCausalLM.from_pretrained(GGUF_DIR, gguf_file=GGUF_NAME, attn_implementation=attn)
    model.eval()
    return tok, model.to(dtype)


def chat_ids(tok, messages):
    ids = tok.apply_chat_template(messages, tokenize=True, return_dict=False)
    if isinstance(ids, dict) or hasattr(ids, "keys"):
        ids = ids["input_ids"]
    return [int(i) for i in ids]


def make_smollm2(summary):
    tok, model32 = load_smollm2(torch.float32)
    weights = [
        ("weight.model.embed_tokens.weight.rows", model32.model.embed_tokens.weight[0:4]),
        ("weight.model.layers.0.self_attn.q_proj.weight.rows", model32.model.layers[0].self_attn.q_proj.weight[0:8]),
        ("weight.model.layers.0.self_attn.k_proj.weight.rows", model32.model.layers[0].self_attn.k_proj.weight[0:8]),
        ("weight.model.layers.0.mlp.down_proj.weight.rows", model32.model.layers[0].mlp.down_proj.weight[0:2]),
        ("weight.model.norm.weight", model32.model.norm.weight),
    ]
    weights = [(n, w.detach().clone()) for n, w in weights]
    cfg = model32.config
    assert (cfg.num_hidden_layers, cfg.hidden_size, cfg.num_attention_heads, cfg.num_key_value_heads,
            cfg.intermediate_size, cfg.vocab_size) == (30, 576, 9, 3, 1536, 49152), cfg
    model = model32.to(torch.float64)  # in place: model32 is the same object from here on
    del model32

    chat_a, chat_b = (chat_ids(tok, m) for m in SMOL_CHATS)
    plain = [int(i) for i in tok(SMOL_PLAIN)["input_ids"]]
    T = 48
    # Row 0: chat A then the plain sentence (cut to fit); row 1: chat B, padding after.
    rows = [[chat_a, plain], [chat_b]]
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    tokens, positions, targets, spans = pack_rows(rows, T, pad_id=pad)
    assert len(spans[0]) >= 2 and not spans[0][1][2], spans

    with torch.no_grad(), float64_exact(model):
        logits = per_document_logits(model, tokens, spans)
        logprobs, lse, loss = loss_terms(logits, targets)
        packed = model(input_ids=torch.as_tensor(tokens), position_ids=torch.as_tensor(positions),
                       use_cache=False).logits
        d_packed = max_abs(packed, logits)
        assert d_packed < 1e-9, f"smollm2: HF packed-sequence call differs by {d_packed}"
    with torch.no_grad():
        shipped = per_document_logits(model, tokens, spans)
        d_shipped = max_abs(shipped, logits)
        assert d_shipped < 1e-3, f"smollm2: float64_exact moved the logits by {d_shipped}"

    tensors = batch_tensors(tokens, positions, targets)
    tensors += [("logits_head", logits[..., :512]), ("logsumexp", lse), ("logprobs", logprobs),
                ("loss", loss.reshape(1))]
    tensors += weights
    path = GOLDEN_DIR / "smollm2.gold"
    write_golden(path, tensors)
    read_golden(path)
    # The argmax agreement with the next token says the model and tokenizer make sense.
    mask = targets != -1
    hits = (logits.argmax(-1).numpy() == targets)[mask].mean()
    docs = "; ".join(f"row {b}: " + ", ".join(("pad " if p else "") + str(n) for _, n, p in s)
                     for b, s in enumerate(spans))
    summary.append(f"smollm2: loss {loss.item():.6f}, {int(mask.sum())} target tokens, "
                   f"top-1 next-token accuracy {hits:.2f}; documents {docs}; "
                   f"checks: HF packed {d_packed:.1e}, HF as shipped {d_shipped:.1e}")
    summary.append("smollm2 row 0 text: " + repr(tok.decode(tokens[0].tolist())))
    return path


def write_versions():
    import importlib.metadata as md
    lines = [f"python {sys.version.split()[0]}"]
    for pkg in ("torch", "transformers", "gguf", "accelerate", "numpy", "safetensors", "tokenizers"):
        try:
            lines.append(f"{pkg} {md.version(pkg)}")
        except md.PackageNotFoundError:
            lines.append(f"{pkg} (not installed)")
    path = GOLDEN_DIR / "VERSIONS.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def main():
    torch.set_grad_enabled(True)
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    MODELS_DIR.mkdir(parents=True, exist_ok=True)
    summary = []

    llama_cfg = tiny_llama_config()
    bands = check_llama3_bands(llama_cfg)
    summary.append("tiny_llama RoPE wavelengths " + ", ".join(f"{w:.1f}" for w in bands[3][:4]) +
                   f", ...: llama3 bands unchanged {bands[0]}, smoothed {bands[1]}, divided {bands[2]}")
    written = [
        make_tiny("tiny_llama", llama_cfg, torch.bfloat16, seed=1234, shard=None, summary=summary),
        make_tiny("tiny_qwen2", tiny_qwen2_config(), torch.float32, seed=4321, shard="150KB",
                  summary=summary),
        make_smollm2(summary),
        write_versions(),
    ]
    print("make_golden: summary")
    for line in summary:
        print("  " + line)
    print("make_golden: files")
    total = 0
    for p in written + sorted((MODELS_DIR / "tiny_llama").iterdir()) + sorted((MODELS_DIR / "tiny_qwen2").iterdir()):
        size = p.stat().st_size
        total += size
        print(f"  {p.relative_to(ROOT)}  {size} bytes")
    print(f"  total {total} bytes")


if __name__ == "__main__":
    main()
