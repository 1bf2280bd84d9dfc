# cada generate on the real SmolLM2: greedy chat answer, JSON output with log-probs,
# seeded sampling that repeats, stop strings, and bad requests.
source "$(dirname "$0")/common.bash"
run_expect_rc 0 "$CADA" generate --model "$MODEL" --chat --prompt "What is the capital of France?" --max-tokens 20
expect_contains "$OUT" "The capital of France is Paris." "finish eos"
run_expect_rc 0 "$CADA" generate --model "$MODEL" --chat --prompt "Write a haiku about autumn." --temperature 0.9 \
  --top-p 0.9 --seed 11 -n 2 --max-tokens 12 --json
json1="$(grep '^{' <<<"$OUT")"
python3 - <<PY || fail "--json output is not one JSON object per sample with tokens, log-probs and text"
import json
rows = [json.loads(l) for l in '''$json1'''.splitlines()]
assert [r["sample"] for r in rows] == [0, 1]
for r in rows:
    assert len(r["tokens"]) == len(r["logprobs"]) > 0 and all(lp <= 0 for lp in r["logprobs"])
    assert isinstance(r["text"], str) and r["finish"] in ("eos", "length", "stop")
assert rows[0]["tokens"] != rows[1]["tokens"], "two samples should differ"
PY
run_expect_rc 0 "$CADA" generate --model "$MODEL" --chat --prompt "Write a haiku about autumn." --temperature 0.9 \
  --top-p 0.9 --seed 11 -n 2 --max-tokens 12 --json
[ "$(grep '^{' <<<"$OUT")" = "$json1" ] || fail "the same seed must give the same samples"
run_expect_rc 0 "$CADA" generate --model "$MODEL" --chat --prompt "Count from 1 to 20, separated by commas." \
  --max-tokens 60 --stop "4. 4" --json
python3 -c "
import json,sys
r=json.loads([l for l in sys.stdin.read().splitlines() if l.startswith('{')][0])
assert r['finish']=='stop' and r['text'].endswith('4. 4'), r
" <<<"$OUT" || fail "--stop did not end the text at the stop string: $OUT"
run_expect_rc 2 "$CADA" generate --model "$MODEL"
run_expect_rc 1 "$CADA" generate --model "$MODEL" --chat --prompt "a long question" --max-len 8
expect_contains "$OUT" "context limit"
