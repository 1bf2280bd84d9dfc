# The resharded weight sync (sched/reshard.h, tests/mpi/mpi_reshard_test.c) on real MPI
# ranks: learners in TP parts of Pl (with data-parallel replicas) to rollout engines of
# Pr ranks, every rollout slice checked element by element (fp32 exact, bf16 equal to
# the rounded slice), also when received by progress alone (the overlapped sync of an
# async rollout rank), and a version mismatch rejected naming the learner without taking
# the chunk. Synthetic layouts: 2 learners (TP 1 or 2) to 2 or 4 rollout ranks (TP 2 or
# 4: slices cut from learner parts), 4 learners (TP 4, or TP 2 x 2 replicas) to 2 rollout
# ranks (TP 2 or 1: learner parts put together); real SmolLM2-135M: 2 learner replicas
# to one TP-3 engine.
source "$(dirname "$0")/common.bash"
cd "$ROOT"
mpi_programs
for lay in "4 2 1 2" "4 2 2 2" "6 2 1 2" "6 2 2 4" "6 4 4 2" "6 4 2 1"; do
  set -- $lay
  run_expect_rc 0 timeout 300 "${MPIRUN[@]}" -np "$1" build/mpi/mpi_reshard_test "$2" "$3" "$4"
  expect_contains "$OUT" "fp32 on the wire: every rollout slice exact"
  expect_contains "$OUT" "bf16 on the wire: every rollout slice exact"
  expect_contains "$OUT" "overlapped receive by progress alone: every rollout slice exact"
  expect_contains "$OUT" "expects version 99"
  expect_contains "$OUT" "mpi_reshard_test: $1 ranks: ok (0 failures)"
done
run_expect_rc 0 timeout 600 "${MPIRUN[@]}" -np 5 build/mpi/mpi_reshard_test 2 1 3 --model "$MODEL"
expect_contains "$OUT" "mpi_reshard_test: 5 ranks: ok (0 failures)"
echo "$OUT" | grep '^mpi_reshard_test'
