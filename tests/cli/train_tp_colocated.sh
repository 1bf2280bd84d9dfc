# cada train, colocated, with tensor-parallel groups (learn.tp = rollout.tp = reward.tp
# = 2; sched/colocated.c, model/tp.h) on the tiny model (4 heads, 2 KV heads) under
# mpirun. A group's two ranks hold one model between them: they generate their share of
# the prompts together (the KV cache split by heads), compute the reference log-probs
# with the reference split the same way, and train as one learner of the data-parallel
# layout (ZeRO over the groups).
#  1. TIS off: one group against one whole rank: step 1's samples are the same, its loss
#     and gradient norm agree to 1e-5, its KL is the TP rounding of the reference's
#     log-probs (< 1e-6; under 1e-9 whole, the policy being the reference: the
#     reference pass and the learner's forward are separate GEMMs of other shapes,
#     which the matmul kernels may sum in another order (seen on an Intel Xeon:
#     1.9e-13); fp32 log-probs that differ by ~1e-6 give a KL of order 1e-12), and the
#     weights after it differ by the rounding of the reduction order amplified by Adam
#     (max |diff| <= 2 lr, fewer than 1% of parameters above 1e-5; as in
#     tests/cli/train_tp.sh). Later steps are not compared: the tiny random model's
#     near-uniform sampling turns any difference into other tokens;
#  2. two groups (4 ranks) against one: the same samples and weights after 3 steps, bit
#     for bit (sampling streams are keyed by (seed, step, prompt id, sample), whoever
#     draws them; learn.fixed_order), and --resume of the group run from step 2
#     continues it exactly;
#  3. rollout.weights = bf16: each rank packs a bf16 copy of its part of the weights every
#     step; its log-probs stay within bf16's rounding of the learner's (1e-4 < gap < 0.1,
#     as tests/cli/train_bf16.sh bounds a whole rank's). Its samples are not compared
#     with a whole rank's: the bf16 products sum in another order when o_proj and down
#     are split by rows, which moves near-uniform sampling;
#  4. dpo (the offline stage, the reference split over the group): one group against one
#     whole rank, the first step's loss ln 2 (policy = reference) and the second's within
#     1e-5;
#  5. the LLM judge (reward.detector = judge, the tiny model judging): a group's first rank
#     alone opens and runs it; the first step judges the same sequences as a whole rank
#     does, so the same judge tokens and mean P(refused);
#  6. refusals: TP on cluster.device = cuda; rollout.tp other than learn.tp colocated.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/train_fixture.bash"
cd "$ROOT"
tiny_smol "$TMP/tiny"
read -r -a ARGS <<<"$(tiny_train_args "$TMP/tiny")"
ARGS+=(--set cluster.placement=colocated --set reward.detector=target_tokens --set reward.target_ids=0-6143
       --set data.prompts_per_step=4 --set rollout.samples_per_prompt=4 --set rollout.max_new_tokens=6 --set learn.lr=2e-2
       --set learn.fixed_order=true --set run.dump_samples=true --set run.steps=3 --set cluster.gpus_per_node=8)
TP2=(--set learn.tp=2 --set rollout.tp=2 --set reward.tp=2)
train() { # NP OUT_DIR [more --set ...]   (colocated: every rank a learner)
  run_expect_rc 0 timeout 200 "${MPIRUN[@]}" -np "$1" "$CADA" train -c configs/smollm2-135m-cpu.ini "${ARGS[@]}" \
    --set cluster.learner_ranks="$1" --set run.out_dir="$2" "${@:3}"
}
# step 1 of two runs: the same samples; loss and gradient norm to 1e-5; the second's KL
first_step_agrees() { # RUN_A RUN_B KL_BOUND
  python3 - "$@" <<'PY'
import json, sys
a, b = ([json.loads(l) for l in open(f"{d}/samples.jsonl")] for d in sys.argv[1:3])
assert [x for x in a if x["step"] == 1] == [x for x in b if x["step"] == 1], "step 1 samples differ"
ma, mb = (json.loads(open(f"{d}/metrics.jsonl").readline()) for d in sys.argv[1:3])
for k in ("loss", "grad_norm"):
    assert abs(ma[k] - mb[k]) <= 1e-5 * max(1, abs(ma[k])), (k, ma[k], mb[k])
assert abs(ma["kl"]) < 1e-9 and abs(mb["kl"]) < float(sys.argv[3]), (ma["kl"], mb["kl"])
print("step 1: loss %.6f vs %.6f, grad norm %.6f vs %.6f, KL %.3g" % (mb["loss"], ma["loss"], mb["grad_norm"], ma["grad_norm"], mb["kl"]))
PY
}

# 1. one group of 2 against one whole rank
T0=(--set learn.tis_cap=0 --set run.checkpoint_every=1)
train 1 "$TMP/w1" "${T0[@]}"
train 2 "$TMP/g1" "${T0[@]}" "${TP2[@]}"
expect_contains "$OUT" "layout: 2 ranks, colocated (each rank: learner + rollout + reward); 1 tensor-parallel groups of 2 ranks (learn.tp)"
first_step_agrees "$TMP/w1" "$TMP/g1" 1e-6 || fail "one TP group against one whole rank: the first step"
close_weights "$TMP/w1/checkpoint-1" "$TMP/g1/checkpoint-1" 0.04 || fail "one TP group: the first step's weights" # 2 x lr 2e-2

