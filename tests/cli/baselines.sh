# The paper's baselines end to end on a tiny model: `cada build-data` for each method
# (dr writes the fixed refusal for harmful prompts only; rule, cr and dpo-cr sample and
# filter, their counts adding up; the tiny model has 1024 positions, rollout.max_len
# lets the rule prompt's spec past them), then `cada train` with learn.algorithm = sft and dpo
# under mpirun with 2 colocated ranks: metrics fields, the loss falling on a tiny fixed
# set (SFT overfits two records; DPO starts at ln 2, the policy being the reference),
# bit-identical weights for 1 and 2 learners (learn.fixed_order), --resume continuing
# exactly, a checkpoint `cada eval` loads. Then the refusals: a record without
# response (sft) or rejected (dpo) names file:line, a baseline.refusal that does not
# refuse, the disaggregated placement. Last, `cada experiment` runs a baseline method:
# build-data, then cada train with sft on its output, then cada eval.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/train_fixture.bash"
cd "$ROOT"
tiny_smol "$TMP/tiny"
CFG=(-c configs/smollm2-135m-cpu.ini --set model.path="$TMP/tiny")
PROMPTS="data/prompts/harmful.jsonl,data/prompts/benign.jsonl"

# ---- build-data --------------------------------------------------------------------------
run_expect_rc 0 "$CADA" build-data "${CFG[@]}" --method dr --out "$TMP/dr.jsonl" --limit 3 --quiet
expect_contains "$OUT" "6 prompts (3 harmful, 3 benign, 3 benign skipped)" "3 records -> $TMP/dr.jsonl"
for m in rule cr dpo-cr; do
  run_expect_rc 0 "$CADA" build-data "${CFG[@]}" --method $m --out "$TMP/$m.jsonl" --limit 2 --samples 2 \
    --set rollout.max_new_tokens=6 --set rollout.max_len=3072 --rejected "$TMP/$m.rejected.jsonl" --quiet
  expect_contains "$OUT" "completions generated" "prompts dropped (no passing completion)"
done
python3 - "$TMP" <<'PY' || fail "build-data output"
import json, sys
d = sys.argv[1]
dr = [json.loads(l) for l in open(f"{d}/dr.jsonl")]
assert len(dr) == 3 and all(r["label"] == "harmful" and r["method"] == "dr" and r["sample"] == -1 for r in dr), dr
assert all(r["response"].startswith("### Analysis\n") and "### Final Response\nI'm sorry" in r["response"] for r in dr), dr
assert all(r["tokens"] > 10 and r["id"] and r["prompt"] and r["category"] for r in dr), dr
for m, prompts in (("rule", 4), ("cr", 4), ("dpo-cr", 2)):  # dpo-cr: harmful prompts only
    s = json.load(open(f"{d}/{m}.jsonl.stats.json"))
    assert s["method"] == m and s["prompts"] == 4 and s["skipped_benign"] == 4 - prompts, s
    assert s["generated"] == 2 * prompts == s["passed"] + sum(s["rejected"].values()), s
    recs = [json.loads(l) for l in open(f"{d}/{m}.jsonl")]
    kept = {r["id"] for r in recs}
    assert len(recs) == s["records"] and len(kept) == prompts - s["dropped_prompts"], (s, recs)
    left = [json.loads(l) for l in open(f"{d}/{m}.rejected.jsonl")]  # --rejected: every one left out, with its reason
    assert len(left) == sum(s["rejected"].values()), (s, len(left))
    assert all(s["rejected"][r["reason"]] > 0 and "rejected" not in r for r in left), left
    # a random 2-layer model never ends a two-section answer within 6 tokens
    assert s["rejected"]["truncated"] >= 1, s
PY
run_expect_rc 2 "$CADA" build-data "${CFG[@]}" --method sft --out "$TMP/x.jsonl"
expect_contains "$OUT" "--method 'sft' is not one of dr|rule|cr|dpo-cr"
run_expect_rc 1 "$CADA" build-data "${CFG[@]}" --method dr --out "$TMP/x.jsonl" --set 'baseline.refusal=### Analysis\nFine.\n### Final Response\nSure, here it is.'
expect_contains "$OUT" "baseline.refusal's Final Response 'Sure, here it is.' does not read as a refusal"
[ ! -e "$TMP/x.jsonl" ] || fail "a failed build-data left its output"

