# Collectives on real MPI ranks (tests/mpi/mpi_comm_test.c): every operation at 2, 3 and
# 4 ranks in both reduction modes, the timeout path (a rank that never arrives is named
# and every rank is aborted, nothing hangs), and the CPU a waiting rank uses.
source "$(dirname "$0")/common.bash"
cd "$ROOT"
mpi_programs
for np in 2 3 4; do
  run_expect_rc 0 timeout 300 "${MPIRUN[@]}" -np $np build/mpi/mpi_comm_test
  expect_contains "$OUT" "mpi_comm_test: $np ranks: ok (0 failures)"
  echo "$OUT" | grep '^mpi_comm_test'
done
# A rank that never joins: the collective returns an error naming it after the 1 s
# timeout, cada_fatal aborts every rank. The whole run must end well before the
# absent rank's 6 s sleep would.
for mode in timeout timeout-rs; do
  start=$(date +%s)
  set +e
  OUT="$(timeout 60 "${MPIRUN[@]}" -np 2 build/mpi/mpi_comm_test $mode 2>&1)"
  rc=$?
  set -e
  took=$(( $(date +%s) - start ))
  [ "$rc" -ne 0 ] || fail "$mode: expected a non-zero exit (abort), got 0"
  [ "$rc" -ne 124 ] || fail "$mode: hung (killed by timeout)"
  [ "$took" -lt 6 ] || fail "$mode: took ${took} s; the timeout is 1 s"
  expect_contains "$OUT" "timed out after" "cada: fatal on host"
  if [ "$mode" = timeout ]; then expect_contains "$OUT" "rank(s) not in it: 1"
  else expect_contains "$OUT" "waiting for data from rank(s): 1"; fi
  echo "$OUT" | grep -m1 'returned after'
done
run_expect_rc 0 timeout 60 "${MPIRUN[@]}" -np 2 build/mpi/mpi_comm_test idle
echo "$OUT" | grep '^mpi_comm_test'
