# cada train, disaggregated placement (sched/disagg.c), on the tiny model under mpirun:
#  1. a learnable task (reward.detector = target_tokens: the share of completion tokens
#     with ids in 0-6143, an eighth of the vocabulary) with 5 ranks (2 learners, 2
#     rollout, 1 reward): the mean reward starts near 1/8 and passes 0.6 within 25 steps
#     at lr 2e-2 (the exact float path decides the step, and a CPU's BLAS kernels decide
#     the float path: at lr 5e-2 an Intel Xeon got there at step 9 to 11 and an AMD EPYC
#     not in 15 steps; at 2e-2 the EPYC reached 1.0 by step 14 to 20 with seeds 1234,
#     7 and 99);
#     every sample comes from the policy version of its step (synchronous on-policy);
#  2. the same run with 1 rollout rank, with 1 learner, with no reward rank (the
#     scheduler scores and computes the reference log-probs), and with ZeRO-3 learners
#     (also colocated: ZeRO-3 against ZeRO-1): the same samples (token
#     ids, rewards: out_dir/samples.jsonl) and the same weights after 3 steps, bit for
#     bit. Sampling streams are keyed by (seed, step, prompt id, sample), so a sample
#     does not depend on the rank that draws it; the learner uses learn.fixed_order, whose
#     reductions are bit-identical across learner counts when each learner's share of
#     micro-batches is a power of two (learn/learner.h), as it is here;
#  3. the bare conditioning (learn.condition) alike in both placements;
#  4. one-step-off asynchronous mode: staleness 1 from the second step, recorded, with
#     the samples' version lag and the engine/learner gap it opens (the log-prob gap and
#     the importance weights of learn.tis_cap's correction) in metrics.jsonl;
#  5. a layout that does not fit the world size is refused before any work.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/train_fixture.bash"
cd "$ROOT"
tiny_smol "$TMP/tiny"
read -r -a ARGS <<<"$(tiny_train_args "$TMP/tiny")"
ARGS+=("${DISAGG_TASK[@]}")
train() { # NP LEARNERS ROLLOUT REWARD OUT_DIR [more --set ...]
  run_expect_rc 0 timeout 100 "${MPIRUN[@]}" -np "$1" "$CADA" train -c configs/smollm2-135m-cpu.ini "${ARGS[@]}" \
    --set cluster.learner_ranks="$2" --set cluster.rollout_ranks="$3" --set cluster.reward_ranks="$4" --set run.out_dir="$5" "${@:6}"
}

train 5 2 2 1 "$TMP/a" --set run.steps=25
expect_contains "$OUT" "layout: 5 ranks, disaggregated: rank 0 scheduler + learner 0, rank 1 learner 1, ranks 2-3 rollout, rank 4 reward; synchronous on-policy" \
  "step 25/25" "checkpoint $TMP/a/checkpoint-25" \
  "update: reinforce, KL: k1 summed over the sequence, in the reward: the gradient of the sequence-level KL(pi || pi_ref), exact (learn.kl_coef 0.01), truncated importance sampling cap 2"
python3 - "$TMP/a" <<'PY' || fail "the reward did not rise, or the samples are off"
import json, sys
d = sys.argv[1]
m = [json.loads(l) for l in open(f"{d}/metrics.jsonl")]
r = [x["reward_mean"] for x in m]
print("reward per step:", " ".join(f"{x:.3f}" for x in r))
assert len(m) == 25 and r[0] < 0.3, r
assert max(r) > 0.6 and min(r[-2:]) > 0.6, f"mean reward did not pass 0.6 within 25 steps and stay there: {r}"
assert all(x["staleness"] == 0 and x["policy_version"] == x["step"] - 1 for x in m), m
for k in ("rollout_s", "reward_s", "reference_s", "learn_s", "sync_s", "overhead_s", "kl"):
    assert all(k in x for x in m), k
