# Disk faults while a checkpoint is written, under mpirun with 2 colocated ranks and
# the tiny model: a full disk (ENOSPC: a tmpfs that holds one checkpoint, not two), a
# failing disk (EIO: an LD_PRELOAD shim, tests/faults/fail_write.c, fails rank 1's
# optimizer shard) and a read-only out_dir. Each run must stop on every rank (no hang:
# a timeout is a failure) with an error naming the file and errno's text, leave no
# checkpoint-N of the failed step, and leave the checkpoint before it intact: its
# manifest checks and a resume from it runs. Then what the manifest refuses: a changed,
# a truncated, a missing and an unlisted file, each named, nothing loaded.
# The tmpfs needs root (mount); without it those two cases are skipped, saying so.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/train_fixture.bash"
cd "$ROOT"
tiny_smol "$TMP/tiny"
read -r -a ARGS <<<"$(tiny_train_args "$TMP/tiny")"
train() { run_expect_rc "$1" timeout 60 "${MPIRUN[@]}" -np 2 "$CADA" train "${@:2}"; }
RUN=(-c configs/smollm2-135m-cpu.ini "${ARGS[@]}" --set run.checkpoint_every=1)
# resumes CKPT for one more step into $TMP/again: the checkpoint is whole
resumes() {
  rm -rf "$TMP/again"
  train 0 --resume "$1" --set run.steps=$(($2 + 1)) --set run.out_dir="$TMP/again"
  expect_contains "$OUT" "resumed from $1: step $2 of $(($2 + 1))" "checkpoint $TMP/again/checkpoint-$(($2 + 1))"
}

# EIO: rank 1's optimizer shard of step 2 fails after 4 KiB
gcc -shared -fPIC -O1 -o "$TMP/fail_write.so" tests/faults/fail_write.c -ldl || fail "fault shim build"
run_expect_rc 1 env LD_PRELOAD="$TMP/fail_write.so" CADA_FAULT_PATH=checkpoint-2.tmp/optimizer-rank-1.bin CADA_FAULT_AFTER=4096 \
  timeout 60 "${MPIRUN[@]}" -np 2 "$CADA" train "${RUN[@]}" --set run.steps=3 --set run.out_dir="$TMP/eio"
expect_contains "$OUT" "$TMP/eio/checkpoint-2.tmp/optimizer-rank-1.bin: write failed: Input/output error" "checkpoint-1"
[ ! -e "$TMP/eio/checkpoint-2" ] || fail "EIO: a checkpoint-2 folder is named complete"
resumes "$TMP/eio/checkpoint-1" 1

mounted=()
cleanup() { for m in "${mounted[@]}"; do umount "$m" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT
if mkdir -p "$TMP/full" && mount -t tmpfs -o size=60m tmpfs "$TMP/full" 2>/dev/null; then
  mounted+=("$TMP/full")
  # ENOSPC: checkpoint-1 (about 39 MB) fits, checkpoint-2 does not
  train 1 "${RUN[@]}" --set run.steps=3 --set run.out_dir="$TMP/full"
  expect_contains "$OUT" "checkpoint-2.tmp/" "No space left on device" "checkpoint $TMP/full/checkpoint-1"
  [ ! -e "$TMP/full/checkpoint-2" ] || fail "ENOSPC: a checkpoint-2 folder is named complete"
  resumes "$TMP/full/checkpoint-1" 1
  # a read-only out_dir: the run stops at its first file there, naming it
  mount -o remount,ro "$TMP/full" || fail "remount read-only"
  train 1 --resume "$TMP/full/checkpoint-1" --set run.steps=2
  expect_contains "$OUT" "$TMP/full/" "Read-only file system"
  resumes "$TMP/full/checkpoint-1" 1
else
  echo "disk_faults: mount -t tmpfs not permitted here; ENOSPC and read-only cases skipped"
fi

# the manifest: each of these is refused before anything is loaded, naming the file
train 0 "${RUN[@]}" --set run.steps=1 --set run.out_dir="$TMP/ok"
ck="$TMP/ok/checkpoint-1"
[ -s "$ck/manifest.json" ] || fail "checkpoint-1 has no manifest.json"
python3 - "$ck" <<'PY' || fail "manifest.json disagrees with hashlib"
import hashlib, json, os, sys
d = sys.argv[1]
m = json.load(open(f"{d}/manifest.json"))
names = sorted(os.listdir(d)); names.remove("manifest.json")
assert [f["name"] for f in m["files"]] == names, ([f["name"] for f in m["files"]], names)
for f in m["files"]:
    b = open(f"{d}/{f['name']}", "rb").read()
    assert len(b) == f["size"] and hashlib.sha256(b).hexdigest() == f["sha256"], f["name"]
PY
refused() { # refused WHAT NEEDLE: the damaged copy $TMP/bad is refused, naming the file
  train 1 --resume "$TMP/bad" --set run.steps=2 --set run.out_dir="$TMP/badrun"
  expect_contains "$OUT" "$2"
  ! grep -q "resumed from" <<<"$OUT" || fail "$1: resumed anyway"
}
damage() { rm -rf "$TMP/bad" && cp -r "$ck" "$TMP/bad"; }
damage && python3 -c "import sys; f=open(sys.argv[1],'r+b'); f.seek(100); b=f.read(1); f.seek(100); f.write(bytes([b[0]^1]))" "$TMP/bad/optimizer-rank-1.bin"
refused "one flipped bit" "$TMP/bad/optimizer-rank-1.bin: SHA-256 differs from manifest.json"
damage && sed -i 's/^\(lr *= *\).*/\19e-9/' "$TMP/bad/config.ini"
refused "an edited config.ini" "$TMP/bad/config.ini: "
damage && truncate -s 1000 "$TMP/bad/model-00001-of-00002.safetensors"
refused "a truncated weights file" "$TMP/bad/model-00001-of-00002.safetensors: 1000 bytes, manifest.json says"
damage && rm "$TMP/bad/run_state.json"
refused "a missing file" "$TMP/bad/run_state.json: listed in manifest.json but cannot be read"
damage && cp "$TMP/bad/optimizer-rank-1.bin" "$TMP/bad/optimizer-rank-2.bin"
refused "an unlisted file" "$TMP/bad/optimizer-rank-2.bin: not listed in manifest.json"
# a checkpoint from before manifests: accepted with a warning
damage && rm "$TMP/bad/manifest.json"
train 0 --resume "$TMP/bad" --set run.steps=2 --set run.out_dir="$TMP/badrun"
expect_contains "$OUT" "no manifest.json" "resumed from $TMP/bad: step 1 of 2"
echo "disk_faults ok"
