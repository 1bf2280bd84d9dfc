# cada train --resume continues a run exactly: 4 steps straight against 2 steps, then
# --resume from checkpoint-2 for 2 more, under mpirun with 2 colocated ranks (ZeRO-1:
# each rank holds half the optimizer). The weights (fp32, one file per learner and the
# index) and both optimizer shards of checkpoint-4 must be byte-identical, and the metrics of steps 3-4 equal but for the
# timing fields. The same with ZeRO-3, and for the disaggregated placement, synchronous and one-step-off. Then what must be refused: a missing or truncated optimizer shard, a
# changed key that enters the computation, another rank count, a BF16 checkpoint.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/train_fixture.bash"
cd "$ROOT"
tiny_smol "$TMP/tiny"
read -r -a ARGS <<<"$(tiny_train_args "$TMP/tiny")"
train() { run_expect_rc "$1" timeout 120 "${MPIRUN[@]}" -np "$2" "$CADA" train "${@:3}"; }

train 0 2 -c configs/smollm2-135m-cpu.ini "${ARGS[@]}" --set run.steps=4 --set run.out_dir="$TMP/straight"
train 0 2 -c configs/smollm2-135m-cpu.ini "${ARGS[@]}" --set run.steps=2 --set run.out_dir="$TMP/split"
ck="$TMP/split/checkpoint-2"
WEIGHTS="model-00001-of-00002.safetensors model-00002-of-00002.safetensors model.safetensors.index.json"
for f in $WEIGHTS config.json config.ini run_state.json manifest.json tokenizer.json optimizer-rank-0.bin optimizer-rank-1.bin; do
  [ -s "$ck/$f" ] || fail "checkpoint lacks $f"
done
[ ! -e "$ck/model.safetensors" ] || fail "2 learners wrote a single model.safetensors"
[ -s "$TMP/split/ranks/rank-0.pid" ] && [ -s "$TMP/split/ranks/rank-1.pid" ] || fail "no per-rank pid files"
cp -r "$ck" "$TMP/ck2" # pristine copy for the refusals below
# resume: the checkpoint's config.ini is the configuration, run.steps raised
train 0 2 --resume "$ck" --set run.steps=4
expect_contains "$OUT" "resumed from $ck: step 2 of 4" "step 3/4" "step 4/4" "checkpoint $TMP/split/checkpoint-4"
for f in $WEIGHTS optimizer-rank-0.bin optimizer-rank-1.bin; do
  cmp "$TMP/straight/checkpoint-4/$f" "$TMP/split/checkpoint-4/$f" || fail "$f differs between the straight and the resumed run"
done
same_metrics() { python3 - "$1" "$2" <<'PY' || fail "metrics of $1 and $2 differ"
import json, sys
def load(p):
    rows = [json.loads(l) for l in open(p)]
    timing = lambda k: "time" in k or "seconds" in k or "tok_s" in k or "per_s" in k or k.endswith("_s")
    return [{k: v for k, v in r.items() if not timing(k)} for r in rows]
a, b = load(sys.argv[1]), load(sys.argv[2])
assert [r["step"] for r in a] == [1, 2, 3, 4] and [r["step"] for r in b] == [1, 2, 3, 4], (a, b)
assert a[2:] == b[2:], (a[2:], b[2:])
assert a[:2] == b[:2], (a[:2], b[:2])
PY
}
same_metrics "$TMP/straight/metrics.jsonl" "$TMP/split/metrics.jsonl"
# the run state (baseline to the last bit, counters, step 1's numbers) too
cmp "$TMP/straight/checkpoint-4/run_state.json" "$TMP/split/checkpoint-4/run_state.json" || fail "run_state.json differs"

# --resume latest picks checkpoint-4 of run.out_dir (nothing left to run at steps = 4)
train 1 2 -c configs/smollm2-135m-cpu.ini "${ARGS[@]}" --set run.steps=4 --set run.out_dir="$TMP/split" --resume latest
expect_contains "$OUT" "run.steps = 4, but the checkpoint is at step 4"
train 0 2 -c configs/smollm2-135m-cpu.ini "${ARGS[@]}" --set run.steps=5 --set run.out_dir="$TMP/split" --resume latest
expect_contains "$OUT" "resumed from $TMP/split/checkpoint-4: step 4 of 5" "step 5/5"

