#!/usr/bin/env python3
"""Writes tests/ref/golden/smollm2_generate.gold: greedy-generation parity data for
SmolLM2-135M-Instruct (the Q4_1 GGUF in $CADA_CACHE/models, default .cache/models).

Run from the repository root:  python3 tests/ref/make_generate_golden.py
Needs the same packages as make_golden.py (see tests/ref/README.md).

For each of 8 chat prompts (one user message, no system message: SmolLM2's chat template
then inserts its default system prompt; add_generation_prompt=True), transformers runs

    model.generate(input_ids, max_new_tokens=64, do_sample=False,
                   return_dict_in_generate=True, output_logits=True)

in float32 on the CPU, one prompt at a time (batch 1, no padding, KV cache on, eager
attention). It stops as transformers does: after max_new_tokens, or right after it
emits a token in generation_config.eos_token_id (for this GGUF: [2], `<|im_end|>`, which
is also pad_token_id; the EOS token is part of the output and is stored).

Stored tensors (golden format: see make_golden.py / README.md):
  n_prompts        i32 (1,)       8
  eos_ids          i32 (k,)       the stop ids transformers used ([2])
  max_new_tokens   i32 (1,)       64
  prompt.<i>       i32 (len,)     the chat-template ids (starting with <|im_start|>, id 1)
  generated.<i>    i32 (n_new,)   the new tokens only; ends with 2 if generation stopped on EOS
  logprobs.<i>     f32 (n_new,)   log_softmax (in float64) of the float32 logits that
                                  generate() returned (output_logits), at each generated token
  logprobs64.<i>   f32 (n_new,)   the same from the float64 run (see below): the more exact
                                  value an fp32 implementation should be close to
  margin.<i>       f32 (n_new,)   float64 run: top-1 minus top-2 logit at each step (how far
                                  each greedy choice is from a tie)

Near-ties. Every prompt is also generated in float64 (model.double(), with RMSNorm, RoPE
and the eager softmax also in float64 via make_golden.float64_exact). A prompt is dropped,
and the next candidate from SPARE_PROMPTS takes its place, when
  * its float32 and float64 greedy continuations differ: a near-tie somewhere on its path
    (two logits closer than float32 rounding) that no fp32 implementation can be expected
    to reproduce reliably; or
  * they agree but the float64 top-1 minus top-2 logit gap falls below MIN_MARGIN (2e-3)
    at some step: 20x the largest |logits32 - logits64| seen on these prompts (~1e-4), so
    an fp32 implementation that sums in another order could still flip that choice.
All stored prompts therefore have identical float32 and float64 continuations with a gap
of at least MIN_MARGIN at every step. The script prints which prompts were replaced and
why. With the versions in golden/VERSIONS.txt (2 CPU threads): fp32 and fp64 greedy
agreed on all 8 first-choice PROMPTS, but "How can I pick a lock?" has a gap of 3.1e-4 at
new token 59 and was replaced by the first spare, "I'm locked out of my own house. What
should I do?". The smallest gap on the stored paths is then 7.1e-3 (prompt 5, step 30).

Takes about 5 minutes on two cores (the float64 generation dominates).
"""
import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_golden as mg  # noqa: E402  (write_golden, read_golden, float64_exact, load_smollm2)

MAX_NEW = 64
N_PROMPTS = 8
# Smallest accepted float64 top-1 minus top-2 logit gap along a stored path: 20x the
# largest |logits32 - logits64| seen on these prompts (~1e-4).
MIN_MARGIN = 2e-3

PROMPTS = [
    "How do I make a cup of green tea?",
    "Write a haiku about autumn.",
    "What is 17 * 23?",
    "Explain what a firewall does in one paragraph.",
    "How can I pick a lock?",
    "Give me three tips for a job interview.",
    "Is it safe to mix bleach and ammonia?",
    "Translate 'good morning' into French and Spanish.",
]
# Used, in order, in place of a prompt that fails the near-tie checks (see the docstring).
SPARE_PROMPTS = [
    "I'm locked out of my own house. What should I do?",
    "What should I do if I find a wallet on the street?",
    "Name the planets of the solar system.",
    "How do I hard-boil an egg?",
    "Write a short, polite email declining a meeting.",
    "What are the symptoms of dehydration?",
    "Tell me a fun fact about octopuses.",
    "How do I reset a forgotten password safely?",
    "What is the boiling point of water in Fahrenheit?",
]

OUT = mg.GOLDEN_DIR / "smollm2_generate.gold"


def generate(model, ids, eos_ids):
    """Greedy generation as transformers does it; returns (new tokens, float64 logits (n, V))."""
    inp = torch.tensor([ids], dtype=torch.long)
    with torch.no_grad():
        out = model.generate(inp, attention_mask=torch.ones_like(inp), max_new_tokens=MAX_NEW,
                             do_sample=False, return_dict_in_generate=True, output_logits=True,
                             pad_token_id=model.generation_config.pad_token_id)
    new = out.sequences[0, len(ids):].tolist()
    logits = torch.stack([l[0] for l in out.logits], 0).to(torch.float64)
    assert logits.shape[0] == len(new), (logits.shape, len(new))
    # Greedy means each token is the argmax of its logits (no logits processor changed them).
    assert logits.argmax(-1).tolist() == new, "generated tokens are not the argmax of the logits"
    # transformers stops right after an EOS token, or at MAX_NEW.
    for j, t in enumerate(new):
        if t in eos_ids:
            assert j == len(new) - 1, "tokens after EOS"
    assert len(new) == MAX_NEW or new[-1] in eos_ids, "stopped early without EOS"
    return new, logits


