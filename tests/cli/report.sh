# cada report RUN_DIR: SVG charts and report.md from a run's metrics.jsonl. The fixture
# tests/data/train_metrics.jsonl is the metrics.jsonl of a real 3-step `cada train`
# run (SmolLM2-135M, 2 colocated ranks), whose step 2 had no harmful prompt (refusal
# rate null). tests/cli/tb_events.sh reports a fresh run as well. Then the errors: no
# folder, no metrics.jsonl, an empty one, a malformed line, a line without a step.
source "$(dirname "$0")/common.bash"
cd "$ROOT"
mkdir -p "$TMP/run"
cp tests/data/train_metrics.jsonl "$TMP/run/metrics.jsonl"
run_expect_rc 0 "$CADA" report "$TMP/run"
expect_contains "$OUT" "report: 3 steps, 8 charts -> $TMP/run/report/report.md"
for f in report.md reward.svg refusal_rate.svg kl.svg loss.svg entropy.svg grad_norm.svg tokens_per_s.svg time.svg; do
  [ -s "$TMP/run/report/$f" ] || fail "report lacks $f"
done
md="$(cat "$TMP/run/report/report.md")"
expect_contains "$md" "| metric | first (step 1) | last (step 3) | change |" "| reward mean | -1 | -1 | +0 |" \
  "| refusal rate (harmful prompts) | 0 | 0 | +0 |" "| KL to the reference | 1.21e-11 | 0.001657 | +0.001657 |" \
  "Total time of the steps: 138.8 s (rollout 42.8 s, 31%; exchange 4.2 s, 3%; learn 91.8 s, 66%)." \
  "![Reward (mean over the step's sequences)](reward.svg)" "![Time per phase](time.svg)"
python3 - "$TMP/run/report" <<'PY' || fail "SVG check failed"
import sys, glob, os
import xml.etree.ElementTree as ET
NS = "{http://www.w3.org/2000/svg}"
d = sys.argv[1]
def polylines(name):
    root = ET.parse(os.path.join(d, name)).getroot()   # well-formed XML or an exception
    assert root.tag == NS + "svg", root.tag
    return root, [[tuple(map(float, p.split(","))) for p in e.get("points").split()] for e in root.iter(NS + "polyline")]
for f in sorted(glob.glob(os.path.join(d, "*.svg"))):
    polylines(os.path.basename(f))
# one line of 3 points (one per step), x increasing, and its band
root, lines = polylines("reward.svg")
assert [len(l) for l in lines] == [3], lines
xs = [p[0] for p in lines[0]]
assert xs == sorted(xs) and len(set(xs)) == 3, xs
assert len(list(root.iter(NS + "polygon"))) == 1, "reward band"
ys = [p[1] for p in lines[0]]
assert ys[0] == ys[2] and ys[1] < ys[0], ys          # rewards -1, 1, -1 (SVG y grows downwards)
# the refusal rate is null at step 2: the line breaks there
_, lines = polylines("refusal_rate.svg")
assert [len(l) for l in lines] == [1, 1], lines
# time per phase: three series of 3 points, and axis labels
root, lines = polylines("time.svg")
assert [len(l) for l in lines] == [3, 3, 3], lines
texts = [t.text for t in root.iter(NS + "text")]
for want in ("Time per phase", "step", "seconds", "rollout", "exchange", "learn", "1", "2", "3"):
    assert want in texts, (want, texts)
PY
# --out elsewhere
run_expect_rc 0 "$CADA" report "$TMP/run" --out "$TMP/elsewhere"
[ -s "$TMP/elsewhere/report.md" ] || fail "--out ignored"

# errors
run_expect_rc 1 "$CADA" report "$TMP/missing"
expect_contains "$OUT" "cada report: $TMP/missing: not a folder"
mkdir -p "$TMP/empty_dir"
run_expect_rc 1 "$CADA" report "$TMP/empty_dir"
expect_contains "$OUT" "$TMP/empty_dir/metrics.jsonl: cannot open"
: > "$TMP/empty_dir/metrics.jsonl"
run_expect_rc 1 "$CADA" report "$TMP/empty_dir"
expect_contains "$OUT" "$TMP/empty_dir/metrics.jsonl: no metric lines"
{ head -1 tests/data/train_metrics.jsonl; echo '{"step": 2, "reward_mean": '; } > "$TMP/empty_dir/metrics.jsonl"
run_expect_rc 1 "$CADA" report "$TMP/empty_dir"
expect_contains "$OUT" "$TMP/empty_dir/metrics.jsonl:2: not a JSON object"
{ head -2 tests/data/train_metrics.jsonl; echo; echo '{"reward_mean": 1}'; } > "$TMP/empty_dir/metrics.jsonl"
run_expect_rc 1 "$CADA" report "$TMP/empty_dir"
expect_contains "$OUT" "metrics.jsonl:4: no numeric \"step\""
[ ! -e "$TMP/empty_dir/report/report.md" ] || fail "a failed report left report.md behind"
run_expect_rc 2 "$CADA" report
expect_contains "$OUT" "usage: cada report RUN_DIR"
