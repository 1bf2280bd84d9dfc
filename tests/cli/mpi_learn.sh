# Data-parallel learners on real MPI ranks (tests/mpi/mpi_learn_test.c): 2 and 4
# learners against one on the same global batches, for DP, ZeRO-1, ZeRO-2 and ZeRO-3
# (also with recomputation and logits in chunks) and three
# algorithms. Fixed reduction order: parameters identical to one rank's (and on every
# rank). MPI's own order: within the rounding bound stated in the test program.
# OMP_NUM_THREADS=1 so that 4 ranks do not oversubscribe 2 cores with threads too.
source "$(dirname "$0")/common.bash"
cd "$ROOT"
mpi_programs
for np in 2 4; do
  run_expect_rc 0 timeout 600 "${MPIRUN[@]}" -np $np build/mpi/mpi_learn_test 4
  expect_contains "$OUT" "mpi_learn_test: $np ranks: ok (0 failures)"
  n=$(grep -c "fixed 1: IDENTICAL vs 1 rank" <<<"$OUT" || true)
  [ "$n" -eq 15 ] || fail "expected 15 identical fixed-order runs (5 layouts x 3 algorithms), got $n"$'\n'"$OUT"
  echo "$OUT" | grep '^mpi_learn_test'
done