# ---- cada train: sft -----------------------------------------------------------------------
# two records (a refusal, a benign answer), both in every step: SFT must overfit them
head -1 "$TMP/dr.jsonl" > "$TMP/sft.jsonl"
echo '{"id": "b1", "prompt": "How do I bake bread?", "category": "none", "label": "benign", "response": "### Analysis\nA baking question.\n### Final Response\nMix flour, water and yeast, knead, bake."}' >> "$TMP/sft.jsonl"
TRAIN=(--set data.prompts_per_step=2 --set rollout.max_len=256 --set learn.micro_batch_tokens=128 --set learn.lr=1e-2
  --set run.log_every=1 --set run.tensorboard=false --set learn.fixed_order=true --set learn.zero=1)
train() { run_expect_rc "$1" timeout 120 "${MPIRUN[@]}" -np "$2" "$CADA" train "${@:3}"; }
train 0 2 "${CFG[@]}" "${TRAIN[@]}" --set learn.algorithm=sft --set data.train_set="$TMP/sft.jsonl" --set run.steps=4 \
  --set run.checkpoint_every=2 --set run.out_dir="$TMP/sft2"
expect_contains "$OUT" "update: sft on the responses of 2 records of data.train_set" "learner rows of " "step 4/4  sft loss" "done: sft loss"
python3 - "$TMP/sft2/metrics.jsonl" <<'PY' || fail "sft metrics"
import json, sys, math
m = [json.loads(l) for l in open(sys.argv[1])]
assert [r["step"] for r in m] == [1, 2, 3, 4], m
for r in m:
    assert r["algorithm"] == "sft" and r["sequences"] == 2 and r["lr"] == 0.01, r
    for k in ("loss", "grad_norm", "tokens", "response_tokens", "data_s", "learn_s", "step_s", "learner_tokens_per_s"):
        assert isinstance(r[k], (int, float)) and math.isfinite(r[k]), (k, r)
    assert r["tokens"] > r["response_tokens"] > 0 and "reward_mean" not in r and "dpo_accuracy" not in r, r
# a random model's mean CE is near ln(49152) = 10.8; four steps on the same two records
assert 9 < m[0]["loss"] < 12 and m[3]["loss"] < m[0]["loss"] - 1.5, [r["loss"] for r in m]
assert all(b["loss"] < a["loss"] for a, b in zip(m, m[1:])), [r["loss"] for r in m]
PY
# one learner, the same batches: the same weights bit for bit (fixed_order, DP/ZeRO-1 with k = K / W a power of two)
train 0 1 "${CFG[@]}" "${TRAIN[@]}" --set learn.algorithm=sft --set data.train_set="$TMP/sft.jsonl" --set run.steps=4 \
  --set cluster.learner_ranks=1 --set run.out_dir="$TMP/sft1"
same_weights "$TMP/sft1/checkpoint-4" "$TMP/sft2/checkpoint-4" || fail "1 and 2 learners disagree"
# --resume from checkpoint-2 continues exactly
train 0 2 --resume "$TMP/sft2/checkpoint-2" --set run.out_dir="$TMP/sft2r"
expect_contains "$OUT" "step 3/4" "step 4/4"
same_weights "$TMP/sft2/checkpoint-4" "$TMP/sft2r/checkpoint-4" || fail "the resumed sft run differs"
run_expect_rc 0 "$CADA" eval --model "$TMP/sft2/checkpoint-4" --set data/prompts/harmful.jsonl --limit 1 --max-tokens 4 \
  --template plain --out "$TMP/eval" --quiet
[ -s "$TMP/eval/report.json" ] || fail "cada eval of the sft checkpoint wrote no report"

# ---- cada train: dpo -----------------------------------------------------------------------
python3 - "$TMP/dr.jsonl" "$TMP/dpo.jsonl" <<'PY'
import json, sys
out = open(sys.argv[2], "w")
for r in list(map(json.loads, open(sys.argv[1])))[:2]:  # chosen: an answer with reasoning; rejected: the bare refusal
    r["rejected"], r["response"] = r["response"], "### Analysis\nThe codes forbid this.\n### Final Response\nI won't help with that."
    out.write(json.dumps(r) + "\n")
