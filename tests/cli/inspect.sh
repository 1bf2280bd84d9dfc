# cada inspect on the real GGUF and on a sharded Hugging Face folder.
source "$(dirname "$0")/common.bash"
run_expect_rc 0 "$CADA" inspect "$MODEL"
expect_contains "$OUT" "LlamaForCausalLM" "hidden_size         576" "num_hidden_layers   30" \
  "num_key_value_heads 3" "head_dim            64" "parameters          134515008" "tied_embeddings     yes" \
  "Q4_1: 210 tensors" "Q8_0: 1 tensors" "kv cache per token  23040 bytes bf16"
run_expect_rc 0 "$CADA" inspect "$ROOT/tests/ref/models/tiny_qwen2"
expect_contains "$OUT" "Qwen2ForCausalLM" "qkv_bias            yes" "tied_embeddings     no" "shards              3"
run_expect_rc 0 "$CADA" inspect "$ROOT/tests/ref/models/tiny_llama/config.json"
expect_contains "$OUT" "rope_scaling        llama3 (factor 8" "BF16:"