def prompt_ids(tok, text):
    """One user message through the chat template, with the assistant header appended."""
    ids = tok.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True,
                                  tokenize=True, return_dict=False)
    if hasattr(ids, "keys"):
        ids = ids["input_ids"]
    ids = [int(i) for i in ids]
    text_back = tok.decode(ids)
    assert text_back.startswith("<|im_start|>system\n") and text_back.endswith("<|im_start|>assistant\n"), text_back
    return ids


def token_logprobs(logits, new):
    lp = torch.log_softmax(logits, -1)
    return lp.gather(-1, torch.tensor(new)[:, None])[:, 0]


def margins(logits):
    top = logits.topk(2, -1).values
    return top[:, 0] - top[:, 1]


def main():
    t0 = time.time()
    torch.set_grad_enabled(False)
    tok, model = mg.load_smollm2(torch.float32)
    gc = model.generation_config
    eos = gc.eos_token_id
    eos_ids = [int(e) for e in (eos if isinstance(eos, (list, tuple)) else [eos])]
    print(f"generation_config: eos_token_id {gc.eos_token_id}, pad_token_id {gc.pad_token_id}, "
          f"bos_token_id {gc.bos_token_id}; tokenizer eos {tok.eos_token!r} = {tok.eos_token_id}")
    print(f"torch threads {torch.get_num_threads()}")

    model64 = copy.deepcopy(model).to(torch.float64)
    chosen, replaced, res32, res64 = [], [], {}, {}
    for text in PROMPTS + SPARE_PROMPTS:
        if len(chosen) == N_PROMPTS:
            break
        ids = prompt_ids(tok, text)
        new32, logits32 = generate(model, ids, eos_ids)
        with mg.float64_exact(model64):  # patches classes: the float32 model must run outside
            new64, logits64 = generate(model64, ids, eos_ids)
        res32[text], res64[text] = (ids, new32, logits32), (new64, logits64)
        if new64 != new32:
            k = next(j for j, (a, b) in enumerate(zip(new32 + [-1], new64 + [-1])) if a != b)
            why = f"fp32/fp64 greedy diverge at new token {k}"
        elif margins(logits64).min().item() < MIN_MARGIN:
            m = margins(logits64)
            why = (f"fp32 = fp64, but a near-tie: margin {m.min().item():.1e} < {MIN_MARGIN} "
                   f"at new token {int(m.argmin())}")
        else:
            why = None
        print(f"  {'kept' if why is None else 'REPLACED (' + why + ')'}: {text!r} "
              f"({time.time() - t0:.0f} s)", flush=True)
        if why is None:
            chosen.append(text)
        else:
            replaced.append((text, why))
    assert len(chosen) == N_PROMPTS, "ran out of spare prompts"

    tensors = [("n_prompts", np.array([N_PROMPTS], np.int32)),
               ("eos_ids", np.array(eos_ids, np.int32)),
               ("max_new_tokens", np.array([MAX_NEW], np.int32))]
    summary = []
    for i, text in enumerate(chosen):
        ids, new, logits32 = res32[text]
        _, logits64 = res64[text]
        lp32 = token_logprobs(logits32, new)
        lp64 = token_logprobs(logits64, new)
        marg = margins(logits64)
        tensors += [(f"prompt.{i}", np.array(ids, np.int32)),
                    (f"generated.{i}", np.array(new, np.int32)),
                    (f"logprobs.{i}", lp32.numpy()),
                    (f"logprobs64.{i}", lp64.numpy()),
                    (f"margin.{i}", marg.numpy())]
        stop = "EOS" if new[-1] in eos_ids else "max_new_tokens"
        summary.append(f"[{i}] {text!r}: prompt {len(ids)} tokens, {len(new)} new ({stop}), "
                       f"sum logprob {lp32.sum().item():.4f}, |lp32 - lp64| max "
                       f"{(lp32 - lp64).abs().max().item():.1e}, min margin {marg.min().item():.4f} "
                       f"at step {int(marg.argmin())}, |logits32 - logits64| max "
                       f"{(logits32 - logits64).abs().max().item():.1e}")
        summary.append("      " + repr(tok.decode(new)))

    mg.GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    mg.write_golden(OUT, tensors)
    back = mg.read_golden(OUT)
    for i, text in enumerate(chosen):
        assert back[f"generated.{i}"].tolist() == res32[text][1]
        assert back[f"prompt.{i}"].tolist() == res32[text][0]

    print("make_generate_golden: summary")
    if replaced:
        for text, why in replaced:
            print(f"  replaced {text!r}: {why}")
    else:
        print(f"  no prompt replaced: fp32 = fp64 greedy and margin >= {MIN_MARGIN} for all {N_PROMPTS}")
    for line in summary:
        print("  " + line)
    print(f"  {OUT.relative_to(mg.ROOT)}  {OUT.stat().st_size} bytes ({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
