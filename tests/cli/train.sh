# cada train end to end on the real SmolLM2 under mpirun with 2 colocated ranks, one
# short step: case-augmented prompts, sampling, the learner on the bare request, rule
# rewards, reference log-probs, protobuf exchange of trajectories (with their reward
# components), a ZeRO-1 REINFORCE update, progress lines inside the rollout and learn
# phases, metrics and a checkpoint that loads again. Then a
# layout that does not fit the world size must be refused before any work starts.
source "$(dirname "$0")/common.bash"
cd "$ROOT"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPIRUN=(mpirun --allow-run-as-root --oversubscribe)
run_expect_rc 0 timeout 600 "${MPIRUN[@]}" -np 2 "$CADA" train -c configs/smollm2-135m-cpu.ini \
  --set run.steps=1 --set run.out_dir="$TMP/run" --set data.prompts_per_step=2 --set rollout.max_new_tokens=12 \
  --set rollout.samples_per_prompt=2 --set run.progress_seconds=0.001
expect_contains "$OUT" "layout: 2 ranks, colocated" "step 1/1" "checkpoint $TMP/run/checkpoint-1"
# progress inside the phases (not a terminal here: log lines, one rank per group)
expect_contains "$OUT" "rollout (rank 0 of 2): " " sequences, " " tok/s, ETA " "learn (rank 0): " " micro-batches, "
[ "$(wc -l < "$TMP/run/metrics.jsonl")" = 1 ] || fail "metrics.jsonl should hold one line"
python3 - "$TMP/run/metrics.jsonl" <<'PY' || fail "metrics line malformed"
import json, sys, math
m = json.loads(open(sys.argv[1]).readline())
assert m["step"] == 1 and m["sequences"] == 4, m
assert math.isfinite(m["loss"]) and math.isfinite(m["grad_norm"]) and m["grad_norm"] > 0, m
# learn.condition = bare (the default): the learner scores the completions after the bare
# request, not after the case-augmented prompt they were sampled under, so its log-probs
# are far from the engine's (under augmented they agree to ~1e-5: tests/cli/train_resume.sh)
assert m["engine_lp_gap_max"] > 0.05, m
# every rank's components reach rank 0 (they sum to the mean reward), and the cut-off
# completions are counted (12 new tokens: most cannot reach a final response)
parts = sum(m["reward_" + k] for k in ("comply", "refuse", "judge", "help", "format", "truncated", "monitor"))
assert abs(parts - m["reward_mean"]) < 1e-4, (parts, m)
assert 0 <= m["truncated"] <= m["sequences"] and 0 <= m["monitor_flag_rate"] <= 1, m
PY
for f in config.json config.ini run_state.json tokenizer.json; do
  [ -s "$TMP/run/checkpoint-1/$f" ] || fail "checkpoint lacks $f"
done
has_weights "$TMP/run/checkpoint-1" || fail "checkpoint lacks its weights files"
[ ! -e "$TMP/run/checkpoint-1.tmp" ] || fail "temporary checkpoint folder left behind"
run_expect_rc 0 "$CADA" inspect "$TMP/run/checkpoint-1"
expect_contains "$OUT" "parameters          134515008"
# the saved configuration reads back
run_expect_rc 0 "$CADA" train -c "$TMP/run/checkpoint-1/config.ini" --keys
# a layout that does not match the world size: a clear error, every rank stops
run_expect_rc 1 timeout 120 "${MPIRUN[@]}" -np 2 "$CADA" train -c configs/smollm2-135m-cpu.ini --set cluster.learner_ranks=3
expect_contains "$OUT" "learner_ranks = world size (2)"