# a key that changes the computation
train 1 2 --resume "$TMP/ck2" --set run.steps=4 --set learn.lr=1e-5
expect_contains "$OUT" "learn.lr = 9.99999975e-06, but the checkpoint's configuration" "has 4.99999987e-06"
# another learner count
train 1 1 --resume "$TMP/ck2" --set run.steps=4
expect_contains "$OUT" "written by 2 learner ranks, this job has 1"
# a missing optimizer shard, then a truncated one: errors name the file. The manifest
# would refuse these first (tests/cli/disk_faults.sh); without it (a checkpoint from
# before manifests) the loaders' own checks must.
rm -rf "$TMP/bad" && cp -r "$TMP/ck2" "$TMP/bad" && rm "$TMP/bad/optimizer-rank-1.bin" "$TMP/bad/manifest.json"
train 1 2 --resume "$TMP/bad" --set run.steps=4 --set run.out_dir="$TMP/badrun"
expect_contains "$OUT" "$TMP/bad/optimizer-rank-1.bin: cannot open"
rm -rf "$TMP/bad" && cp -r "$TMP/ck2" "$TMP/bad" && rm "$TMP/bad/manifest.json" && truncate -s 1000 "$TMP/bad/optimizer-rank-0.bin"
train 1 2 --resume "$TMP/bad" --set run.steps=4 --set run.out_dir="$TMP/badrun"
expect_contains "$OUT" "$TMP/bad/optimizer-rank-0.bin: truncated: 1000 bytes"
# weights that are not fp32 cannot continue exactly
rm -rf "$TMP/bad" && cp -r "$TMP/ck2" "$TMP/bad" && (cd "$TMP/bad" && rm $WEIGHTS manifest.json) && "$CADA" convert "$TMP/ck2" "$TMP/bad" --dtype BF16 >/dev/null
train 1 2 --resume "$TMP/bad" --set run.steps=4 --set run.out_dir="$TMP/badrun"
expect_contains "$OUT" "is BF16; --resume needs the fp32 weights"

# ZeRO-3 (each learner holds a shard of the layers; checkpoints gather them, a resume
# loads them whole): 2 + resume + 2 == 4 straight. These runs sample under the
# case-augmented prompt and train on it (learn.condition = augmented), so the learner's
# log-probs of step 1 are the engine's (CPU, same weights: ~1e-5); tests/cli/train.sh
# checks that the default, bare, scores them after another prompt.
Z3=(--set learn.zero=3 --set learn.condition=augmented --set prompt.template=cada --set prompt.k=1
    --set rollout.max_len=1024 --set learn.micro_batch_tokens=1024)
train 0 2 -c configs/smollm2-135m-cpu.ini "${ARGS[@]}" "${Z3[@]}" --set run.steps=4 --set run.out_dir="$TMP/z3straight"
train 0 2 -c configs/smollm2-135m-cpu.ini "${ARGS[@]}" "${Z3[@]}" --set run.steps=2 --set run.out_dir="$TMP/z3split"
train 0 2 --resume "$TMP/z3split/checkpoint-2" --set run.steps=4
for f in $WEIGHTS optimizer-rank-0.bin optimizer-rank-1.bin run_state.json; do
  cmp "$TMP/z3straight/checkpoint-4/$f" "$TMP/z3split/checkpoint-4/$f" || fail "ZeRO-3: $f differs between the straight and the resumed run"
done
python3 - "$TMP/z3straight/metrics.jsonl" <<'PY' || fail "learn.condition = augmented: the learner's log-probs are not the engine's"
import json, sys
m = json.loads(open(sys.argv[1]).readline())
assert m["engine_lp_gap_max"] < 1e-3, m
PY

