# cada train with the LLM judge (reward/judge.h) scoring the rollouts, on the tiny model
# as both policy and judge (its verdicts are noise; the plumbing is what is tested):
#  1. colocated, 2 ranks, every judge score on and composed (detector = judge, comply =
#     strongreject, benign = helpful, judge_scores = all four): each rank opens the
#     judge once, metrics.jsonl has the judge's time and tokens and each score's mean,
#     the step line its time and tokens, every reward lies in [-1, 1];
#  2. disaggregated with 2 reward ranks (one rollout rank each) and with none (the
#     scheduler judges): the same samples, so the same judge tokens and mean P(refused)
#     as one judge would give: the reward ranks' counts reach the scheduler whole;
#  3. a judge without reward.judge_model, or with a model that is not there, is refused
#     naming the key.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/train_fixture.bash"
cd "$ROOT"
tiny_smol "$TMP/tiny"
read -r -a ARGS <<<"$(tiny_train_args "$TMP/tiny")"
ARGS+=(--set data.prompts_per_step=4 --set rollout.samples_per_prompt=2 --set rollout.max_new_tokens=8 --set run.steps=2
       --set reward.detector=judge --set reward.judge_model="$TMP/tiny" --set reward.judge_slots=4)
train() { # NP OUT_DIR [more --set ...]
  run_expect_rc 0 timeout 120 "${MPIRUN[@]}" -np "$1" "$CADA" train -c configs/smollm2-135m-cpu.ini "${ARGS[@]}" \
    --set run.out_dir="$2" "${@:3}"
}
check() { # OUT_DIR SCORES...: judge fields on every step, rewards in [-1, 1]
  python3 - "$@" <<'PY' || fail "metrics of $1"
import json, sys
d, scores = sys.argv[1], sys.argv[2:]
m = [json.loads(l) for l in open(f"{d}/metrics.jsonl")]
assert len(m) == 2, m
for x in m:
    assert x["judge_s"] > 0 and x["judge_cpu_s"] > 0, x
    assert x["judge_prompt_tokens"] > 8 * 20 and x["judge_tokens"] == x["judge_prompt_tokens"] + x["judge_gen_tokens"], x
    for s in scores:
        v = x[f"judge_{s}"]
        assert v is None or 0 <= v <= 1, (s, v)
    assert x["judge_refusal"] is not None, x  # P(refused) of every sequence
    assert -1 <= x["reward_mean"] <= 1 and x["reward_std"] <= 1, x
    for k in ("comply", "refuse", "judge", "help"):
        assert -1 <= x[f"reward_{k}"] <= 1, (k, x)
print(d, [(x["judge_s"], x["judge_tokens"], x["judge_refusal"]) for x in m])
PY
}

# 1. colocated, every score
train 2 "$TMP/c" --set cluster.placement=colocated --set cluster.rollout_ranks=0 --set cluster.reward_ranks=0 \
  --set cluster.learner_ranks=2 --set reward.comply=strongreject --set reward.benign=helpful \
  --set reward.judge_scores=refusal,strongreject,helpful,monitor
expect_contains "$OUT" "rank 0: judge $TMP/tiny loaded" "rank 1: judge $TMP/tiny loaded" "step 2/2" " judge_tokens "
check "$TMP/c" refusal strongreject helpful monitor
python3 - "$TMP/c" <<'PY' || fail "colocated: generated judge tokens"
import json, sys
m = [json.loads(l) for l in open(f"{sys.argv[1]}/metrics.jsonl")]
assert all(x["judge_gen_tokens"] > 0 for x in m), m  # the rubric and the helpfulness rating generate
PY

# 2. disaggregated: 2 reward ranks against the scheduler judging alone
DIS=(--set cluster.placement=disaggregated --set cluster.learner_ranks=1 --set cluster.rollout_ranks=2
     --set reward.judge_scores=monitor --set run.dump_samples=true)
train 5 "$TMP/q2" "${DIS[@]}" --set cluster.reward_ranks=2
expect_contains "$OUT" "rank 3: judge $TMP/tiny loaded" "rank 4: judge $TMP/tiny loaded" "step 2/2"
train 3 "$TMP/q0" "${DIS[@]}" --set cluster.reward_ranks=0
expect_contains "$OUT" "rank 0: judge $TMP/tiny loaded" "step 2/2"
for d in q2 q0; do check "$TMP/$d" refusal monitor; done
cmp "$TMP/q2/samples.jsonl" "$TMP/q0/samples.jsonl" || fail "2 reward ranks and none: samples differ"
python3 - "$TMP/q2" "$TMP/q0" <<'PY' || fail "the reward ranks' judge counts did not all reach the scheduler"
import json, sys
a, b = ([json.loads(l) for l in open(f"{d}/metrics.jsonl")] for d in sys.argv[1:])
for x, y in zip(a, b):
    assert x["judge_prompt_tokens"] == y["judge_prompt_tokens"] and x["judge_gen_tokens"] == y["judge_gen_tokens"], (x, y)
    assert abs(x["judge_refusal"] - y["judge_refusal"]) < 1e-5 and abs(x["judge_monitor"] - y["judge_monitor"]) < 1e-5, (x, y)
    assert x["reward_mean"] == y["reward_mean"], (x, y)
PY

# 3. no judge model, or a missing one
run_expect_rc 1 "$CADA" train -c configs/smollm2-135m-cpu.ini --set reward.detector=rule --set reward.judge_scores=monitor --check
expect_contains "$OUT" "reward.judge_scores needs a judge model: set reward.judge_model"
run_expect_rc 1 timeout 60 "${MPIRUN[@]}" -np 1 "$CADA" train -c configs/smollm2-135m-cpu.ini "${ARGS[@]}" \
  --set cluster.placement=colocated --set cluster.rollout_ranks=0 --set cluster.reward_ranks=0 --set cluster.learner_ranks=1 \
  --set reward.judge_model="$TMP/none" --set run.out_dir="$TMP/x"
expect_contains "$OUT" "rank 0: reward.judge_model" "$TMP/none"
echo "train_judge: ok"