s = [json.loads(l) for l in open(f"{d}/samples.jsonl")]
assert len(s) == 25 * 16 and all(x["policy_version"] == x["step"] - 1 for x in s)
assert json.load(open(f"{d}/checkpoint-25/run_state.json"))["placement"] == "disaggregated"
PY
# the same samples and weights with other layouts (3 steps)
head -n 48 "$TMP/a/samples.jsonl" >"$TMP/a3.jsonl"
# (e: ZeRO-3, whose learners gather every layer before learner 0 sends the weights)
for layout in "4 2 1 1 b 1" "4 1 2 1 c 1" "3 2 1 0 d 1" "4 2 1 1 e 3"; do
  read -r np l r q name zero <<<"$layout"
  train "$np" "$l" "$r" "$q" "$TMP/$name" --set run.steps=3 --set learn.zero="$zero"
  cmp "$TMP/a3.jsonl" "$TMP/$name/samples.jsonl" || fail "layout $l/$r/$q zero $zero: samples differ from 2/2/1"
  same_weights "$TMP/a/checkpoint-3" "$TMP/$name/checkpoint-3" || fail "layout $l/$r/$q zero $zero: weights differ from 2/2/1"
done
# colocated, 2 ranks: ZeRO-3 (each rank gathers every layer before it rolls out) against
# ZeRO-1, the same weights bit for bit after 3 steps
for zero in 1 3; do
  run_expect_rc 0 timeout 100 "${MPIRUN[@]}" -np 2 "$CADA" train -c configs/smollm2-135m-cpu.ini "${ARGS[@]}" \
    --set cluster.placement=colocated --set cluster.learner_ranks=2 --set cluster.rollout_ranks=0 --set cluster.reward_ranks=0 \
    --set run.steps=3 --set learn.zero=$zero --set run.out_dir="$TMP/colo$zero"
done
cmp "$TMP/colo1/samples.jsonl" "$TMP/colo3/samples.jsonl" || fail "colocated ZeRO-3: samples differ from ZeRO-1"
same_weights "$TMP/colo1/checkpoint-3" "$TMP/colo3/checkpoint-3" || fail "colocated ZeRO-3: weights differ from ZeRO-1"
# learn.condition = bare (the default) with the case-augmented template: the scheduler
# sends the sampling prompt, the rollout ranks render the bare request the learners
# train on; the colocated ranks render both themselves. Both placements must give the
# same samples and weights, and the learner's log-probs must be those of another prompt.
B=(--set prompt.template=cada --set prompt.k=1 --set rollout.max_len=1024 --set learn.micro_batch_tokens=1024 --set run.steps=2)
train 4 2 1 1 "$TMP/bare_d" "${B[@]}"
run_expect_rc 0 timeout 100 "${MPIRUN[@]}" -np 2 "$CADA" train -c configs/smollm2-135m-cpu.ini "${ARGS[@]}" "${B[@]}" \
  --set cluster.placement=colocated --set cluster.learner_ranks=2 --set cluster.rollout_ranks=0 --set cluster.reward_ranks=0 \
  --set run.checkpoint_every=2 --set run.out_dir="$TMP/bare_c"
cmp "$TMP/bare_d/samples.jsonl" "$TMP/bare_c/samples.jsonl" || fail "bare conditioning: samples differ between placements"
same_weights "$TMP/bare_d/checkpoint-2" "$TMP/bare_c/checkpoint-2" || fail "bare conditioning: weights differ between placements"
python3 - "$TMP/bare_d/metrics.jsonl" <<'PY' || fail "bare conditioning: the learner scored the sampling prompt"
import json, sys
m = json.loads(open(sys.argv[1]).readline())
assert m["engine_lp_gap_max"] > 1e-2, m
PY
# one-step-off: step 1 samples with version 0, step s > 1 with version s - 2 (staleness 1)
train 4 1 2 1 "$TMP/async" --set run.steps=3 --set rollout.mode=async
expect_contains "$OUT" "one-step-off asynchronous" "step 3/3"
python3 - "$TMP/async" <<'PY' || fail "async staleness"
import json, sys
m = [json.loads(l) for l in open(f"{sys.argv[1]}/metrics.jsonl")]
assert [x["staleness"] for x in m] == [0, 1, 1] and [x["policy_version"] for x in m] == [0, 0, 1], m
assert [x["version_lag_mean"] for x in m] == [0, 1, 1] and [x["version_lag_max"] for x in m] == [0, 1, 1], m
for k in ("engine_lp_gap_mean", "engine_lp_gap_max", "is_weight_mean", "is_weight_min", "is_weight_max", "tis_truncated_frac",
          "kl", "kl_penalty"):
    assert all(isinstance(x.get(k), (int, float)) for x in m), k
