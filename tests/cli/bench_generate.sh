# cada bench generate --weights fp32|bf16 on the real SmolLM2 (a short run: the rates
# themselves are not checked, a shared machine makes them vary), the CPU kernel family in
# `cada version` and its CADA_CPU_KERNELS override, and OpenBLAS's kernels.
source "$(dirname "$0")/common.bash"
cd "$ROOT"
B=(--model "$MODEL" --new-tokens 4 --batch 2)
run_expect_rc 0 "$CADA" bench generate "${B[@]}" --weights bf16
expect_contains "$OUT" "bf16 kernels " "bf16 weights: " "MB packed in" \
  "cada prefill tokens/s" "(weights fp32, batch 1," "(weights bf16, batch 1," "(weights fp32, batch 2," "(weights bf16, batch 2," \
  "prefill bf16 / fp32: " "decode bf16 / fp32: "
# fp32 alone: no copy, no ratio
run_expect_rc 0 "$CADA" bench generate "${B[@]}" --weights fp32
expect_contains "$OUT" "(weights fp32, batch 2,"
[[ "$OUT" != *"weights bf16"* && "$OUT" != *"bf16 / fp32"* ]] || fail "--weights fp32 ran bf16:"$'\n'"$OUT"
# the rollout measurement, paired too
run_expect_rc 0 "$CADA" bench generate "${B[@]}" --weights bf16 --samples 2 --requests 4
expect_contains "$OUT" "cada rollout tokens/s" "(weights fp32, 2 slots" "(weights bf16, 2 slots" "rollout bf16 / fp32: "
run_expect_rc 2 "$CADA" bench generate "${B[@]}" --weights fp16
expect_contains "$OUT" "[--weights fp32|bf16]"
# the kernel family: the best the CPU runs, or the forced one; a family the CPU lacks or
# an unknown name is an error that names the variable
run_expect_rc 0 "$CADA" version
expect_contains "$OUT" "CPU kernels: " "(chosen at run time; best here " "CPU features: "
run_expect_rc 0 env CADA_CPU_KERNELS=scalar "$CADA" version
expect_contains "$OUT" "CPU kernels: scalar (forced;"
run_expect_rc 1 env CADA_CPU_KERNELS=avx9 "$CADA" version
expect_contains "$OUT" "CADA_CPU_KERNELS=avx9: unknown kernel family"
run_expect_rc 1 env CADA_CPU_KERNELS=avx9 "$CADA" bench generate "${B[@]}" --weights bf16
expect_contains "$OUT" "CADA_CPU_KERNELS=avx9"
# OpenBLAS's kernels (ops/blas_core.h): a user's OPENBLAS_CORETYPE is kept, even one
# without AVX2; left unset, cada never runs OpenBLAS on a core without AVX2 kernels where
# the CPU has AVX2 + FMA (OpenBLAS falls back to Prescott on CPUs newer than itself)
run_expect_rc 0 env OPENBLAS_CORETYPE=Prescott "$CADA" version
expect_contains "$OUT" "BLAS: OpenBLAS" "kernels Prescott (OPENBLAS_CORETYPE=Prescott)"
if [ -z "${OPENBLAS_CORETYPE:-}" ] && "$CADA" version | grep -q "CPU features: .*avx2 fma"; then
  blas="$("$CADA" version | grep "BLAS: ")"
  for weak in Prescott Core2 Penryn Dunnington Nehalem Atom Sandybridge Barcelona Bulldozer Piledriver; do
    case "$blas" in *"kernels $weak "*) fail "OpenBLAS runs its $weak kernels on a CPU with AVX2: $blas" ;; esac
  done
  echo "OpenBLAS on an AVX2 CPU: ${blas#*kernels }"
fi
best="$("$CADA" version | sed -n 's/.*best here \([a-z0-9]*\);.*/\1/p')"
[ -n "$best" ] || fail "cada version names no best kernel family"
# the best family is the one that runs by default (avx512 on an Intel CPU with
# AVX512-BF16: base/cpu.h says why)
run_expect_rc 0 "$CADA" bench generate "${B[@]}" --weights bf16
expect_contains "$OUT" "bf16 kernels $best"
ran=
for k in scalar avx2 avx512 avx512bf16; do # each family the CPU runs, in order, goes through the bench
  env CADA_CPU_KERNELS="$k" "$CADA" version >/dev/null 2>&1 || break # a family the CPU lacks: so do the later ones
  run_expect_rc 0 env CADA_CPU_KERNELS="$k" "$CADA" bench generate "${B[@]}" --weights bf16
  expect_contains "$OUT" "bf16 kernels $k" "decode bf16 / fp32: "
  echo "bench generate --weights bf16 with $k kernels: ok"
  ran="$ran $k"
done
case "$ran " in *" $best "*) ;; *) fail "the best family $best is not among those the CPU runs:$ran" ;; esac
