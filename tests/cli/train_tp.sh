# cada train with tensor-parallel rollout engines and learners (rollout.tp, learn.tp;
# disaggregated, CPU; sched/disagg.h, model/tp.h, learn/learner.h, sched/reshard.h) on
# the tiny model (4 heads, 2 KV heads: tp 2) under mpirun:
#  1. with truncated importance sampling off (learn.tis_cap = 0, so the learner reads no
#     engine log-prob): one engine of two ranks and two engines of two give the same
#     samples (token ids, rewards) and weights after 3 steps, bit for bit (sampling
#     streams are keyed by (seed, step, prompt id, sample), whoever draws them); against
#     two engines of one rank, the first step's samples and the weights after it are
#     the same, and every step's engine log-probs match the learner's to float rounding
#     (gap < 1e-4: the resharded sync delivers the learner's fp32 weights exactly). The
#     TP engine's rounding (~1e-6 on log-probs) may move a sampled token of the tiny
#     random model's near-uniform distributions, so later samples are counted, not
#     required equal;
#  2. with the correction on (the default), the first step's samples are the same and
#     every step's engine log-probs match the learner's to float rounding
#     (engine_lp_gap_max < 1e-4, as for one-rank engines): each engine rank computes with
#     exactly its slice of the learner's weights after every sync. The runs then
#     diverge: the learner weighs each token by exp(learner - engine log-prob), the
#     engines' ~1e-6 differences change near-zero gradients' signs and Adam's first steps
#     move such parameters by ~lr (learn/learner.h), so the weights are not compared;
#  3. learners in TP groups (learn.tp = 2; TIS off): one group and two groups as
#     data-parallel peers (ZeRO-1 over them) give the same samples and weights, bit for
#     bit (the same TP rounding; learn.fixed_order); one group sending to a whole rollout
#     rank (the learner parts put together there) the same first step, and its engine on
#     the learner's weights at every step (log-prob gap < 1e-4: a TP engine's rounding
#     can move a sampled token later, as in 2); against one whole learner the first
#     step's samples, loss and gradient norm agree, and the weights after it differ by
#     the rounding of the reduction order amplified by Adam as in tests/mpi/mpi_tp_test.c
#     (max |diff| <= 2 lr, fewer than 1% of parameters above 1e-5) -- after that the
#     near-uniform sampling of the tiny random model turns any difference into other
#     tokens, so later steps are not compared; checkpoints hold the whole model (gathered
#     over the TP group), and --resume of a TP run continues it exactly (the parts cut
#     from the checkpoint, the resumed weights sent to the engines resharded);
#  4. one-step-off asynchronous mode with TP engines;
#  5. rollout.tp must divide the rollout ranks;
#  6. cluster.weight_sync = bf16: half the bytes, the engine on bf16-rounded weights
#     (TP engines reading a bf16 copy of their part: tests/cli/train_bf16.sh);
#  7. reward groups (reward.tp = 2) holding the reference: against one whole reward rank
#     the same first step, its KL at TP rounding; one and two groups identical.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/train_fixture.bash"
cd "$ROOT"
tiny_smol "$TMP/tiny"
read -r -a ARGS <<<"$(tiny_train_args "$TMP/tiny")"
ARGS+=("${DISAGG_TASK[@]}" --set run.steps=3 --set cluster.gpus_per_node=8)
train() { # NP ROLLOUT_RANKS ROLLOUT_TP OUT_DIR [more --set ...]   (1 learner, 1 reward rank)
  run_expect_rc 0 timeout 200 "${MPIRUN[@]}" -np "$1" "$CADA" train -c configs/smollm2-135m-cpu.ini "${ARGS[@]}" \
    --set cluster.learner_ranks=1 --set cluster.rollout_ranks="$2" --set cluster.reward_ranks=1 --set rollout.tp="$3" \
    --set run.out_dir="$4" "${@:5}"
}