# disaggregated (2 learners, 1 rollout rank, 1 reward rank): 2 + resume + 2 == 4 straight
D=(--set cluster.placement=disaggregated --set cluster.learner_ranks=2 --set cluster.rollout_ranks=1 --set cluster.reward_ranks=1)
train 0 4 -c configs/smollm2-135m-cpu.ini "${ARGS[@]}" "${D[@]}" --set run.steps=4 --set run.out_dir="$TMP/dstraight"
train 0 4 -c configs/smollm2-135m-cpu.ini "${ARGS[@]}" "${D[@]}" --set run.steps=2 --set run.out_dir="$TMP/dsplit"
train 0 4 --resume "$TMP/dsplit/checkpoint-2" --set run.steps=4
expect_contains "$OUT" "resumed from $TMP/dsplit/checkpoint-2: step 2 of 4" "step 4/4"
for f in $WEIGHTS optimizer-rank-0.bin optimizer-rank-1.bin run_state.json; do
  cmp "$TMP/dstraight/checkpoint-4/$f" "$TMP/dsplit/checkpoint-4/$f" || fail "disaggregated: $f differs between the straight and the resumed run"
done
[ ! -e "$TMP/dsplit/checkpoint-4/optimizer-rank-2.bin" ] || fail "a rollout rank wrote an optimizer shard"
[ "$(ls "$TMP/dsplit/checkpoint-4" | grep -c 'safetensors$')" = 2 ] || fail "disaggregated: not one weights file per learner"
same_metrics "$TMP/dstraight/metrics.jsonl" "$TMP/dsplit/metrics.jsonl"
# one-step-off (rollout.mode = async, disaggregated only: a colocated rank rolls out with
# the weights it trains): checkpoint-2 of a 4-step run holds the batch of step 3, sampled
# with version 1 and scored (pipeline.bin); resuming from it is exact
A=("${D[@]}" --set rollout.mode=async --set run.checkpoint_every=1)
train 0 4 -c configs/smollm2-135m-cpu.ini "${ARGS[@]}" "${A[@]}" --set run.steps=4 --set run.out_dir="$TMP/astraight"
[ -s "$TMP/astraight/checkpoint-2/pipeline.bin" ] || fail "async: checkpoint-2 has no pipeline.bin"
cp -r "$TMP/astraight" "$TMP/asplit" && rm -rf "$TMP/asplit/checkpoint-3" "$TMP/asplit/checkpoint-4"
train 0 4 --resume "$TMP/asplit/checkpoint-2" --set run.out_dir="$TMP/asplit"
expect_contains "$OUT" "resumed from $TMP/asplit/checkpoint-2: step 2 of 4" "step 4/4"
for f in $WEIGHTS optimizer-rank-0.bin optimizer-rank-1.bin run_state.json; do
  cmp "$TMP/astraight/checkpoint-4/$f" "$TMP/asplit/checkpoint-4/$f" || fail "async: $f differs between the straight and the resumed run"
done
same_metrics "$TMP/astraight/metrics.jsonl" "$TMP/asplit/metrics.jsonl"
grep -q '"step": 3, .*"staleness": 1, "policy_version": 1' "$TMP/asplit/metrics.jsonl" || fail "async: resumed step 3 is not one step off"
# the last step's checkpoint holds no batch ahead: continued, the pipeline starts again
train 0 4 --resume "$TMP/asplit/checkpoint-4" --set run.steps=5 --set run.out_dir="$TMP/asplit"
expect_contains "$OUT" "holds no batch ahead" "step 5/5"
# a damaged pipeline.bin is refused, naming it: by the manifest, and (without one) by
# its own loader
rm -rf "$TMP/bad" && cp -r "$TMP/astraight/checkpoint-2" "$TMP/bad" && truncate -s 20 "$TMP/bad/pipeline.bin"
train 1 4 --resume "$TMP/bad" --set run.out_dir="$TMP/badrun"
expect_contains "$OUT" "$TMP/bad/pipeline.bin"
rm -f "$TMP/bad/manifest.json"
train 1 4 --resume "$TMP/bad" --set run.out_dir="$TMP/badrun"
expect_contains "$OUT" "$TMP/bad/pipeline.bin"
rm -f "$TMP/bad/pipeline.bin"
train 1 4 --resume "$TMP/bad" --set run.out_dir="$TMP/badrun"
expect_contains "$OUT" "$TMP/bad/pipeline.bin: cannot open"
# across placements: refused, naming both
train 1 4 -c configs/smollm2-135m-cpu.ini "${ARGS[@]}" "${D[@]}" --set run.steps=4 --set run.out_dir="$TMP/cross" --resume "$TMP/ck2"
expect_contains "$OUT" "the checkpoint comes from a colocated run (run_state.json placement), this run is disaggregated"