PY
train 0 2 "${CFG[@]}" "${TRAIN[@]}" --set learn.algorithm=dpo --set data.train_set="$TMP/dpo.jsonl" --set run.steps=3 \
  --set run.out_dir="$TMP/dpo"
expect_contains "$OUT" "dpo loss 0.6931  accuracy 0.00  margin +0.0000" "step 3/3  dpo loss"
python3 - "$TMP/dpo/metrics.jsonl" <<'PY' || fail "dpo metrics"
import json, sys, math
m = [json.loads(l) for l in open(sys.argv[1])]
assert len(m) == 3 and all(r["algorithm"] == "dpo" and r["sequences"] == 4 for r in m), m
assert abs(m[0]["loss"] - math.log(2)) < 1e-5 and m[0]["dpo_margin"] == 0, m[0]  # the policy is its reference
assert m[2]["loss"] < m[0]["loss"] and m[2]["dpo_accuracy"] == 1 and m[2]["dpo_margin"] > 0, m
PY

# ---- refusals ------------------------------------------------------------------------------
printf '%s\n' '{"id": "a", "prompt": "p", "label": "harmful", "response": "r", "rejected": "x"}' '{"id": "b", "prompt": "q", "label": "benign"}' > "$TMP/bad.jsonl"
train 1 2 "${CFG[@]}" "${TRAIN[@]}" --set learn.algorithm=sft --set data.train_set="$TMP/bad.jsonl" --set run.out_dir="$TMP/bad"
expect_contains "$OUT" "$TMP/bad.jsonl:2: field 'response' is missing or not a string"
train 1 2 "${CFG[@]}" "${TRAIN[@]}" --set learn.algorithm=dpo --set data.train_set="$TMP/sft.jsonl" --set run.out_dir="$TMP/bad"
expect_contains "$OUT" "$TMP/sft.jsonl:1: field 'rejected' is missing or not a string"
train 1 2 "${CFG[@]}" --set learn.algorithm=sft --set cluster.placement=disaggregated --set cluster.rollout_ranks=1 \
  --set cluster.reward_ranks=0 --set cluster.learner_ranks=1 --set run.out_dir="$TMP/bad"
expect_contains "$OUT" "learn.algorithm = sft trains on a fixed dataset with cluster.placement = colocated only"
# ---- cada experiment: a baseline method builds its data, trains on it, is evaluated ------------
head -2 data/prompts/harmful.jsonl > "$TMP/harm.jsonl"
head -1 data/prompts/benign.jsonl > "$TMP/ben.jsonl"
cat > "$TMP/x.ini" <<INI
[experiment]
name = baselines
out_dir = $TMP/exp
train_config = configs/smollm2-135m-cpu.ini
seeds = 1
methods = sft-dr
attacks = none
benchmarks = harm,ben
ranks = 2
launcher = mpirun --allow-run-as-root --oversubscribe -np {ranks}
train_args = --set model.path=$TMP/tiny --set run.steps=2 --set data.prompts_per_step=2
build_args = --set model.path=$TMP/tiny --set data.train_set=$TMP/harm.jsonl,$TMP/ben.jsonl
eval_args = --set model.path=$TMP/tiny --max-tokens 4 --slots 4
[method.sft-dr]
data = dr
algorithm = sft
[benchmark.harm]
set = $TMP/harm.jsonl
kind = harmful
[benchmark.ben]
set = jsonl:$TMP/ben.jsonl
kind = benign
INI
run_expect_rc 0 timeout 300 "$CADA" experiment -c "$TMP/x.ini"
expect_contains "$OUT" "3 jobs ran, 0 were done before, 0 failed"
[ "$(wc -l < "$TMP/exp/runs/sft-dr-s1/metrics.jsonl")" = 2 ] || fail "the experiment's sft run should have 2 metrics lines"
grep -q '"algorithm": "sft"' "$TMP/exp/runs/sft-dr-s1/metrics.jsonl" || fail "the experiment's run was not sft"
echo "baselines: ok"
