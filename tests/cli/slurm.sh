# The Slurm recipe on a real Slurm: tests/slurm/setup.sh starts munged, slurmctld and
# slurmd on this machine; deploy/slurm/cpu.sbatch is submitted with sbatch for a one-step
# `cada train` on the real SmolLM2 (2 colocated ranks, short prompts and completions),
# once through `srun --mpi=pmix` and once through mpirun inside the allocation. Each job
# must end COMPLETED and leave metrics.jsonl and checkpoint-1/. A configuration whose
# rank count does not match the allocation must fail the job with the sbatch option that
# fits. The daemons are always stopped (by pid). If Slurm cannot start here the test
# fails with the daemons' logs.
source "$(dirname "$0")/common.bash"
cd "$ROOT"
SL="$TMP/slurm"
trap 'bash "$ROOT/tests/slurm/setup.sh" stop "$SL" >/dev/null 2>&1 || true; rm -rf "$TMP"' EXIT
bash tests/slurm/setup.sh start "$SL" || fail "Slurm did not start on this machine (see above)"
export SLURM_CONF="$SL/slurm.conf"
export CADA_ROOT="$ROOT"

# A one-step run small enough for 2 cores: plain prompts, 4 new tokens, no reference model.
SHORT=(--set run.steps=1 --set data.prompts_per_step=2 --set rollout.samples_per_prompt=1
       --set rollout.max_new_tokens=4 --set rollout.max_len=192 --set learn.micro_batch_tokens=384
       --set prompt.template=plain --set learn.kl_coef=0)

# wait_job ID SECONDS: waits until the job leaves the queue; prints its final state
wait_job() {
  local id="$1" limit="$2" t=0 state=""
  while [ "$t" -lt "$limit" ]; do
    state=$(scontrol show job -o "$id" 2>/dev/null | sed -nE 's/.*JobState=([A-Z_]+).*/\1/p')
    case "$state" in
      COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE|PREEMPTED) echo "$state"; return 0 ;;
    esac
    sleep 1; t=$((t + 1))
  done
  scancel "$id" 2>/dev/null || true
  echo "TIMEOUT_IN_TEST(last state ${state:-unknown})"
}

# submit LAUNCHER NAME CONFIG ARGS...: sbatch the CPU recipe; prints the job id
submit() {
  local launcher="$1" name="$2"; shift 2
  CADA_LAUNCHER="$launcher" sbatch --parsable --output="$TMP/$name.out" --job-name="$name" \
    deploy/slurm/cpu.sbatch "$@"
}

for launcher in srun mpirun; do
  run="$TMP/run-$launcher"
  id=$(submit "$launcher" "$launcher" configs/smollm2-135m-cpu.ini "${SHORT[@]}" --set run.out_dir="$run") \
    || fail "sbatch refused the CPU recipe"
  state=$(wait_job "$id" 150)
  log=$(cat "$TMP/$launcher.out" 2>/dev/null || true)
  [ "$state" = COMPLETED ] || fail "job $id ($launcher) ended $state, expected COMPLETED; its output:"$'\n'"$log"
  grep -q "JobId=$id .*JobState=COMPLETED" "$SL/jobcomp.txt" || fail "job $id not recorded COMPLETED in the job-completion log"
  expect_contains "$log" "2 ranks (colocated: learners 2, rollout 0, reward 0) on 1 node(s)" "via $launcher" \
    "step 1/1" "checkpoint $run/checkpoint-1" "done: checkpoints and metrics.jsonl in $run"
  [ "$(wc -l < "$run/metrics.jsonl")" = 1 ] || fail "$run/metrics.jsonl should hold one line"
  for f in config.json config.ini run_state.json; do
    [ -s "$run/checkpoint-1/$f" ] || fail "$launcher: checkpoint lacks $f"
  done
  has_weights "$run/checkpoint-1" || fail "$launcher: checkpoint lacks its weights files"
  # the threads per rank came from the allocation (--cpus-per-task=1)
  grep -q "^threads_per_rank = 1$" "$run/checkpoint-1/config.ini" || fail "threads_per_rank was not passed through"
done

# A layout that needs 3 ranks in a 2-task job: the job fails at once, saying what fits.
id=$(submit srun mismatch configs/smollm2-135m-cpu.ini --set cluster.learner_ranks=3) || fail "sbatch refused"
state=$(wait_job "$id" 60)
[ "$state" = FAILED ] || fail "mismatched job ended $state, expected FAILED"
expect_contains "$(cat "$TMP/mismatch.out")" "needs 3 ranks" "the job has 2 tasks" "sbatch --ntasks=3"

# Preemption: SIGTERM to the batch shell (what --signal=B:TERM@120 sends before the time
# limit) reaches the ranks, which checkpoint the finished step and exit; the job
# requeues itself, finds the checkpoint and resumes with --resume latest to the end.
run="$TMP/run-preempt"
id=$(submit srun preempt configs/smollm2-135m-cpu.ini "${SHORT[@]}" --set run.steps=3 --set run.out_dir="$run") \
  || fail "sbatch refused the CPU recipe"
t=0
until [ -s "$run/metrics.jsonl" ]; do
  sleep 1; t=$((t + 1))
  [ "$t" -lt 120 ] || fail "job $id wrote no metrics line in 120 s: $(cat "$TMP/preempt.out" 2>/dev/null)"
done
scancel --signal=TERM --batch "$id"
state=$(wait_job "$id" 240)
log=$(cat "$TMP/preempt.out" 2>/dev/null || true)
[ "$state" = COMPLETED ] || fail "preempted job $id ended $state, expected COMPLETED after a requeue; its output:"$'\n'"$log"
expect_contains "$log" "SIGTERM: asking the ranks to checkpoint and stop" "SIGTERM: checkpoint-" "requeueing job $id (restart 1)" \
  "resuming with --resume latest" "resumed from" "step 3/3" "checkpoint $run/checkpoint-3"
scontrol show job -o "$id" | grep -q "Restarts=1" || fail "job $id was not restarted exactly once"
# one metrics line per step, none lost or repeated across the restart
[ "$(wc -l < "$run/metrics.jsonl")" = 3 ] || fail "metrics.jsonl should hold 3 lines after the resume:"$'\n'"$(cat "$run/metrics.jsonl")"
