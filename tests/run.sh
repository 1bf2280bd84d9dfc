#!/usr/bin/env bash
# Runs every test: the unit-test binary (its tests one by one) and each script in
# tests/cli/ (one test each, pass = exit 0). Prints "tests: N passed, N failed" last and
# exits non-zero when anything failed.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
unit_bin="${1:-build/cada_test}"
export CADA_ROOT="$root"
# One BLAS thread pool and one OpenMP pool sized to the machine; never more threads
# than cores (OPENBLAS_CORETYPE is left as the machine sets it).
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(nproc)}"
# Sleeping waits: test programs share the cores with each other (see src/main.c).
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"

passed=0; failed=0
log=$(mktemp)
"$unit_bin" 2>&1 | tee "$log"
line=$(grep -E '^unit: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
if [ -n "$line" ]; then
  p=$(sed -E 's/^unit: ([0-9]+) passed.*/\1/' <<<"$line"); f=$(sed -E 's/.* ([0-9]+) failed$/\1/' <<<"$line")
  passed=$((passed + p)); failed=$((failed + f))
else
  echo "unit-test binary ended without its summary line (crashed?)"; failed=$((failed + 1))
fi
rm -f "$log"

for t in tests/cli/*.sh; do
  [ -e "$t" ] || continue
  name=$(basename "$t" .sh)
  out=$(mktemp)
  if bash "$t" >"$out" 2>&1; then
    echo "  cli/$name ok"; passed=$((passed + 1))
  else
    echo "  cli/$name FAIL"; sed 's/^/    | /' "$out" | tail -40; failed=$((failed + 1))
  fi
  rm -f "$out"
done
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
