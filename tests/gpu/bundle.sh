#!/usr/bin/env bash
# tests/gpu/bundle.sh DIR: builds cada_gpu_test and cada here and packs them, with the
# tiny GPU-shaped model of the train-gpu step (tests/cli/train_fixture.bash's
# tiny_smol_gpu: its tokenizer needs the SmolLM2 GGUF, which stays here) and the shared
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
make --no-print-directory BUILD=build-gpu CADA_BIN=build-gpu/cada OPT="-O3 -march=x86-64-v3" build-gpu/cada >/dev/null
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib"
cp build-gpu/cada_gpu_test build-gpu/cada "$stage/bin/"
(source tests/cli/common.bash && source tests/cli/train_fixture.bash && CADA=$PWD/build-gpu/cada &&
  mkdir -p "$stage/tiny-gpu-model" && tiny_smol_gpu "$stage/tiny-gpu-model")
skip='^(linux-vdso|ld-linux|libc\.so|libm\.so|libpthread|libdl\.so|librt\.so|libcublas|libcublasLt|libnccl)'
for bin in "$stage"/bin/*; do
  ldd "$bin" | awk '$3 ~ /^\// {print $1, $3}' | while read -r name path; do
    [[ $name =~ $skip ]] && continue
    cp -Ln "$path" "$stage/lib/$name" 2>/dev/null || true
  done
done
# Open MPI's runtime (mpirun, orted, its plugins and help files, PMIx), relocatable with
# OPAL_PREFIX: the GPU image has no MPI, and `cada train` runs under mpirun. Plugins for
# fabrics that image lacks (UCX, OFI, PSM) are carried but fail to load and are skipped.
ompi=$stage/ompi/usr
mkdir -p "$ompi/bin" "$ompi/lib/x86_64-linux-gnu/openmpi/lib" "$ompi/share" "$ompi/lib/x86_64-linux-gnu/pmix2/lib"
cp /usr/bin/orterun /usr/bin/orted "$ompi/bin/" && ln -s orterun "$ompi/bin/mpirun"
cp -r /usr/lib/x86_64-linux-gnu/openmpi/lib/openmpi3 "$ompi/lib/x86_64-linux-gnu/openmpi/lib/"
cp -r /usr/share/openmpi "$ompi/share/"
cp -r /usr/lib/x86_64-linux-gnu/pmix2/lib/pmix "$ompi/lib/x86_64-linux-gnu/pmix2/lib/"
cp -r /usr/lib/x86_64-linux-gnu/pmix2/share "$ompi/lib/x86_64-linux-gnu/pmix2/" 2>/dev/null || true
for l in libpmix.so.2 libnuma.so.1 libatomic.so.1 libmca_common_sm.so.40 libmca_common_monitoring.so.50 libmca_common_ompio.so.41; do
  [[ -e $stage/lib/$l ]] || cp -L "/lib/x86_64-linux-gnu/$l" "$stage/lib/" 2>/dev/null || true
done
mkdir -p "$out"
tar -C "$stage" -czf "$out/bundle.tar.gz" bin lib ompi tiny-gpu-model
echo "bundle: $out/bundle.tar.gz ($(du -h "$out/bundle.tar.gz" | cut -f1)): $(ls "$stage/lib" | tr '\n' ' ')"
