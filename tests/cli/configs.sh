# Every configuration in configs/ passes the run-config validation (`cada train --check`,
# which starts nothing), an unknown key is refused with its file and line, and
# `cada plan` gives each shipped configuration its verdict: the CPU default from the
# real SmolLM2 GGUF, the GPU ones from their model presets (no weights needed).
source "$(dirname "$0")/common.bash"
cd "$ROOT"
n=0
for f in configs/*.ini; do
  run_expect_rc 0 "$CADA" train -c "$f" --check
  expect_contains "$OUT" "configuration valid" "resolved: ranks="
  n=$((n + 1))
done
[ "$n" -ge 4 ] || fail "expected at least 4 configurations in configs/, found $n"

# the layout line the launchers read
run_expect_rc 0 "$CADA" train -c configs/llama3-70b-gpu.ini --check
expect_contains "$OUT" "resolved: ranks=32 placement=disaggregated learner_ranks=16 rollout_ranks=12 reward_ranks=4 threads_per_rank=8 out_dir=runs/llama3-70b-cada"
run_expect_rc 0 "$CADA" train -c configs/llama3-8b-gpu.ini --set cluster.learner_ranks=2 --check
expect_contains "$OUT" "resolved: ranks=2 placement=colocated"

# unknown keys and bad values are refused, naming the file and line
cp configs/llama3-8b-gpu.ini "$TMP/bad.ini"
printf '[learn]\nlearning_rate = 1e-5\n' >> "$TMP/bad.ini"
run_expect_rc 1 "$CADA" train -c "$TMP/bad.ini" --check
expect_contains "$OUT" "$TMP/bad.ini:" "unknown key 'learning_rate' in [learn]"
run_expect_rc 1 "$CADA" train -c configs/qwen2.5-7b-gpu.ini --set rollout.samples_per_prompt=1 --check
expect_contains "$OUT" "learn.algorithm = grpo needs rollout.samples_per_prompt >= 2"

# cada plan: the paper's 8B layout fits 80 GB only with recomputation; Qwen2.5-7B on 8
# GPUs fits; a 70B rank cannot hold the whole bf16 weights (141 GB)
run_expect_rc 0 "$CADA" plan -c configs/llama3-8b-gpu.ini --preset llama3-8b --gpu-mem 80
expect_contains "$OUT" "8.03 B parameters" "weights (bf16)                           14.96 GiB" \
  "AdamW m and v (shard)                    14.96 GiB" "fits in 80 GiB only with activation recomputation"
run_expect_rc 3 "$CADA" plan -c configs/llama3-8b-gpu.ini --preset llama3-8b --gpu-mem 40
expect_contains "$OUT" "does NOT fit in 40 GiB" "to fit (each with recomputation):" "plan: some roles do not fit"
run_expect_rc 0 "$CADA" plan -c configs/qwen2.5-7b-gpu.ini --preset qwen2.5-7b
expect_contains "$OUT" "7.62 B parameters" "QKV bias" "verdict: fits in 80 GiB"
run_expect_rc 3 "$CADA" plan -c configs/llama3-70b-gpu.ini --preset llama3-70b
expect_contains "$OUT" "learner: 16 ranks" "rollout: 12 ranks" "reward (holds the reference; rule detector): 4 ranks" \
  "weights (bf16)                          131.42 GiB" "no single change: the bf16 weights alone take 131.42 GiB"
# more memory per device or fewer slots: the suggestions are themselves plans that fit
run_expect_rc 3 "$CADA" plan -c configs/llama3-8b-gpu.ini --preset llama3-8b --set rollout.slots=16 --gpu-mem 80
slots=$(sed -nE 's/.*- rollout.slots = ([0-9]+) .*/\1/p' <<<"$OUT")
[ -n "$slots" ] || fail "no rollout.slots suggestion in:"$'\n'"$OUT"
run_expect_rc 0 "$CADA" plan -c configs/llama3-8b-gpu.ini --preset llama3-8b --set rollout.slots="$slots" --gpu-mem 80
# the CPU default, shape read from the real GGUF at model.path
if [ -f "$MODEL" ]; then
  run_expect_rc 0 "$CADA" plan -c configs/smollm2-135m-cpu.ini --set model.path="$MODEL" --gpu-mem 24
  expect_contains "$OUT" "(model.path)" "0.13 B parameters" "tied embeddings" "colocated rank (learner + rollout + reference): 2 ranks"
fi
# bad input
run_expect_rc 1 "$CADA" plan -c configs/llama3-8b-gpu.ini
expect_contains "$OUT" "model.path 'models/Meta-Llama-3-8B-Instruct'" "--preset"
run_expect_rc 2 "$CADA" plan -c configs/llama3-8b-gpu.ini --preset llama3-9b
expect_contains "$OUT" "unknown (known: llama3-8b, llama3-70b, qwen2.5-7b, smollm2-135m)"
run_expect_rc 2 "$CADA" plan -c configs/llama3-8b-gpu.ini --preset llama3-8b --gpu-mem -3
expect_contains "$OUT" "--gpu-mem '-3'"
