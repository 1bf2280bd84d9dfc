# SIGTERM / SIGINT (Slurm preemption, Ctrl-C): the ranks finish the step they are in,
# agree at the step boundary, every rank writes its part of checkpoint-N and exits 0
# with "SIGTERM: checkpoint-N written, exiting"; --resume then continues from it.
#   1. SIGINT to one rank only (as a launcher that signals some tasks first): both ranks
#      stop at the same boundary, mpirun exits 0.
#   2. SIGTERM to mpirun: Open MPI 4 forwards it to the ranks after
#      odls_base_sigkill_timeout seconds and kills them as long after that, so the run
#      gives it 10 s; the job must be gone within 60 s, leaving a complete checkpoint.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/train_fixture.bash"
cd "$ROOT"
tiny_smol "$TMP/tiny"
read -r -a ARGS <<<"$(tiny_train_args "$TMP/tiny")"

# start_run DIR [mpirun options...]: a long run in the background (NP ranks, LAYOUT the
# cluster keys); waits for its first metrics line. Sets PID (mpirun's) and LOG.
NP=2 LAYOUT=()
start_run() {
  local dir="$1"; shift
  LOG="$dir.log"
  "${MPIRUN[@]}" "$@" -np "$NP" "$CADA" train -c configs/smollm2-135m-cpu.ini "${ARGS[@]}" --set run.steps=100000 \
    --set run.out_dir="$dir" "${LAYOUT[@]}" >"$LOG" 2>&1 &
  PID=$!
  for _ in $(seq 600); do
    [ -s "$dir/metrics.jsonl" ] && return 0
    kill -0 "$PID" 2>/dev/null || { cat "$LOG"; fail "the run ended before its first step"; }
    sleep 0.1
  done
  kill -9 "$PID"; fail "no step within 60 s"
}
# wait_exit SECONDS: waits for mpirun; sets RC; fails after SECONDS
wait_exit() {
  local start=$SECONDS
  while kill -0 "$PID" 2>/dev/null; do
    if [ $((SECONDS - start)) -ge "$1" ]; then kill -9 "$PID"; cat "$LOG"; fail "still running after $1 s"; fi
    sleep 0.2
  done
  set +e; wait "$PID"; RC=$?; set -e
}
complete_checkpoint() { # DIR: the newest checkpoint-N, checked for every file
  local ck
  ck=$(ls -d "$1"/checkpoint-* | grep -v '\.tmp$' | sort -t- -k2 -n | tail -1)
  for f in config.json config.ini run_state.json optimizer-rank-0.bin optimizer-rank-1.bin; do
    [ -s "$ck/$f" ] || fail "$ck lacks $f"
  done
  has_weights "$ck" || fail "$ck lacks its weights files"
  ! ls -d "$1"/checkpoint-*.tmp 2>/dev/null || fail "a .tmp checkpoint was left behind"
  echo "$ck"
}

# 1. SIGINT to rank 1 alone
start_run "$TMP/int"
kill -INT "$(cat "$TMP/int/ranks/rank-1.pid")"
wait_exit 60
[ "$RC" -eq 0 ] || { cat "$LOG"; fail "mpirun exited $RC after SIGINT to a rank, expected 0"; }
ck=$(complete_checkpoint "$TMP/int")
n=${ck##*checkpoint-}
grep -q "\[cada r0 .*SIGINT: checkpoint-$n written, exiting" "$LOG" || { cat "$LOG"; fail "rank 0 did not report the checkpoint"; }
grep -q "\[cada r1 .*SIGINT: checkpoint-$n written, exiting" "$LOG" || { cat "$LOG"; fail "rank 1 did not report the checkpoint"; }
[ "$(tail -1 "$TMP/int/metrics.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["step"])')" = "$n" ] ||
  fail "the checkpoint is not at the last finished step"

# 2. SIGTERM to mpirun
start_run "$TMP/term" --mca odls_base_sigkill_timeout 10
kill -TERM "$PID"
wait_exit 60
ck=$(complete_checkpoint "$TMP/term")
n=${ck##*checkpoint-}
grep -q "SIGTERM: checkpoint-$n written, exiting" "$LOG" || { cat "$LOG"; fail "no SIGTERM checkpoint line"; }
# and the run continues from it for one more step
run_expect_rc 0 timeout 120 "${MPIRUN[@]}" -np 2 "$CADA" train --resume "$ck" --set run.steps=$((n + 1))
expect_contains "$OUT" "resumed from $ck: step $n of $((n + 1))" "step $((n + 1))/$((n + 1))" "checkpoint $TMP/term/checkpoint-$((n + 1))"

# 3. disaggregated, one-step-off (2 learners, rank 2 rollout, rank 3 reward): SIGINT to the
#    rollout rank, which is a step ahead; every rank stops at the same boundary (the next
#    step's results, already on their way, are taken so no send is left open), exit 0
NP=4 LAYOUT=(--set cluster.placement=disaggregated --set cluster.learner_ranks=2 --set cluster.rollout_ranks=1
             --set cluster.reward_ranks=1 --set rollout.mode=async)
start_run "$TMP/dis"
kill -INT "$(cat "$TMP/dis/ranks/rank-2.pid")"
wait_exit 60
[ "$RC" -eq 0 ] || { cat "$LOG"; fail "disaggregated: mpirun exited $RC after SIGINT to the rollout rank, expected 0"; }
ck=$(complete_checkpoint "$TMP/dis")
n=${ck##*checkpoint-}
for r in 0 1 2 3; do
  grep -q "\[cada r$r .*SIGINT: checkpoint-$n written, exiting" "$LOG" || { cat "$LOG"; fail "rank $r did not stop at checkpoint-$n"; }
done