# 1. TIS off: the same first step as one-rank engines; one and two TP engines identical
train 4 2 1 "$TMP/r2" --set learn.tis_cap=0 --set run.checkpoint_every=1
train 4 2 2 "$TMP/e1x2" --set learn.tis_cap=0 --set run.checkpoint_every=1
expect_contains "$OUT" "ranks 1-2 rollout (1 engines of 2)"
train 6 4 2 "$TMP/e2x2" --set learn.tis_cap=0
expect_contains "$OUT" "ranks 1-4 rollout (2 engines of 2)"
cmp "$TMP/e1x2/samples.jsonl" "$TMP/e2x2/samples.jsonl" || fail "two TP engines sample otherwise than one"
same_weights "$TMP/e1x2/checkpoint-3" "$TMP/e2x2/checkpoint-3" || fail "two TP engines: weights differ from one"
same_weights "$TMP/r2/checkpoint-1" "$TMP/e1x2/checkpoint-1" || fail "TP engines: step 1 weights differ from one-rank engines"
python3 - "$TMP/r2" "$TMP/e1x2" <<'PY' || fail "TP engines against one-rank engines"
import json, sys
a, b = ([json.loads(l) for l in open(f"{d}/samples.jsonl")] for d in sys.argv[1:3])
assert [x for x in a if x["step"] == 1] == [x for x in b if x["step"] == 1], "step 1 samples differ"
same = sum(x == y for x, y in zip(a, b))
gap = [json.loads(l)["engine_lp_gap_max"] for l in open(f"{sys.argv[2]}/metrics.jsonl")]
print(f"rollout.tp = 2: {same} of {len(a)} samples identical to one-rank engines over 3 steps; "
      f"engine/learner log-prob gap per step: {gap}")
assert len(gap) == 3 and max(gap) < 1e-4, gap
PY

# 2. TIS on: the first step's samples equal, every step's engine on the learner's weights
train 4 2 1 "$TMP/t_r2"
train 6 4 2 "$TMP/t_e2x2"
python3 - "$TMP/t_r2" "$TMP/t_e2x2" <<'PY' || fail "TP engines with the correction on"
import json, sys
a, b = ([json.loads(l) for l in open(f"{d}/samples.jsonl")] for d in sys.argv[1:3])
assert [x for x in a if x["step"] == 1] == [x for x in b if x["step"] == 1], "step 1 samples differ"
m = [json.loads(l) for l in open(f"{sys.argv[2]}/metrics.jsonl")]
gap = [x["engine_lp_gap_max"] for x in m]
print("TP engines: engine/learner log-prob gap per step:", gap, "sync_s:", [round(x["sync_s"], 4) for x in m])
assert len(m) == 3 and max(gap) < 1e-4, gap
PY

