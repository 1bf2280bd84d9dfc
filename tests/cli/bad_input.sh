# Bad input through the command line: a clear message naming the file, exit code 1
# (2 for usage errors), never a crash.
source "$(dirname "$0")/common.bash"
head -c 100000 "$MODEL" > "$TMP/truncated.gguf"
run_expect_rc 1 "$CADA" inspect "$TMP/truncated.gguf"
expect_contains "$OUT" "truncated.gguf"
run_expect_rc 1 "$CADA" convert "$TMP/truncated.gguf" "$TMP/out"
expect_contains "$OUT" "truncated.gguf"
[ ! -e "$TMP/out/model.safetensors" ] || fail "a failed convert left a model file"
run_expect_rc 1 "$CADA" inspect "$TMP/does-not-exist.gguf"
expect_contains "$OUT" "does-not-exist.gguf"
mkdir -p "$TMP/empty"
run_expect_rc 1 "$CADA" inspect "$TMP/empty"
expect_contains "$OUT" "config.json"
printf 'GGUF\x03\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x00' > "$TMP/absurd.gguf"
run_expect_rc 1 "$CADA" inspect "$TMP/absurd.gguf"
expect_contains "$OUT" "absurd.gguf"
run_expect_rc 2 "$CADA" convert "$MODEL"
run_expect_rc 2 "$CADA" bench nonsense
run_expect_rc 2 "$CADA" frobnicate
run_expect_rc 1 "$CADA" forward --model "$MODEL" --ids 1,2,99999999
expect_contains "$OUT" "99999999" "outside"
