# cada experiment on the tiny model: a grid of 2 seeds x (base, CADA) x attack none over a
# harmful and a benign set runs every job (training under mpirun, cada eval), writes the
# tables (ASR and non-refusal, mean +- std over seeds), results.json and the chart; a
# second run does nothing (every job is done); a removed marker runs that job again
# only; a failing method with --keep-going skips the evals that need it and still writes
# the tables; bad experiment files are named by file and line.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/train_fixture.bash"
cd "$ROOT"
tiny_smol "$TMP/tiny"
head -3 data/prompts/harmful.jsonl > "$TMP/harm.jsonl"
head -2 data/prompts/benign.jsonl > "$TMP/ben.jsonl"
cat > "$TMP/x.ini" <<INI
[experiment]
name = tiny
out_dir = $TMP/out
train_config = configs/smollm2-135m-cpu.ini
seeds = 1,2
methods = base,cada
attacks = none
benchmarks = harm,ben
ranks = 2
launcher = mpirun --allow-run-as-root --oversubscribe -np {ranks}
train_args = $(tiny_train_args "$TMP/tiny" | sed 's/ --set rollout.max_len/\n  --set rollout.max_len/')
  --set run.steps=1 --set data.train_set=$TMP/harm.jsonl
eval_args = --set model.path=$TMP/tiny --max-tokens 4 --slots 4
[method.base]
base = true
[method.cada]
[benchmark.harm]
set = $TMP/harm.jsonl
kind = harmful
[benchmark.ben]
set = jsonl:$TMP/ben.jsonl
kind = benign
INI
run_expect_rc 0 "$CADA" experiment -c "$TMP/x.ini" --dry-run
expect_contains "$OUT" "train-cada-s1" "eval-base-s2-none" "cada train -c configs/smollm2-135m-cpu.ini --set run.seed=2"
[ ! -e "$TMP/out" ] || fail "--dry-run wrote files"
run_expect_rc 0 timeout 600 "$CADA" experiment -c "$TMP/x.ini"
expect_contains "$OUT" "6 jobs ran, 0 were done before, 0 failed" "tables: $TMP/out/tables.md" "(4 eval reports, 0 missing)"
for f in tables.md results.json asr.svg jobs/train-cada-s2.done logs/eval-cada-s1-none.log runs/cada-s1/checkpoint-1; do
  [ -e "$TMP/out/$f" ] || fail "cada experiment did not write $f"
done
python3 - "$TMP/out" <<'PY' || fail "the experiment's results are not the evals' numbers"
import json, math, statistics, sys, xml.dom.minidom
d = sys.argv[1]
r = json.load(open(d + "/results.json"))
cells = {(c["method"], c["benchmark"], c["attack"]): c for c in r["cells"]}
assert set(cells) == {(m, b, "none") for m in ("base", "cada") for b in ("harm", "ben")}, cells.keys()
for (m, b, a), c in cells.items():
    vals = []
    for s in (1, 2):
        rep = json.load(open(f"{d}/eval/{m}-s{s}/{a}/report.json"))
        k = 0 if b == "harm" else 1
        cnt = rep["sets"][k]["counts"]
        vals.append(100 * (cnt["harmful"]["asr"] if b == "harm" else cnt["benign"]["non_refusal_rate"]))
    assert c["n"] == 2 and all(abs(x - y) < 1e-3 for x, y in zip(c["values"], vals)), (c, vals)
    assert abs(c["mean"] - statistics.mean(vals)) < 1e-3 and abs(c["std"] - statistics.stdev(vals)) < 1e-3, (c, vals)
md = open(d + "/tables.md").read()
assert "| method | harm none |" in md and "| base |" in md and "| cada |" in md and "ben non-refusal" in md, md
xml.dom.minidom.parse(d + "/asr.svg")
PY
# the trained method was evaluated from its own checkpoint, the base from the model
grep -q "checkpoint-1" "$TMP/out/logs/eval-cada-s2-none.log" || fail "cada's eval did not load its checkpoint"
# a second run: everything is done
run_expect_rc 0 "$CADA" experiment -c "$TMP/x.ini"
expect_contains "$OUT" "0 jobs ran, 6 were done before, 0 failed"
# one eval again, alone
rm "$TMP/out/jobs/eval-cada-s2-none.done"
run_expect_rc 0 "$CADA" experiment -c "$TMP/x.ini"
expect_contains "$OUT" "1 jobs ran, 5 were done before, 0 failed"
# a method whose training fails: its evals are skipped, the rest runs, the tables stay
cat >> "$TMP/x.ini" <<INI
[method.broken]
train_args = --set data.train_set=$TMP/missing.jsonl
INI
run_expect_rc 1 "$CADA" experiment -c "$TMP/x.ini" --set methods=base,broken,cada --set seeds=1 --keep-going
expect_contains "$OUT" "job train-broken-s1 exited" "missing.jsonl" "0 jobs ran, 3 were done before, 1 failed, 1 skipped after a failure" \
  "(2 eval reports, 1 missing)"
grep -q "| broken | - |" "$TMP/out/tables.md" || fail "a failed method should show '-' cells"
# without --keep-going the first failure stops the experiment
run_expect_rc 1 "$CADA" experiment -c "$TMP/x.ini" --set methods=broken,cada --set seeds=1
expect_contains "$OUT" "job train-broken-s1 failed (exit"
# bad experiment files
printf '[experiment]\nmethods = base\nbenchmarks = h\ncolour = red\n' > "$TMP/bad.ini"
run_expect_rc 1 "$CADA" experiment -c "$TMP/bad.ini"
expect_contains "$OUT" "$TMP/bad.ini:4: unknown key 'colour' in [experiment]"
printf '[experiment]\nmethods = base\nbenchmarks = h\n[method.base]\nbase = true\n' > "$TMP/bad.ini"
run_expect_rc 1 "$CADA" experiment -c "$TMP/bad.ini"
expect_contains "$OUT" "benchmarks names h, which has no [benchmark.h] section"
printf '[experiment]\nmethods = d\nbenchmarks = h\nattacks = none,jedi\n' > "$TMP/bad.ini"
run_expect_rc 1 "$CADA" experiment -c "$TMP/bad.ini"
expect_contains "$OUT" "$TMP/bad.ini:4: experiment.attacks: 'jedi' is not one of none|template|pap|pair"
run_expect_rc 2 "$CADA" experiment
expect_contains "$OUT" "give the experiment: -c EXPERIMENT.ini"
# the shipped experiments read and plan (the paper's grid: 3 seeds x 6 methods, 3 attacks)
run_expect_rc 0 "$CADA" experiment -c experiments/paper.ini --dry-run
[ "$(grep -c '^eval-' <<<"$OUT")" = 54 ] || fail "experiments/paper.ini should plan 54 evals"
expect_contains "$OUT" "train-dpo-cr-s3" "--method rule" "--set eval.attack=pair" "--set eval.attack=pap"
run_expect_rc 0 "$CADA" experiment -c experiments/smollm2-135m.ini --dry-run
expect_contains "$OUT" "data-sft-cr-s1" "eval-dpo-cr-s1-none"
