# deploy/mpirun/run.sh, the launcher for machines without Slurm: a one-step `cada train`
# of the real SmolLM2 with the ranks from the configuration, placed by a hostfile; then a
# hostfile with too few slots is refused before anything starts.
source "$(dirname "$0")/common.bash"
cd "$ROOT"
printf '# this machine\nlocalhost slots=2\n' > "$TMP/hosts"
run_expect_rc 0 timeout 300 deploy/mpirun/run.sh --hostfile "$TMP/hosts" configs/smollm2-135m-cpu.ini \
  --set run.steps=1 --set data.prompts_per_step=2 --set rollout.samples_per_prompt=1 --set rollout.max_new_tokens=4 \
  --set rollout.max_len=192 --set learn.micro_batch_tokens=384 --set prompt.template=plain --set learn.kl_coef=0 \
  --set run.out_dir="$TMP/run"
expect_contains "$OUT" "2 ranks, 1 threads per rank, hosts from $TMP/hosts" "step 1/1" "checkpoint $TMP/run/checkpoint-1"
[ -s "$TMP/run/metrics.jsonl" ] && has_weights "$TMP/run/checkpoint-1" || fail "no metrics or checkpoint"
printf 'localhost slots=1\n' > "$TMP/small"
run_expect_rc 1 deploy/mpirun/run.sh --hostfile "$TMP/small" configs/smollm2-135m-cpu.ini
expect_contains "$OUT" "configs/smollm2-135m-cpu.ini needs 2 ranks; $TMP/small offers 1 slots"
run_expect_rc 1 deploy/mpirun/run.sh configs/smollm2-135m-cpu.ini --set learn.zero=7
expect_contains "$OUT" "the configuration is not valid" "learn.zero = 7 is outside [0, 3]"