gap = [x["engine_lp_gap_max"] for x in m]
print("engine/learner log-prob gap per step:", gap, "IS weights min/max:", [(x["is_weight_min"], x["is_weight_max"]) for x in m])
# step 1 is on-policy (the engine's numerics only); a step trained on the previous
# version's samples sees the last update in the gap and in weights away from 1
assert gap[0] < 1e-3 and min(gap[1:]) > 10 * gap[0], gap
assert all(x["is_weight_min"] <= x["is_weight_mean"] <= x["is_weight_max"] for x in m), m
assert all(abs(x["is_weight_max"] - 1) > 1e-3 or abs(x["is_weight_min"] - 1) > 1e-3 for x in m[1:]), m
s = [json.loads(l) for l in open(f"{sys.argv[1]}/samples.jsonl")]
assert all(x["policy_version"] == max(0, x["step"] - 2) for x in s)
PY
# the overlapped sync (cluster.sync_overlap, on by default in async mode): each rollout
# rank receives the next version into a second copy while it generates; with 2 learners
# each sends half of it. The same samples and weights as receiving after the rollout,
# bit for bit; every rollout rank reports each version it took while generating the next
# step (CADA_LOG=debug): versions 1 and 2 (after the last step nothing is generated).
CADA_LOG=debug train 5 2 2 1 "$TMP/async_overlap" --set run.steps=3 --set rollout.mode=async --set learn.zero=3 \
  --set run.checkpoint_every=3 --set cluster.weight_sync=fp32 --set cluster.sync_overlap=true
OVERLAP_LOG=$OUT
train 5 2 2 1 "$TMP/async_after" --set run.steps=3 --set rollout.mode=async --set learn.zero=3 --set run.checkpoint_every=3 \
  --set cluster.sync_overlap=false
cmp "$TMP/async_overlap/samples.jsonl" "$TMP/async_after/samples.jsonl" || fail "overlapped sync: samples differ"
same_weights "$TMP/async_overlap/checkpoint-3" "$TMP/async_after/checkpoint-3" || fail "overlapped sync: weights differ"
for r in 2 3; do
  for v in 1 2; do
    grep -q "rank $r: weights of version $v: [0-9]*% had landed when the rollout ended" <<<"$OVERLAP_LOG" ||
      fail "rollout rank $r did not take version $v through the overlapped sync"
  done
done
grep "had landed when the rollout ended" <<<"$OVERLAP_LOG" | sed 's/^.*rank/rank/'
# the rule reward on a reward rank: the completions cut off at 6 tokens are counted and
# recorded per sample, and every component reaches the scheduler (they sum to the mean)
train 4 1 2 1 "$TMP/rule" --set run.steps=1 --set reward.detector=rule
python3 - "$TMP/rule" <<'PY' || fail "rule reward through the reward rank"
import json, sys
m = json.loads(open(f"{sys.argv[1]}/metrics.jsonl").readline())
s = [json.loads(l) for l in open(f"{sys.argv[1]}/samples.jsonl")]
cut = sum(x["finish"] in ("length", "context") for x in s)
assert len(s) == 16 and cut > 0 and m["truncated"] == cut == sum(x["truncated"] for x in s), (m, cut)
assert all(x["reward"] == -1 for x in s if x["truncated"]), s
parts = sum(m["reward_" + k] for k in ("comply", "refuse", "judge", "help", "format", "truncated", "monitor"))
assert abs(parts - m["reward_mean"]) < 1e-4 and m["monitor_flag_rate"] == 0, (parts, m)
PY
# a layout that does not fit the world size
run_expect_rc 1 timeout 60 "${MPIRUN[@]}" -np 4 "$CADA" train -c configs/smollm2-135m-cpu.ini "${ARGS[@]}" \
  --set cluster.learner_ranks=2 --set cluster.rollout_ranks=2 --set cluster.reward_ranks=1 --set run.out_dir="$TMP/bad"
expect_contains "$OUT" "learner_ranks + rollout_ranks + reward_ranks = world size (4), have 2 + 2 + 1 = 5"
[ ! -e "$TMP/bad/metrics.jsonl" ] || fail "work started despite the bad layout"
