# Tensor parallelism on real MPI ranks (tests/mpi/mpi_tp_test.c, model/tp.h): P = 2 and 4
# ranks holding parts of synthetic Llama and Qwen2 models against the whole model
# (log-probs, loss, every gradient, with and without recomputation and logits in
# chunks; slicing that rebuilds the model bit for bit), learner steps with TP x data
# parallelism (DP, ZeRO-1/2/3) against one learner on the whole model, and P = 3 on the real
# SmolLM2-135M (9 heads, 3 KV heads): log-probs, and the rollout engine's greedy and
# sampled tokens identical to the whole model's. Tolerances and their reasons are in the
# test program. OMP_NUM_THREADS=1: 4 ranks on 2 cores.
source "$(dirname "$0")/common.bash"
cd "$ROOT"
mpi_programs
for np in 2 4; do
  run_expect_rc 0 timeout 300 "${MPIRUN[@]}" -np $np build/mpi/mpi_tp_test
  expect_contains "$OUT" "mpi_tp_test: $np ranks: ok (0 failures)"
  n=$(grep -c "gradients: worst" <<<"$OUT" || true)
  [ "$n" -eq 4 ] || fail "expected 4 gradient comparisons (2 models x 2 memory options), got $n"$'\n'"$OUT"
  # learner steps: TP = np (and TP 2 x DP 2 with 4 ranks) under DP, ZeRO-1/2/3, ZeRO-3 + recomputation
  n=$(grep -c "mpi_tp_test: learner TP" <<<"$OUT" || true)
  [ "$n" -eq $((np == 4 ? 10 : 5)) ] || fail "expected $((np == 4 ? 10 : 5)) learner comparisons, got $n"$'\n'"$OUT"
  echo "$OUT" | grep '^mpi_tp_test'
done
run_expect_rc 0 timeout 600 "${MPIRUN[@]}" -np 3 build/mpi/mpi_tp_test --model "$MODEL"
for mode in greedy sampled; do
  grep -Eq "$mode decoding: [0-9]+ tokens IDENTICAL" <<<"$OUT" || fail "$mode decoding not identical"$'\n'"$OUT"
done
expect_contains "$OUT" "mpi_tp_test: 3 ranks: ok (0 failures)"
echo "$OUT" | grep '^mpi_tp_test'
