# cada train with tensor-parallel rollout engines (rollout.tp, disaggregated, CPU;
# sched/disagg.h, model/tp.h, sched/reshard.h) on the tiny model (4 heads, 2 KV heads:
# rollout.tp = 2) under mpirun:
#  1. with truncated importance sampling off (learn.tis_cap = 0, so the learner reads no
#     engine log-prob), two rollout ranks as two engines of one rank, as one engine of
#     two ranks, and four rollout ranks as two engines of two give the same samples
#     (token ids, rewards) and the same weights after 3 steps, bit for bit: sampling
#     streams are keyed by (seed, step, prompt id, sample), the engine's TP rounding
#     (~1e-6 on log-probs) does not move a token here, and the resharded weight sync
#     delivers the learner's fp32 weights exactly;
#  2. with the correction on (the default), the first step's samples are the same and
#     every step's engine log-probs match the learner's to float rounding
#     (engine_lp_gap_max < 1e-4, as for one-rank engines): each engine rank computes with
#     exactly its slice of the learner's weights after every sync. The runs then
#     diverge: the learner weighs each token by exp(learner - engine log-prob), the
#     engines' ~1e-6 differences change near-zero gradients' signs and Adam's first steps
#     move such parameters by ~lr (learn/learner.h), so the weights are not compared;
#  3. one-step-off asynchronous mode with TP engines, and --resume of a TP-engine run
#     (the resumed weights reach the engines through the resharded sync);
#  4. rollout.tp must divide the rollout ranks, and runs disaggregated on the CPU only.
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

# 1. TIS off: the same samples and weights
train 4 2 1 "$TMP/r2" --set learn.tis_cap=0
train 4 2 2 "$TMP/e1x2" --set learn.tis_cap=0
expect_contains "$OUT" "ranks 1-2 rollout (1 engines of 2)"
train 6 4 2 "$TMP/e2x2" --set learn.tis_cap=0
expect_contains "$OUT" "ranks 1-4 rollout (2 engines of 2)"
for d in e1x2 e2x2; do
  cmp "$TMP/r2/samples.jsonl" "$TMP/$d/samples.jsonl" || fail "$d: samples differ from one-rank engines"
  same_weights "$TMP/r2/checkpoint-3" "$TMP/$d/checkpoint-3" || fail "$d: weights differ from one-rank engines"
done
echo "rollout.tp = 2: samples and weights after 3 steps identical to one-rank engines (1 and 2 engines)"

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

# 3. async, and resume
train 4 2 2 "$TMP/async" --set rollout.mode=async
python3 - "$TMP/async" <<'PY' || fail "async with TP engines"
import json, sys
m = [json.loads(l) for l in open(f"{sys.argv[1]}/metrics.jsonl")]
assert [x["staleness"] for x in m] == [0, 1, 1] and [x["policy_version"] for x in m] == [0, 0, 1], m
PY
train 4 2 2 "$TMP/resumed" --set learn.tis_cap=0 --set run.steps=4 --resume "$TMP/e1x2/checkpoint-3"
python3 - "$TMP/resumed" <<'PY' || fail "resumed TP-engine run"
import json, sys
m = [json.loads(l) for l in open(f"{sys.argv[1]}/metrics.jsonl")]
assert [x["step"] for x in m] == [4] and m[0]["policy_version"] == 3 and m[0]["engine_lp_gap_max"] < 1e-4, m
PY

# 4. refused layouts
run_expect_rc 1 timeout 60 "${MPIRUN[@]}" -np 5 "$CADA" train -c configs/smollm2-135m-cpu.ini "${ARGS[@]}" \
  --set cluster.learner_ranks=1 --set cluster.rollout_ranks=3 --set cluster.reward_ranks=1 --set rollout.tp=2 \
  --set run.out_dir="$TMP/bad"
expect_contains "$OUT" "cluster.rollout_ranks = 3 is not a multiple of rollout.tp = 2"
[ ! -e "$TMP/bad/metrics.jsonl" ] || fail "work started despite rollout.tp not dividing the rollout ranks"
