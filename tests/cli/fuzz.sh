# libFuzzer on every loader of outside input, each for a bounded time (FUZZ_SECONDS per
# target, default 12: about 2 minutes for all), under AddressSanitizer and UBSan:
# tests/fuzz/fuzz_NAME.c, built by `make fuzz` into build-fuzz/. Each starts from its
# seed corpus tests/fuzz/corpus/NAME/ (valid inputs and the regression inputs of crashes
# found and fixed), copied so that the run's finds stay out of the tree. A crash, a
# leak, UB, or an input over the time or memory limits fails the test and keeps the
# input (printed). FUZZ_TARGETS="a b" runs only those.
source "$(dirname "$0")/common.bash"
command -v clang >/dev/null || fail "clang is needed for the fuzzers (make deps installs it)"
cd "$ROOT"
make -s fuzz -j"$(nproc)" >"$TMP/build.log" 2>&1 || { tail -30 "$TMP/build.log"; fail "fuzzer build failed"; }
targets="${FUZZ_TARGETS:-$(ls tests/fuzz/fuzz_*.c | sed -E 's#.*/fuzz_(.*)\.c#\1#')}"
keep="${FUZZ_KEEP:-$TMP/crashes}"
export TMPDIR="$TMP" # the targets' input files (tests/fuzz/fuzz_file.h) go with the test's folder
mkdir -p "$keep"
for t in $targets; do
  bin="build-fuzz/fuzz_$t"
  [ -x "$bin" ] || fail "no fuzz target $bin"
  corpus="$TMP/corpus-$t"
  mkdir -p "$corpus"
  [ -d "tests/fuzz/corpus/$t" ] && cp tests/fuzz/corpus/"$t"/* "$corpus"/
  if [ "$t" = optimizer ]; then # its seed: the tiny learner's own valid shard
    FUZZ_WRITE_SEED="$corpus/valid" "$bin" -runs=1 >/dev/null 2>&1 || true
  fi
  log="$TMP/fuzz-$t.log"
  if ! ASAN_OPTIONS=detect_leaks=1 "$bin" -max_total_time="${FUZZ_SECONDS:-12}" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$keep/$t-" "$corpus" >"$log" 2>&1; then
    grep -E "ERROR|SUMMARY|runtime error|Test unit written" "$log" | head -20
    tail -40 "$log"
    fail "fuzz_$t found a crash (input kept in $keep)"
  fi
  runs=$(grep -oE "stat::number_of_executed_units: [0-9]+" "$log" | grep -oE "[0-9]+$" || echo "?")
  echo "fuzz_$t: $runs runs, no crash"
done
