#!/usr/bin/env bash
# tests/gpu/bundle.sh DIR: builds cada_gpu_test here and packs it, with the shared
# libraries it needs that a bare GPU machine may lack, into DIR/bundle.tar.gz
# (for a GPU machine that cannot install packages: tests/gpu/run.sh --bundle DIR/...).
# Left out on purpose: glibc's own libraries (the target's are newer and compatible) and
# the CUDA libraries that are hundreds of MB (cuBLAS, cuBLASLt, NCCL), which every CUDA
# machine carries; run.sh finds them there.
set -euo pipefail
out=${1:?usage: tests/gpu/bundle.sh DIR}
cd "$(dirname "$0")/../.."
# A portable build in its own tree: the GPU machine's processor may lack this one's
# instruction set extensions (-march=native would risk SIGILL there).
make --no-print-directory BUILD=build-gpu OPT="-O3 -march=x86-64-v3" gpu-test >/dev/null
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib"
cp build-gpu/cada_gpu_test "$stage/bin/"
skip='^(linux-vdso|ld-linux|libc\.so|libm\.so|libpthread|libdl\.so|librt\.so|libcublas|libcublasLt|libnccl)'
for bin in "$stage"/bin/*; do
  ldd "$bin" | awk '$3 ~ /^\// {print $1, $3}' | while read -r name path; do
    [[ $name =~ $skip ]] && continue
    cp -Ln "$path" "$stage/lib/$name" 2>/dev/null || true
  done
done
mkdir -p "$out"
tar -C "$stage" -czf "$out/bundle.tar.gz" bin lib
echo "bundle: $out/bundle.tar.gz ($(du -h "$out/bundle.tar.gz" | cut -f1)): $(ls "$stage/lib" | tr '\n' ' ')"
