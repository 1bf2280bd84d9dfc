# A rank that stops answering or dies fails the whole job within a bounded time.
#   stall: the test hook CADA_TEST_STALL_AT=PHASE:RANK:STEP puts a rank to sleep (alive,
#          silent) in the rollout or the learner phase; the other rank's timed wait
#          (cluster.timeout_seconds, 5 s here) must fail the job with a message naming
#          the silent rank, its role and the last complete checkpoint.
#   kill:  the same rank in the same phase is then killed with SIGKILL (its pid from
#          out_dir/ranks/rank-R.pid); mpirun must exit non-zero naming the rank.
# Every case must end within 90 s.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/train_fixture.bash"
cd "$ROOT"
tiny_smol "$TMP/tiny"
read -r -a ARGS <<<"$(tiny_train_args "$TMP/tiny")"

# run_case NAME PHASE RANK STEP MODE(stall|kill): sets LOG, RC; NP ranks, LAYOUT the cluster keys
NP=2 LAYOUT=()
run_case() {
  local dir="$TMP/$1" phase="$2" rank="$3" step="$4" mode="$5"
  LOG="$dir.log"
  CADA_TEST_STALL_AT="$phase:$rank:$step" "${MPIRUN[@]}" -x CADA_TEST_STALL_AT -np "$NP" "$CADA" train \
    -c configs/smollm2-135m-cpu.ini "${ARGS[@]}" --set run.steps=50 --set run.checkpoint_every=1 \
    --set cluster.timeout_seconds=5 --set run.out_dir="$dir" "${LAYOUT[@]}" >"$LOG" 2>&1 &
  local pid=$! start=$SECONDS
  if [ "$mode" = kill ]; then # wait until the rank sits in the phase, then kill it
    until grep -q "rank $rank stops answering in the $phase phase" "$LOG"; do
      kill -0 "$pid" 2>/dev/null || { cat "$LOG"; fail "$1: the run ended before the hook"; }
      [ $((SECONDS - start)) -lt 60 ] || { kill -9 "$pid"; fail "$1: the hook never fired"; }
      sleep 0.1
    done
    kill -9 "$(cat "$dir/ranks/rank-$rank.pid")"
  fi
  while kill -0 "$pid" 2>/dev/null; do
    if [ $((SECONDS - start)) -ge 90 ]; then kill -9 "$pid"; cat "$LOG"; fail "$1: still running after 90 s"; fi
    sleep 0.2
  done
  set +e; wait "$pid"; RC=$?; set -e
  [ "$RC" -ne 0 ] || { cat "$LOG"; fail "$1: mpirun exited 0"; }
  echo "$1: exit $RC after $((SECONDS - start)) s"
}

# rank 1 silent in the rollout of step 2: rank 0 waits at the end of its own rollout,
# where the ranks agree that every share was rolled out and scored (sched/colocated.c)
run_case stall_rollout rollout 1 2 stall
expect_contains "$(cat "$LOG")" "rank 0 (learner + rollout + reward, colocated) failed in the rollout phase of step 2" \
  "stopped answering: rank 1 (learner + rollout + reward, colocated)" \
  "last complete checkpoint: $TMP/stall_rollout/checkpoint-1"
# rank 0 silent in the learner step of step 3: rank 1 waits in the gradient reduction
run_case stall_learn learn 0 3 stall
expect_contains "$(cat "$LOG")" "rank 1 (learner + rollout + reward, colocated) failed in the learner step phase of step 3" \
  "stopped answering: rank 0 (learner + rollout + reward, colocated)" \
  "last complete checkpoint: $TMP/stall_learn/checkpoint-2"
# the same ranks killed in those phases: Open MPI notices the death and ends the job
run_case kill_rollout rollout 1 2 kill
expect_contains "$(cat "$LOG")" "process rank 1 with PID" "signal 9"
run_case kill_learn learn 0 3 kill
expect_contains "$(cat "$LOG")" "process rank 0 with PID" "signal 9"

# Disaggregated (2 learners, ranks 2-3 rollout, rank 4 reward): a silent rollout rank is
# named by the reward rank waiting for its trajectories, a silent reward rank by the
# scheduler waiting for its results (sched/disagg.c: waits that cover more work wait
# longer, so the nearest rank reports); killed, Open MPI ends the job.
NP=5 LAYOUT=(--set cluster.placement=disaggregated --set cluster.learner_ranks=2 --set cluster.rollout_ranks=2
             --set cluster.reward_ranks=1)
run_case disagg_stall_rollout rollout 3 2 stall
expect_contains "$(cat "$LOG")" "rank 4 (reward 0) failed in the waiting for trajectories phase of step 2" \
  "stopped answering: rank 3 (rollout 1)" "last complete checkpoint: $TMP/disagg_stall_rollout/checkpoint-1"
run_case disagg_stall_reward reward 4 2 stall
expect_contains "$(cat "$LOG")" "rank 0 (scheduler + learner 0) failed in the collecting rewards phase of step 2" \
  "stopped answering: rank 4 (reward 0)" "last complete checkpoint: $TMP/disagg_stall_reward/checkpoint-1"
run_case disagg_kill_rollout rollout 2 2 kill
expect_contains "$(cat "$LOG")" "process rank 2 with PID" "signal 9"
run_case disagg_kill_reward reward 4 3 kill
expect_contains "$(cat "$LOG")" "process rank 4 with PID" "signal 9"