# 3. TP learners: one group of 2, and 2 groups of 2 as data-parallel peers
TL=(--set learn.tis_cap=0 --set run.checkpoint_every=1 --set learn.tp=2 --set learn.zero=1)
train 5 2 2 "$TMP/l2" "${TL[@]}" --set cluster.learner_ranks=2
train 7 2 2 "$TMP/l2x2" "${TL[@]}" --set cluster.learner_ranks=4
cmp "$TMP/l2/samples.jsonl" "$TMP/l2x2/samples.jsonl" || fail "learn.tp 2: two TP groups sample otherwise than one"
same_weights "$TMP/l2/checkpoint-3" "$TMP/l2x2/checkpoint-3" || fail "learn.tp 2: two TP groups train otherwise than one"
# ... and one whole rollout rank: each learner part sent to it, put together there
train 4 1 1 "$TMP/l2e1" "${TL[@]}" --set cluster.learner_ranks=2
same_weights "$TMP/l2/checkpoint-1" "$TMP/l2e1/checkpoint-1" || fail "learn.tp 2 to a whole engine: step 1 weights differ"
python3 - "$TMP/l2" "$TMP/l2e1" <<'PY' || fail "learn.tp 2 to a whole engine"
import json, sys
a, b = ([json.loads(l) for l in open(f"{d}/samples.jsonl")] for d in sys.argv[1:3])
assert [x for x in a if x["step"] == 1] == [x for x in b if x["step"] == 1], "step 1 samples differ"
gap = [json.loads(l)["engine_lp_gap_max"] for l in open(f"{sys.argv[2]}/metrics.jsonl")]
print("learn.tp 2 -> whole engine: engine/learner log-prob gap per step:", gap)
assert len(gap) == 3 and max(gap) < 1e-4, gap
PY
python3 - "$TMP/e1x2" "$TMP/l2" <<'PY' || fail "learn.tp 2 against one whole learner: the first step"
import json, sys
a, b = ([json.loads(l) for l in open(f"{d}/samples.jsonl")] for d in sys.argv[1:3])
assert [x for x in a if x["step"] == 1] == [x for x in b if x["step"] == 1], "step 1 samples differ"
ma, mb = (json.loads(open(f"{d}/metrics.jsonl").readline()) for d in sys.argv[1:3])
for k in ("loss", "grad_norm", "entropy"):
    if k in ma:
        assert abs(ma[k] - mb[k]) <= 1e-5 * max(1, abs(ma[k])), (k, ma[k], mb[k])
print("learn.tp 2, step 1: loss %.6f vs %.6f, grad norm %.6f vs %.6f" % (mb["loss"], ma["loss"], mb["grad_norm"], ma["grad_norm"]))
PY
close_weights "$TMP/e1x2/checkpoint-1" "$TMP/l2/checkpoint-1" 0.04 || fail "learn.tp 2: the first step's weights" # 2 x lr 2e-2
# resume from step 2: step 3 as the uninterrupted run
train 5 2 2 "$TMP/l2r" "${TL[@]}" --set cluster.learner_ranks=2 --resume "$TMP/l2/checkpoint-2"
same_weights "$TMP/l2/checkpoint-3" "$TMP/l2r/checkpoint-3" || fail "learn.tp 2: the resumed run's weights differ"
diff <(grep '"step": 3' "$TMP/l2/samples.jsonl") "$TMP/l2r/samples.jsonl" >/dev/null || fail "learn.tp 2: the resumed run's samples differ"
echo "learn.tp = 2: 1 and 2 TP groups identical; resumed run identical"

# 4. async with TP engines
train 4 2 2 "$TMP/async" --set rollout.mode=async
python3 - "$TMP/async" <<'PY' || fail "async with TP engines"
import json, sys
m = [json.loads(l) for l in open(f"{sys.argv[1]}/metrics.jsonl")]
assert [x["staleness"] for x in m] == [0, 1, 1] and [x["policy_version"] for x in m] == [0, 0, 1], m
PY

# 6 (before the refusals). cluster.weight_sync = bf16: the weights go learner by learner
# as bf16; step 1 samples with model.path's fp32 weights (gap at fp32 rounding), later
# steps with the bf16-rounded ones: each weight moves by up to 2^-9 relative, the
# log-probs by ~1e-3 on this model, so the gap lies between fp32's (1e-6) and 0.1
train 4 2 1 "$TMP/bf16" --set cluster.weight_sync=bf16
python3 - "$TMP/bf16" <<'PY' || fail "weight_sync = bf16"
import json, sys
gap = [json.loads(l)["engine_lp_gap_max"] for l in open(f"{sys.argv[1]}/metrics.jsonl")]
print("cluster.weight_sync = bf16: engine/learner log-prob gap per step:", gap)
assert gap[0] < 1e-4 and all(1e-4 < g < 0.1 for g in gap[1:]), gap
PY

