# TensorBoard event files of `cada train`, read by readers that are not cada's: a short
# real run (SmolLM2-135M, 2 colocated ranks, 2 steps) writes out_dir/tb/, then
# tests/ref/check_tb_events.py reads it with a plain TFRecord reader (CRCs, hand-decoded
# Event protobufs) and with TensorBoard's EventAccumulator (tests/py_deps.sh installs it
# into .cache/python; required under CI=true, skipped with a note elsewhere when absent),
# and requires every scalar to equal the run's metrics.jsonl. `cada report` then charts
# the same run. run.tensorboard is a checked boolean key.
source "$(dirname "$0")/common.bash"
cd "$ROOT"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
run_expect_rc 0 timeout 900 mpirun --allow-run-as-root --oversubscribe -np 2 "$CADA" train -c configs/smollm2-135m-cpu.ini \
  --set run.steps=2 --set run.out_dir="$TMP/run" --set data.prompts_per_step=2 --set rollout.max_new_tokens=8 \
  --set rollout.samples_per_prompt=2
expect_contains "$OUT" "step 2/2"
[ "$(wc -l < "$TMP/run/metrics.jsonl")" = 2 ] || fail "metrics.jsonl should hold two lines"
ls "$TMP/run/tb/"events.out.tfevents.*.smollm2-135m-cpu >/dev/null || fail "no event file in $TMP/run/tb"
export PYTHONPATH="${CADA_CACHE:-$ROOT/.cache}/python${PYTHONPATH:+:$PYTHONPATH}"
require=()
[ "${CI:-}" = true ] && require=(--require-tensorboard)
run_expect_rc 0 python3 tests/ref/check_tb_events.py "$TMP/run" "${require[@]}"
echo "$OUT"
expect_contains "$OUT" "plain TFRecord reader: 3 records, CRCs good, 2 summaries compared"
# the same run as charts: one point per step
run_expect_rc 0 "$CADA" report "$TMP/run"
python3 - "$TMP/run/report/reward.svg" <<'PY' || fail "reward chart of the run"
import sys, xml.etree.ElementTree as ET
lines = list(ET.parse(sys.argv[1]).getroot().iter("{http://www.w3.org/2000/svg}polyline"))
assert [len(l.get("points").split()) for l in lines] == [2], [l.get("points") for l in lines]
PY
# the switch is a checked boolean
run_expect_rc 1 "$CADA" train -c configs/smollm2-135m-cpu.ini --set run.tensorboard=maybe
expect_contains "$OUT" "run.tensorboard = 'maybe' is not true or false"
