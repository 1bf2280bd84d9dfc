# Chaos, short: tests/chaos/run.py injects 4 faults into each layout (colocated sync,
# disaggregated sync and one-step-off async; 8 steps, a checkpoint every step): SIGKILL
# of a rank, SIGSTOP of a rank (the job must end within cluster.timeout_seconds naming
# it), SIGTERM of a rank (checkpoint and exit 0), SIGKILL while a checkpoint is being
# written; after each it relaunches with --resume latest. The final weights, optimizer
# shards, run_state.json, metrics.jsonl (each step once, timing aside) and samples.jsonl
# must equal an uninterrupted run's byte for byte. The seed is printed; CHAOS_SEED=N repeats a run.
# About a minute and a half on 2 cores. The long version: tests/chaos/run.py --long --out DIR.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/train_fixture.bash"
cd "$ROOT"
tiny_smol "$TMP/tiny"
python3 tests/chaos/run.py --out "$TMP/chaos" --model "$TMP/tiny" --steps 8 --faults 4 ${CHAOS_SEED:+--seed "$CHAOS_SEED"} ||
  fail "chaos: see the lines above (the logs were in $TMP/chaos)"
