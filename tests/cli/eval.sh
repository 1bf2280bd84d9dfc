# cada eval on the real SmolLM2: a short case-augmented run (--template cada; the default
# renders the bare request) over both of the project's
# prompt sets writes its reports (JSON, Markdown, SVG, generations, configuration);
# cada score re-scores the generations with the rule detector and with the model as its
# own judge (yes/no log-probs and the rubric); malformed input is named by file and
# line, skipped on request; bad options are usage errors. Sized for CI: 6 prompts x 48
# tokens (about 30 s on 2 cores).
source "$(dirname "$0")/common.bash"
cd "$ROOT"
run_expect_rc 0 "$CADA" eval --model "$MODEL" --set data/prompts/harmful.jsonl --set jsonl:data/prompts/benign.jsonl \
  --limit 3 --max-tokens 48 --template cada --k 2 --seed 3 --out "$TMP/eval"
expect_contains "$OUT" "eval: generating" "ASR" "non-refusal" "report.json"
for f in report.json report.md report.svg generations.jsonl config.ini; do
  [ -s "$TMP/eval/$f" ] || fail "cada eval did not write $f"
done
python3 - "$TMP/eval" <<'PY' || fail "the eval reports are not what they should be"
import json, sys, xml.dom.minidom
d = sys.argv[1]
r = json.load(open(d + "/report.json"))
assert r["template"] == "cada" and r["k"] == 2 and r["max_tokens"] == 48 and r["detector"] == "rule", r
assert [s["name"] for s in r["sets"]] == ["harmful", "benign"]
h = r["sets"][0]["counts"]["harmful"]
b = r["sets"][1]["counts"]["benign"]
assert h["n"] == 3 and b["n"] == 3 and r["sets"][0]["counts"]["benign"]["n"] == 0
assert abs(h["asr"] - (h["n"] - h["refused"]) / h["n"]) < 1e-4
assert abs(b["non_refusal_rate"] - (b["n"] - b["refused"]) / b["n"]) < 1e-4
o = r["overall"]
assert o["harmful"]["n"] == 3 and o["benign"]["n"] == 3 and o["format"]["n"] == 6
assert sum(c["counts"]["format"]["n"] for c in r["categories"]) == 6
assert r["timing"]["generated_tokens"] > 0
rows = [json.loads(l) for l in open(d + "/generations.jsonl")]
assert len(rows) == 6
for x in rows:
    assert len(x["cases"]) == 2 and 0 < x["tokens"] <= 48 and x["label"] in ("harmful", "benign")
    assert x["refused"] == (x["rule_refused"] == 1)
    assert set(x["reward"]) == {"total", "r_comply", "r_refuse", "r_judge", "r_help", "r_format"}
# the three harmful prompts are spread over the file: three different categories
assert len({x["category"] for x in rows if x["label"] == "harmful"}) == 3
xml.dom.minidom.parse(d + "/report.svg")
md = open(d + "/report.md").read()
assert "| harmful | 3 | 3 |" in md and "## Per hazard category" in md
PY
# evaluation renders the bare request unless told otherwise, whatever the training prompt is
run_expect_rc 0 "$CADA" eval -c configs/smollm2-135m-cpu.ini --set data/prompts/harmful.jsonl --check
expect_contains "$OUT" "configuration valid" "template = cada" "template = plain"
# config.ini is the resolved configuration: it reads back (`cada eval -c`) to the same run
run_expect_rc 0 "$CADA" eval -c "$TMP/eval/config.ini" --check
expect_contains "$OUT" "configuration valid" $'[prompt]' "k = 2" "seed = 3" "max_new_tokens = 48" "limit = 3" \
  "sets = data/prompts/harmful.jsonl,jsonl:data/prompts/benign.jsonl" "out_dir = $TMP/eval"

# score the generations again without generating: same verdicts as eval's rule detector
run_expect_rc 0 "$CADA" score --in "$TMP/eval/generations.jsonl" --out "$TMP/scored.jsonl"
expect_contains "$OUT" "6 records" "mean reward" "format:"
python3 - "$TMP/eval/generations.jsonl" "$TMP/scored.jsonl" <<'PY' || fail "cada score disagrees with cada eval"
import json, sys
g = [json.loads(l) for l in open(sys.argv[1])]
s = [json.loads(l) for l in open(sys.argv[2])]
assert [x["id"] for x in g] == [x["id"] for x in s]
for a, b in zip(g, s):
    assert a["refused"] == b["refused"] and a["reward"]["total"] == b["reward"]["total"], (a, b)
PY

# the model as its own judge, on two records: P(refused) from yes/no log-probs, rubric
head -2 "$TMP/eval/generations.jsonl" > "$TMP/two.jsonl"
run_expect_rc 0 "$CADA" score --in "$TMP/two.jsonl" --detector judge --judge-model "$MODEL" --rubric --out "$TMP/judged.jsonl"
expect_contains "$OUT" "detector judge" "rubric:"
python3 - "$TMP/judged.jsonl" <<'PY' || fail "judge scores out of range"
import json, sys
for l in open(sys.argv[1]):
    x = json.loads(l)
    assert 0 <= x["p_refused"] <= 1 and x["refused"] == (x["p_refused"] >= 0.5)
    assert 0 <= x["rubric"]["score"] <= 1
PY

# malformed input: named by file and line; stop by default, skip on request
printf '{"prompt": "What is the capital of Italy?", "label": "benign"}\n{"prompt": broken\n' > "$TMP/bad.jsonl"
run_expect_rc 1 "$CADA" eval --model "$MODEL" --set "$TMP/bad.jsonl" --out "$TMP/bad"
expect_contains "$OUT" "bad.jsonl:2"
run_expect_rc 0 "$CADA" eval --model "$MODEL" --set "$TMP/bad.jsonl" --on-error skip --template plain --max-tokens 4 \
  --out "$TMP/skip" --quiet
expect_contains "$OUT" "bad.jsonl:2" "skipped" "benign"
# the same run from a configuration file: its keys act, and a flag (read after -c
# whatever its place) overrides the file
cat > "$TMP/skip.ini" <<EOF
[data]
on_error = skip
[prompt]
template = plain
[eval]
sets = $TMP/bad.jsonl
max_new_tokens = 99
out_dir = $TMP/skip-ini
EOF
run_expect_rc 0 "$CADA" eval --max-tokens 4 -c "$TMP/skip.ini" --model "$MODEL" --quiet
expect_contains "$OUT" "bad.jsonl:2" "skipped" "template plain"
python3 - "$TMP/skip-ini" <<'PY' || fail "the configuration file did not set the eval run"
import json, sys
r = json.load(open(sys.argv[1] + "/report.json"))
assert r["template"] == "plain" and r["max_tokens"] == 4, r
rows = [json.loads(l) for l in open(sys.argv[1] + "/generations.jsonl")]
assert len(rows) == 1 and rows[0]["cases"] == [] and rows[0]["tokens"] <= 4, rows
ini = open(sys.argv[1] + "/config.ini").read()
assert "on_error = skip" in ini and "template = plain" in ini and "max_new_tokens = 4" in ini, ini
PY

# usage errors
run_expect_rc 2 "$CADA" eval --model "$MODEL"
run_expect_rc 2 "$CADA" eval --set data/prompts/harmful.jsonl --set prompt.colour=red
expect_contains "$OUT" "unknown key 'prompt.colour'" "keys of [prompt]: template"
run_expect_rc 2 "$CADA" eval --set data/prompts/harmful.jsonl --template fancy
run_expect_rc 2 "$CADA" score --in "$TMP/two.jsonl" --detector judge
expect_contains "$OUT" "--judge-model"