# 7 (before the refusals). reward groups (reward.tp = 2): the frozen reference split over
# two reward ranks. TIS off. Against one whole reward rank: the first step's samples,
# loss and gradient norm agree, and its KL (policy = reference: under 1e-9 with the whole
# reference, whose pass and the learner's forward are GEMMs of other shapes that the
# matmul kernels may sum in another order, 1.9e-13 seen on an Intel Xeon) is the TP
# rounding of the reference's log-probs (< 1e-6); two reward
# groups of 2 against one: identical samples and weights after 3 steps (the same TP
# rounding in every group).
RT=(--set learn.tis_cap=0 --set run.checkpoint_every=1)
train 4 2 1 "$TMP/rw1" "${RT[@]}"
train 5 2 1 "$TMP/rw2" "${RT[@]}" --set cluster.reward_ranks=2 --set reward.tp=2
expect_contains "$OUT" "ranks 3-4 reward (1 groups of 2)"
train 7 2 1 "$TMP/rw2x2" "${RT[@]}" --set cluster.reward_ranks=4 --set reward.tp=2
expect_contains "$OUT" "ranks 3-6 reward (2 groups of 2)"
cmp "$TMP/rw2/samples.jsonl" "$TMP/rw2x2/samples.jsonl" || fail "reward.tp 2: two reward groups score otherwise than one"
same_weights "$TMP/rw2/checkpoint-3" "$TMP/rw2x2/checkpoint-3" || fail "reward.tp 2: two reward groups train otherwise than one"
python3 - "$TMP/rw1" "$TMP/rw2" <<'PY' || fail "reward.tp 2 against one whole reward rank"
import json, sys
a, b = ([json.loads(l) for l in open(f"{d}/samples.jsonl")] for d in sys.argv[1:3])
assert [x for x in a if x["step"] == 1] == [x for x in b if x["step"] == 1], "step 1 samples differ"
ma, mb = (json.loads(open(f"{d}/metrics.jsonl").readline()) for d in sys.argv[1:3])
for k in ("loss", "grad_norm"):
    assert abs(ma[k] - mb[k]) <= 1e-5 * max(1, abs(ma[k])), (k, ma[k], mb[k])
assert abs(ma["kl"]) < 1e-9 and abs(mb["kl"]) < 1e-6, (ma["kl"], mb["kl"])
print("reward.tp 2, step 1: KL %.3g (whole reference: %g), loss %.6f vs %.6f" % (mb["kl"], ma["kl"], mb["loss"], ma["loss"]))
PY
close_weights "$TMP/rw1/checkpoint-1" "$TMP/rw2/checkpoint-1" 0.04 || fail "reward.tp 2: the first step's weights"

# 5. refused layouts
run_expect_rc 1 timeout 60 "${MPIRUN[@]}" -np 5 "$CADA" train -c configs/smollm2-135m-cpu.ini "${ARGS[@]}" \
  --set cluster.learner_ranks=1 --set cluster.rollout_ranks=3 --set cluster.reward_ranks=1 --set rollout.tp=2 \
  --set run.out_dir="$TMP/bad"
expect_contains "$OUT" "cluster.rollout_ranks = 3 is not a multiple of rollout.tp = 2"
[ ! -e "$TMP/bad/metrics.jsonl" ] || fail "work started despite rollout.tp not dividing the rollout ranks"
run_expect_rc 1 timeout 60 "${MPIRUN[@]}" -np 5 "$CADA" train -c configs/smollm2-135m-cpu.ini "${ARGS[@]}" \
  --set cluster.learner_ranks=1 --set cluster.rollout_ranks=2 --set cluster.reward_ranks=2 --set reward.tp=2 \
  --set learn.kl_coef=0 --set run.out_dir="$TMP/bad_kl"
expect_contains "$OUT" "reward.tp = 2 splits the frozen reference model over reward ranks, but this run has no reference"
[ ! -e "$TMP/bad_kl/metrics.jsonl" ] || fail "work started with reward.tp = 2 and no reference"
