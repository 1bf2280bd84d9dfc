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
# has_weights CKPT: a checkpoint's weights are all there (sched/checkpoint.h): one
# model.safetensors (one learner), or model.safetensors.index.json and every file it
# names, none empty (one per learner)
has_weights() {
  [ -s "$1/model.safetensors" ] && return 0
  [ -s "$1/model.safetensors.index.json" ] || return 1
  python3 - "$1" <<'PY'
import json, os, sys
d = sys.argv[1]
files = set(json.load(open(f"{d}/model.safetensors.index.json"))["weight_map"].values())
sys.exit(0 if files and all(os.path.isfile(f"{d}/{f}") and os.path.getsize(f"{d}/{f}") > 0 for f in files) else 1)
PY
}
# same_weights CKPT_A CKPT_B: the same fp32 weights bit for bit, whatever the learner
# counts that wrote them: their `cada consolidate --dtype f32` files are byte-identical
same_weights() {
  rm -rf "$TMP/.same_a" "$TMP/.same_b"
  "$CADA" consolidate "$1" --out "$TMP/.same_a" --dtype f32 >/dev/null || return 1
  "$CADA" consolidate "$2" --out "$TMP/.same_b" --dtype f32 >/dev/null || return 1
  cmp -s "$TMP/.same_a/model.safetensors" "$TMP/.same_b/model.safetensors"
}
# mpi_programs: the tests/mpi programs, built into build/mpi/, and MPIRUN to run them
# (root allowed, oversubscribed, one OpenMP thread per rank); exits 0 with SKIP when
# the build has no Open MPI
mpi_programs() {
  if ! command -v mpirun >/dev/null 2>&1 || ! mpicc --showme:compile >/dev/null 2>&1; then
    echo "SKIP: no Open MPI (mpirun, mpicc): the build is single-rank only"; exit 0
  fi
  bash "$ROOT/tests/mpi/build.sh"
  export OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  MPIRUN=(mpirun --allow-run-as-root --oversubscribe)
}