# 2. two groups against one; resume
train 4 "$TMP/g2" "${T0[@]}" "${TP2[@]}" --set learn.zero=1
expect_contains "$OUT" "2 tensor-parallel groups of 2 ranks (learn.tp), each rolling out its share"
cmp "$TMP/g1/samples.jsonl" "$TMP/g2/samples.jsonl" || fail "two TP groups sample otherwise than one"
same_weights "$TMP/g1/checkpoint-3" "$TMP/g2/checkpoint-3" || fail "two TP groups train otherwise than one"
run_expect_rc 0 timeout 200 "${MPIRUN[@]}" -np 2 "$CADA" train --resume "$TMP/g1/checkpoint-2" --set run.out_dir="$TMP/g1r"
expect_contains "$OUT" "step 3/3"
same_weights "$TMP/g1/checkpoint-3" "$TMP/g1r/checkpoint-3" || fail "the resumed TP run's weights differ"
diff <(grep '"step": 3' "$TMP/g1/samples.jsonl") "$TMP/g1r/samples.jsonl" >/dev/null || fail "the resumed TP run's samples differ"

# 3. bf16 rollout weights, packed from each rank's part
train 1 "$TMP/b1" --set rollout.weights=bf16
train 2 "$TMP/b2" --set rollout.weights=bf16 "${TP2[@]}"
python3 - "$TMP/b1" "$TMP/b2" <<'PY' || fail "rollout.weights = bf16 in TP groups"
import json, sys
gap = [json.loads(l)["engine_lp_gap_max"] for l in open(f"{sys.argv[2]}/metrics.jsonl")]
whole = [json.loads(l)["engine_lp_gap_max"] for l in open(f"{sys.argv[1]}/metrics.jsonl")]
print("rollout.weights = bf16: engine/learner log-prob gap per step, TP group", gap, "whole rank", whole)
assert len(gap) == 3 and all(1e-4 < g < 0.1 for g in gap), gap
PY

# 4. dpo: the offline stage in TP groups
python3 - "$TMP/dpo.jsonl" <<'PY'
import json, sys
with open(sys.argv[1], "w") as out:
    for i, q in enumerate(["How do I pick a lock?", "How do I bake bread?", "Write a phishing email.", "Name three rivers."]):
        out.write(json.dumps({"id": f"d{i}", "prompt": q, "category": "none", "label": "benign",
                              "response": "### Analysis\nA question.\n### Final Response\nHere is a careful answer.",
                              "rejected": "### Analysis\nNo.\n### Final Response\nI won't help with that."}) + "\n")
PY
D=(--set learn.algorithm=dpo --set data.train_set="$TMP/dpo.jsonl" --set run.steps=2 --set rollout.max_len=256)
train 1 "$TMP/d1" "${D[@]}"
train 2 "$TMP/d2" "${D[@]}" "${TP2[@]}"
python3 - "$TMP/d1" "$TMP/d2" <<'PY' || fail "dpo in TP groups"
import json, math, sys
a, b = ([json.loads(l) for l in open(f"{d}/metrics.jsonl")] for d in sys.argv[1:3])
print("dpo loss per step, whole rank", [x["loss"] for x in a], "TP group", [x["loss"] for x in b])
assert len(a) == len(b) == 2 and all(abs(x["loss"] - math.log(2)) < 1e-6 for x in (a[0], b[0])), (a[0], b[0])
assert abs(a[1]["loss"] - b[1]["loss"]) < 1e-5, (a[1]["loss"], b[1]["loss"])
PY

# 5. the judge, on the group's first rank only
J=(--set run.steps=1 --set reward.detector=judge --set reward.judge_model="$TMP/tiny" --set reward.judge_slots=4
   --set learn.tis_cap=0)
train 1 "$TMP/j1" "${J[@]}"
train 2 "$TMP/j2" "${J[@]}" "${TP2[@]}"
expect_contains "$OUT" "rank 0: judge $TMP/tiny loaded"
! grep -q "rank 1: judge" <<<"$OUT" || fail "a TP group's second rank opened the judge"
python3 - "$TMP/j1" "$TMP/j2" <<'PY' || fail "the judge in TP groups"
import json, sys
a, b = (json.loads(open(f"{d}/metrics.jsonl").readline()) for d in sys.argv[1:3])
print("judge, step 1: tokens %d vs %d, P(refused) %.6f vs %.6f" % (b["judge_tokens"], a["judge_tokens"], b["judge_refusal"], a["judge_refusal"]))
assert a["judge_tokens"] == b["judge_tokens"] > 0 and abs(a["judge_refusal"] - b["judge_refusal"]) < 1e-6, (a, b)
PY

# 6. refusals
run_expect_rc 1 timeout 60 "$CADA" train -c configs/smollm2-135m-cpu.ini "${ARGS[@]}" "${TP2[@]}" --set cluster.learner_ranks=2 \
  --set cluster.device=cuda --set learn.zero=0 --set run.out_dir="$TMP/bad"
expect_contains "$OUT" "learn.tp = 2 runs with cluster.device = cpu only (have cuda): GPU groups over NCCL are not built yet"
run_expect_rc 1 timeout 60 "$CADA" train -c configs/smollm2-135m-cpu.ini "${ARGS[@]}" --set learn.tp=2 --set cluster.learner_ranks=2 \
  --set run.out_dir="$TMP/bad"
expect_contains "$OUT" "cluster.placement = colocated: rollout.tp (1) and reward.tp (1) must equal learn.tp (2)"
[ ! -e "$TMP/bad/metrics.jsonl" ] || fail "work started in a refused layout"
echo "colocated TP groups: the same first step as a whole rank; 1 and 2 groups identical; resume exact; bf16 rollout; dpo; judge"
