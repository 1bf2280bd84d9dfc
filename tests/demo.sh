#!/usr/bin/env bash
# `make demo`: the single-model commands on the real SmolLM2-135M-Instruct (Q4_1 GGUF),
# on the CPU: inspect the checkpoint, convert it to a Hugging Face folder, score a
# sentence (per-token log-probabilities, the quantity the policy gradient
# differentiates), and time a training step.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
model="${CADA_CACHE:-.cache}/models/SmolLM2-135M-Instruct.Q4_1.gguf"
out="runs/demo"
mkdir -p "$out"
echo "== cada inspect $model"
./cada inspect "$model"
echo
echo "== cada convert $model $out/hf"
./cada convert "$model" "$out/hf"
echo
# "The capital of France is Paris, and the capital of Germany is" in SmolLM2's
# vocabulary (ids from its tokenizer).
ids=504,3575,282,4649,314,7042,28,284,260,3575,282,4521,314
echo "== cada forward --model $out/hf --ids $ids"
./cada forward --model "$out/hf" --ids "$ids"
echo
echo "== cada bench train-step --batch 2 --seq 128 --iters 2"
./cada bench train-step --batch 2 --seq 128 --iters 2
