# libFuzzer on the frame/message parser for a bounded time (FUZZ_SECONDS, default 20),
# under AddressSanitizer and UBSan. Seeds: valid frames of every message kind are not
# needed; the magic and header are found by libFuzzer's comparison tracing.
source "$(dirname "$0")/common.bash"
command -v clang >/dev/null || fail "clang is needed for the fuzzer (make deps installs it)"
cd "$ROOT"
make -s build/gen/cada.pb-c.h >/dev/null
bin="$TMP/fuzz_wire"
clang -std=c11 -D_DEFAULT_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -Isrc -Ibuild/gen tests/fuzz/fuzz_wire.c src/sched/wire.c src/base/error.c src/base/log.c build/gen/cada.pb-c.c \
  $(pkg-config --libs libprotobuf-c libzstd) -o "$bin" || fail "fuzzer build failed"
mkdir -p "$TMP/corpus"
"$bin" -max_total_time="${FUZZ_SECONDS:-20}" -max_len=4096 -rss_limit_mb=1024 -print_final_stats=1 "$TMP/corpus" \
  > "$TMP/fuzz.log" 2>&1 || { tail -40 "$TMP/fuzz.log"; fail "the fuzzer found a crash"; }
grep -E "stat::number_of_executed_units|cov:.*DONE|DONE" "$TMP/fuzz.log" | tail -2
