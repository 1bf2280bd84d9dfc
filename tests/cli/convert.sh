# cada convert GGUF -> Hugging Face folder; the result loads and computes the same
# log-probabilities as the GGUF it came from, and its tokenizer loads in transformers
# as the tokenizers library reads the exported tokenizer.json.
source "$(dirname "$0")/common.bash"
run_expect_rc 0 "$CADA" convert "$MODEL" "$TMP/hf"
[ -s "$TMP/hf/config.json" ] && [ -s "$TMP/hf/model.safetensors" ] || fail "convert wrote no files"
python3 - "$TMP/hf/config.json" <<'PY' || fail "config.json is not what transformers expects"
import json, sys
c = json.load(open(sys.argv[1]))
assert c["architectures"] == ["LlamaForCausalLM"] and c["model_type"] == "llama"
assert (c["hidden_size"], c["num_hidden_layers"], c["num_key_value_heads"], c["head_dim"]) == (576, 30, 3, 64)
assert c["tie_word_embeddings"] is True and c["rms_norm_eps"] == 1e-05 and c["rope_theta"] == 100000
PY
ids=504,3575,282,4649,314,7042,28,284,260,3575,282,4521,314
run_expect_rc 0 "$CADA" forward --model "$MODEL" --ids $ids
from_gguf=$(grep -E '^ +[0-9]+ ' <<<"$OUT")
run_expect_rc 0 "$CADA" forward --model "$TMP/hf" --ids $ids
from_hf=$(grep -E '^ +[0-9]+ ' <<<"$OUT")
[ "$from_gguf" = "$from_hf" ] || fail "log-probs differ between the GGUF and its conversion"
# bf16 output: half the bytes, loads again
run_expect_rc 0 "$CADA" convert "$MODEL" "$TMP/hf16" --dtype BF16
run_expect_rc 0 "$CADA" inspect "$TMP/hf16"
expect_contains "$OUT" "BF16: 272 tensors" "published dtype     bfloat16"
# the GGUF's tokenizer travels with the model
[ -s "$TMP/hf/tokenizer.json" ] && [ -s "$TMP/hf/tokenizer_config.json" ] || fail "convert wrote no tokenizer files"
# transformers' AutoTokenizer uses tokenizer.json as written (a model class such as
# GPT2Tokenizer would rebuild it without SmolLM2's Digits pre-tokenizer): the generic
# class, then tests/ref/check_tokenizer_export.py compares AutoTokenizer with the
# tokenizers library on the file (packages from tests/py_deps.sh in .cache/python;
# required under CI=true, skipped with a note elsewhere when absent).
python3 - "$TMP/hf/tokenizer_config.json" <<'PY' || fail "tokenizer_config.json names a class that rebuilds tokenizer.json"
import json, sys
c = json.load(open(sys.argv[1]))
assert c["tokenizer_class"] == "PreTrainedTokenizerFast", c["tokenizer_class"]
PY
export PYTHONPATH="${CADA_CACHE:-$ROOT/.cache}/python${PYTHONPATH:+:$PYTHONPATH}"
require=()
[ "${CI:-}" = true ] && require=(--require-transformers)
run_expect_rc 0 python3 "$ROOT/tests/ref/check_tokenizer_export.py" "$TMP/hf" "${require[@]}"
echo "$OUT"
run_expect_rc 0 "$CADA" generate --model "$TMP/hf" --chat --prompt "What is the capital of France?" --max-tokens 12
expect_contains "$OUT" "Paris"
run_expect_rc 0 "$CADA" generate --model "$TMP/hf/config.json" --chat --prompt "What is the capital of France?" --max-tokens 12
expect_contains "$OUT" "Paris"
