# Sourced by the CLI tests: paths and helpers. Each test script is one test: it exits
# non-zero (and says why) on the first failed expectation.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CADA="$ROOT/cada"
MODEL="${CADA_CACHE:-$ROOT/.cache}/models/SmolLM2-135M-Instruct.Q4_1.gguf"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
# expect_contains TEXT NEEDLE...: every needle occurs in TEXT
expect_contains() {
  local text="$1"; shift
  for needle in "$@"; do
    grep -qF -- "$needle" <<<"$text" || fail "expected '$needle' in output:"$'\n'"$text"
  done
}
# run_expect_rc RC CMD...: runs CMD, requires exit code RC, leaves output in $OUT
run_expect_rc() {
  local want="$1"; shift
  set +e
  OUT="$("$@" 2>&1)"
  local rc=$?
  set -e
  [ "$rc" -eq "$want" ] || fail "'$*' exited $rc, expected $want; output:"$'\n'"$OUT"
}
