#!/usr/bin/env bash
# tests/gpu/run.sh [--bundle FILE.tar.gz] LOG_DIR
#
# The GPU checks and benchmarks, in one call on a machine with an NVIDIA GPU:
#   1. build (make all gpu-test), or unpack a bundle made by tests/gpu/bundle.sh;
#   2. every op of kernels/gpu_ops.h against the CPU op on fresh random inputs, one
#      process per op (a kernel that breaks the CUDA context cannot hide the others);
#   3. the model: forward log-probs and every gradient against the CPU model, AdamW
#      steps, KV-cache generation against the CPU engine; NCCL collectives under mpirun
#      (one rank per GPU);
#   4. benchmarks: the card's own ceilings (cuBLASLt bf16 GEMM, copy bandwidth), learner
#      forward+backward MFU on Llama-3-8B-shaped layers, decode tokens/s at batch 1 and
#      64 on the full 8B shape, each against PyTorch on the same card when python3 has
#      torch and transformers, and device memory against the plan;
#   5. the model checks under compute-sanitizer memcheck, when it is installed;
#   6. train-gpu: `cada train` with cluster.device = cuda against cpu on a tiny model
#      (tests/gpu/train_check.sh; skipped without mpirun).
# Prints a table last (lines tagged RESULT by the programs); full logs in LOG_DIR.
# Exit status: non-zero if any check failed (benchmarks never fail the run).
set -uo pipefail
bundle=
if [[ ${1:-} == --bundle ]]; then bundle=$2; shift 2; fi
log=${1:?usage: tests/gpu/run.sh [--bundle FILE] LOG_DIR}
mkdir -p "$log"
log=$(cd "$log" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
t_start=$(date +%s)
say() { echo "[gpu $(( $(date +%s) - t_start ))s] $*"; }

if [[ -n $bundle ]]; then
  dir=$(mktemp -d /tmp/cada-gpu.XXXX)
  tar -C "$dir" -xzf "$bundle" || { echo "cannot unpack $bundle"; exit 2; }
  BIN=$dir/bin/cada_gpu_test
  CADA_BIN=$dir/bin/cada TINY_MODEL=$dir/tiny-gpu-model
  libs=$dir/lib
  # cuBLAS(Lt) and NCCL are not in the bundle: take the machine's own.
  for lib in libcublasLt.so.13 libcublas.so.13 libnccl.so.2; do
    found=$(ls /usr/local/cuda/lib64/$lib /usr/local/cuda/targets/x86_64-linux/lib/$lib 2>/dev/null | head -1)
    [[ -z $found ]] && found=$(find / -xdev -name "$lib" -not -path '*/proc/*' 2>/dev/null | head -1)
    [[ -n $found ]] && libs=$libs:$(dirname "$found") || say "WARNING: $lib not found on this machine"
  done
  export LD_LIBRARY_PATH=$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  if [[ -d $dir/ompi/usr ]]; then # the bundle's Open MPI: its libraries are on LD_LIBRARY_PATH, so a machine's own mpirun would load the wrong PMIx
    export OPAL_PREFIX=$dir/ompi/usr PMIX_INSTALL_PREFIX=$dir/ompi/usr/lib/x86_64-linux-gnu/pmix2
    export PATH=$dir/ompi/usr/bin:$PATH OMPI_MCA_mca_base_component_show_load_errors=0
    export OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  fi
else
  say "building"
  make --no-print-directory all gpu-test >"$log/build.log" 2>&1 || { tail -30 "$log/build.log"; exit 2; }
  BIN=$root/build/cada_gpu_test
  CADA_BIN=$root/cada TINY_MODEL=
fi
export OMP_WAIT_POLICY=passive
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv >"$log/nvidia-smi.txt" 2>&1
cat "$log/nvidia-smi.txt"
"$BIN" info 2>&1 | tee "$log/info.log" || { echo "cada_gpu_test cannot start (see $log/info.log)"; exit 2; }

fails=0
results=$log/results.txt
: >"$results"
# CADA_GPU_DEADLINE=S: finish within S seconds of the start (a lease on a borrowed
# machine); steps are shortened or skipped, and say so, rather than cut off unreported.
deadline=${CADA_GPU_DEADLINE:-0}
# CADA_GPU_STEPS="nccl train-gpu ...": run only the steps whose names start with one of
# these words (a rerun of what changed, on a short lease).
run_step() { # name timeout cmd...
  local name=$1 limit=$2; shift 2
  if [[ -n ${CADA_GPU_STEPS:-} ]]; then
    local want= w
    for w in $CADA_GPU_STEPS; do [[ $name == "$w"* ]] && want=1; done
    [[ -z $want ]] && return 0
  fi
  if [[ $deadline -gt 0 ]]; then
    local left=$(( deadline - ($(date +%s) - t_start) - 5 ))
    if [[ $left -lt 15 ]]; then echo "RESULT $name: skipped (deadline) | | | | | SKIP" >>"$results"; return 0; fi
    [[ $left -lt $limit ]] && limit=$left
  fi
  say "$name"
  timeout -k 5 "$limit" "$@" >"$log/$name.log" 2>&1
  local rc=$?
  # the memcheck pass repeats checks already reported: only its summary is collected
  [[ $name == memcheck-* ]] || grep -h '^RESULT' "$log/$name.log" >>"$results"
  if [[ $rc -ne 0 ]]; then
    echo "RESULT $name: exit $rc$([[ $rc -eq 124 ]] && echo ' (timed out)') FAIL" >>"$results"
    tail -5 "$log/$name.log"
    return 1
  fi
}

# 2. ops, one process each
for op in $("$BIN" ops --list); do
  run_step "op-$op" 45 "$BIN" ops "$op" --log "$log" || fails=$((fails + 1))
done
# 3. the model
run_step model 150 "$BIN" model --log "$log" || fails=$((fails + 1))
# 6. (run here, before the benchmarks) cada train on the GPU against the CPU
run_step train-gpu 300 bash tests/gpu/train_check.sh "$CADA_BIN" "$TINY_MODEL" "$log/train" || fails=$((fails + 1))
# NCCL: one rank per GPU under mpirun (the bundle carries Open MPI when the machine has none)
if command -v mpirun >/dev/null; then
  ngpu=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
  run_step nccl 120 mpirun --allow-run-as-root --oversubscribe -np "${ngpu:-1}" "$BIN" nccl || fails=$((fails + 1))
else
  echo "RESULT nccl | skipped: no MPI runtime on this machine | | | | SKIP" >>"$results"
fi
# 4. benchmarks (never fail the run)
run_step bench-peak 60 "$BIN" bench-peak || true
run_step bench-train 90 "$BIN" bench-train --layers 4 --seq 4096 || true
run_step bench-train-recompute 60 "$BIN" bench-train --layers 4 --seq 4096 --recompute || true
run_step bench-decode 120 "$BIN" bench-decode --batch 1,64 --prompt 128 --new 128 || true
if python3 -c 'import torch, transformers' 2>/dev/null; then
  run_step peer-torch 200 python3 tests/gpu/peer_torch.py --layers 4 --seq 4096 --batch 1,64 --prompt 128 --new 128 || true
else
  echo "RESULT peer-torch: python3 has no torch/transformers: not measured" >>"$results"
fi

# 5. the model checks again under compute-sanitizer's memcheck (out-of-bounds and
# misaligned device accesses, leaks of device memory), where the tool is installed
if command -v compute-sanitizer >/dev/null; then
  mkdir -p "$log/memcheck"
  run_step memcheck-model 120 compute-sanitizer --tool memcheck --error-exitcode 3 --print-limit 20 \
    "$BIN" model --log "$log/memcheck" || fails=$((fails + 1))
  grep -q "ERROR SUMMARY: 0 errors" "$log/memcheck-model.log" &&
    echo "RESULT memcheck-model | model checks under compute-sanitizer | $(grep 'ERROR SUMMARY' "$log/memcheck-model.log") | PASS" >>"$results"
fi

say "done"
echo
echo "==== cada GPU checks: $(head -1 "$log/info.log") ===="
sed 's/^RESULT //' "$results" | column -t -s '|' 2>/dev/null || sed 's/^RESULT //' "$results"
nfail=$(grep -c 'FAIL' "$results")
echo "checks failed: $nfail   (logs: $log)"
[[ $nfail -eq 0 ]]
