#!/usr/bin/env bash
# The llama.cpp peer for `cada bench generate`: llama-bench on the same GGUF
# (SmolLM2-135M-Instruct.Q4_1.gguf; llama.cpp runs it quantised, cada and transformers
# dequantise to fp32, so this is the "what a quantised-kernel engine does" reference).
#
#   bash tests/peers/bench_llamacpp.sh [extra llama-bench args]
#
# Environment: CADA_CACHE (default .cache, git-ignored) holds the download and the build
# (in $CADA_CACHE/llamacpp); THREADS (default 2); LLAMA_CPP_PYTHON_VERSION (default
# 0.3.36, the version measured in the report; "latest" takes the newest).
#
# llama.cpp is taken from the PyPI source distribution of llama-cpp-python, which vendors
# it (vendor/llama.cpp): `pip download --no-deps --no-binary :all:` (pip builds the
# sdist's metadata, so it needs the build backend scikit-build-core from PyPI too). Only
# the llama-bench target is built (cmake + ninja or make, -DGGML_NATIVE=ON, no curl, no
# tests/examples/server): about 6-10 minutes on 2 cores the first time, nothing later.
#
# Runs: llama-bench -m MODEL -p 64 -n 64 -t $THREADS  (pp64 = prefill of 64 tokens at
# batch 1, tg64 = 64 generated tokens at batch 1, tokens/s, mean +- sd of 5 repetitions).
#
# PRECISION=bf16 (or f16) runs llama.cpp at the precision of cada's `rollout.weights =
# bf16` instead: llama-quantize --allow-requantize writes $WORK/SmolLM2-135M-Instruct.BF16.gguf
# from the Q4_1 file (its values dequantised and rounded to bf16, as cada's bf16 copy of
# the same dequantised weights), and llama-bench runs that. Default: q4_1 (the file as is).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
CACHE=${CADA_CACHE:-.cache}
THREADS=${THREADS:-2}
VERSION=${LLAMA_CPP_PYTHON_VERSION:-0.3.36}
MODEL="$CACHE/models/SmolLM2-135M-Instruct.Q4_1.gguf"
WORK="$CACHE/llamacpp"
BENCH="$WORK/build/bin/llama-bench"
QUANTIZE="$WORK/build/bin/llama-quantize"
PRECISION=${PRECISION:-q4_1}

if [ ! -f "$MODEL" ]; then
  echo "bench_llamacpp: $MODEL is missing; run tests/fetch_models.sh (or make fetch-models)" >&2
  exit 1
fi
mkdir -p "$WORK"

if [ ! -x "$BENCH" ] || [ ! -x "$QUANTIZE" ]; then
  spec=llama-cpp-python
  [ "$VERSION" != latest ] && spec="llama-cpp-python==$VERSION"
  tarball=$(ls "$WORK"/llama_cpp_python-*.tar.gz 2>/dev/null | head -n1 || true)
  if [ -z "$tarball" ]; then
    echo "bench_llamacpp: downloading the $spec source distribution" >&2
    python3 -m pip download --no-deps --no-binary :all: "$spec" -d "$WORK" >&2
    tarball=$(ls "$WORK"/llama_cpp_python-*.tar.gz | head -n1)
  fi
  src="${tarball%.tar.gz}"
  [ -d "$src" ] || tar -xzf "$tarball" -C "$WORK"
  llama="$src/vendor/llama.cpp"
  [ -f "$llama/CMakeLists.txt" ] || { echo "bench_llamacpp: no vendored llama.cpp in $src" >&2; exit 1; }
  gen=()
  command -v ninja >/dev/null && gen=(-G Ninja)
  echo "bench_llamacpp: building llama-bench and llama-quantize from $llama" >&2
  cmake -S "$llama" -B "$WORK/build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
        -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
        -DLLAMA_BUILD_SERVER=OFF >&2
  cmake --build "$WORK/build" --target llama-bench llama-quantize -j "$(nproc)" >&2
fi

case "$PRECISION" in
  q4_1) ;;
  bf16|f16)
    TYPE=$(tr a-z A-Z <<<"$PRECISION")
    out="$WORK/SmolLM2-135M-Instruct.$TYPE.gguf"
    [ -f "$out" ] || "$QUANTIZE" --allow-requantize "$MODEL" "$out" "$TYPE" "$THREADS" >&2
    MODEL="$out" ;;
  *) echo "bench_llamacpp: PRECISION must be q4_1, bf16 or f16, not '$PRECISION'" >&2; exit 2 ;;
esac
echo "llama.cpp: $("$BENCH" --version 2>&1 | head -n1 || true), $MODEL"
"$BENCH" -m "$MODEL" -p 64 -n 64 -t "$THREADS" "$@"
