# cada train with rollout.weights = bf16 (model/infer_weights.h) on the tiny model under
# mpirun, with learn.condition = augmented so that the learner scores the samples after
# the prompt they were drawn under: the engine/learner log-prob gap is then the bf16
# copy's alone (fp32: ~1e-5, tests/cli/train_resume.sh).
#  1. colocated, 2 ranks, 3 steps: the copy is packed before every rollout (the learner
#     updates the weights in place between them);
#  2. disaggregated, 1 learner + 1 rollout rank, synchronous and one-step-off, and 2
#     rollout ranks as one tensor-parallel engine: the rollout ranks repack after every
#     weight sync (a rollout on a copy of another policy version fails the run,
#     rollout_stage.h);
#  in each, every step's gap lies above fp32's and below 0.1 (a stale copy after a step
#  at lr 2e-2 or a wrong matrix is off by more), and the fp32 run's stays below 1e-3;
#  3. learn.matmul = bf16: the learner and reference compute their linear layers in bf16;
#  4. cada plan counts the copy on the ranks that roll out, and an async rollout rank's
#     second copy of its weights (cluster.sync_overlap); cuda + bf16 is refused.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/train_fixture.bash"
cd "$ROOT"
tiny_smol "$TMP/tiny"
read -r -a ARGS <<<"$(tiny_train_args "$TMP/tiny")"
ARGS+=(--set learn.condition=augmented --set learn.lr=2e-2 --set data.prompts_per_step=4 --set rollout.samples_per_prompt=2
       --set rollout.max_new_tokens=6 --set run.steps=3)
train() { # NP OUT_DIR [more --set ...]
  run_expect_rc 0 timeout 120 "${MPIRUN[@]}" -np "$1" "$CADA" train -c configs/smollm2-135m-cpu.ini "${ARGS[@]}" \
    --set run.out_dir="$2" "${@:3}"
}
gaps() { # METRICS LO HI: every step's engine_lp_gap_max in (LO, HI)
  python3 - "$@" <<'PY'
import json, sys
m = [json.loads(l) for l in open(sys.argv[1])]
lo, hi = float(sys.argv[2]), float(sys.argv[3])
g = [x["engine_lp_gap_max"] for x in m]
print("engine/learner log-prob gap per step:", " ".join(f"{x:.3g}" for x in g))
assert len(m) == 3 and all(lo < x < hi for x in g), (lo, hi, g)
PY
}
train 2 "$TMP/fp32"
gaps "$TMP/fp32/metrics.jsonl" -1 1e-3 || fail "fp32 rollout: the learner's log-probs are not the engine's"
train 2 "$TMP/col" --set rollout.weights=bf16
gaps "$TMP/col/metrics.jsonl" 1e-4 0.1 || fail "colocated bf16 rollout: gap out of range"
DIS=(--set cluster.placement=disaggregated --set cluster.learner_ranks=1 --set cluster.rollout_ranks=1 --set cluster.reward_ranks=0
     --set rollout.weights=bf16)
train 2 "$TMP/dis" "${DIS[@]}"
gaps "$TMP/dis/metrics.jsonl" 1e-4 0.1 || fail "disaggregated bf16 rollout: gap out of range"
# tensor-parallel rollout engines (rollout.tp = 2): each rank packs its slice after the
# resharded sync
train 3 "$TMP/dis_tp" "${DIS[@]}" --set cluster.rollout_ranks=2 --set rollout.tp=2
gaps "$TMP/dis_tp/metrics.jsonl" 1e-4 0.1 || fail "rollout.tp = 2 bf16 rollout: gap out of range"
train 2 "$TMP/dis_async" "${DIS[@]}" --set rollout.mode=async
# one step off: the learner scores with newer weights than sampled, so the gap is the
# update's as much as bf16's; the run completing means every rollout found its version
python3 -c "import json,sys; m=[json.loads(l) for l in open(sys.argv[1])]; assert len(m)==3 and m[1]['staleness']==1, m" \
  "$TMP/dis_async/metrics.jsonl" || fail "async bf16 rollout"
# learn.matmul = bf16 (ops/bgemm.h): the learner's and the reference's linear layers in
# bf16 arithmetic against the fp32 engine. The gap is bf16's (above fp32's, below 0.1);
# the first step's KL (policy = reference) stays at fp32 noise because the reference
# computes in the learner's precision (an fp32 reference would be ~1e-3 off).
train 2 "$TMP/mm" --set learn.matmul=bf16
gaps "$TMP/mm/metrics.jsonl" 1e-4 0.1 || fail "learn.matmul = bf16: gap out of range"
python3 -c "import json,sys; m=[json.loads(l) for l in open(sys.argv[1])]; print('first step KL', m[0]['kl']); assert abs(m[0]['kl']) < 1e-6, m[0]" \
  "$TMP/mm/metrics.jsonl" || fail "learn.matmul = bf16: the reference does not compute as the learner"
run_expect_rc 1 "$CADA" train -c configs/smollm2-135m-cpu.ini --set learn.matmul=fp16 --check
expect_contains "$OUT" "learn.matmul"
# the plan: +2 bytes per matrix weight where the engine runs
run_expect_rc 0 "$CADA" plan -c configs/smollm2-135m-cpu.ini --set rollout.weights=bf16
expect_contains "$OUT" "bf16 matrices (rollout.weights)"
run_expect_rc 0 "$CADA" plan -c configs/smollm2-135m-cpu.ini --set rollout.weights=fp32
[[ "$OUT" != *"bf16 matrices"* ]] || fail "plan counts a bf16 copy with rollout.weights = fp32"
# an overlapped sync (async, disaggregated): a rollout rank holds its weights twice, the
# fp32 rest and the bf16 matrices; not without cluster.sync_overlap
P=(--set cluster.placement=disaggregated --set cluster.learner_ranks=1 --set cluster.rollout_ranks=1 --set rollout.mode=async)
run_expect_rc 0 "$CADA" plan -c configs/smollm2-135m-cpu.ini "${P[@]}"
python3 - "$OUT" <<'PY' || fail "plan: the overlapped sync's second copy"
import re, sys
roll = sys.argv[1].split("rollout: 1 rank")[1]
row = lambda name: float(re.search(re.escape(name) + r"\s+([0-9.]+) GiB", roll).group(1))
assert abs(row("second copy (cluster.sync_overlap)") - row("parameters (fp32, also the master)") - row("bf16 matrices (rollout.weights)")) <= 0.011, roll
PY
run_expect_rc 0 "$CADA" plan -c configs/smollm2-135m-cpu.ini "${P[@]}" --set cluster.sync_overlap=false
[[ "$OUT" != *"second copy"* ]] || fail "plan counts a second copy without cluster.sync_overlap"
run_expect_rc 1 "$CADA" train -c configs/smollm2-135m-cpu.ini --set cluster.device=cuda --set learn.zero=0 --set rollout.weights=bf16 --check
expect_contains "$OUT" "rollout.weights"
