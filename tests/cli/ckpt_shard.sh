# Sharded checkpoints and `cada consolidate`. A 1-step run with 2 colocated learners on
# the tiny model (train_fixture.bash) must leave one weights file per learner,
# model-0000{1,2}-of-00002.safetensors, holding whole fp32 tensors, and an index that
# lists every tensor exactly once with the right total_size (checked in Python, and with
# transformers' own shard-index reader when it is installed: tests/py_deps.sh; it has no
# torch here, so it cannot load the weights themselves). Then consolidate: --dtype f32
# must equal the union of the shards bit for bit, bf16 (the default) must be each fp32
# value rounded to nearest even in its upper 16 bits, and cada must read the folder
# (inspect, generate). Refused, naming the file or folder: a missing shard, a truncated
# shard, an existing --out.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/train_fixture.bash"
cd "$ROOT"
export PYTHONPATH="${CADA_CACHE:-$ROOT/.cache}/python${PYTHONPATH:+:$PYTHONPATH}"
python3 -c "import numpy" 2>/dev/null || fail "numpy is missing (tests/py_deps.sh installs it into .cache/python)"
tiny_smol "$TMP/tiny"
read -r -a ARGS <<<"$(tiny_train_args "$TMP/tiny")"
run_expect_rc 0 timeout 120 "${MPIRUN[@]}" -np 2 "$CADA" train -c configs/smollm2-135m-cpu.ini "${ARGS[@]}" --set run.steps=1 \
  --set run.out_dir="$TMP/run"
ck="$TMP/run/checkpoint-1"
expect_contains "$OUT" "checkpoint $ck ("
[ ! -e "$ck/model.safetensors" ] || fail "2 learners wrote a single model.safetensors"

# the shards, the index, and the published order (config.json's tensors, as cada lists them)
cat > "$TMP/st.py" <<'PY'
import json, struct, sys
import numpy as np
def read(path):
    """{name: (dtype, shape, raw bytes)} in file order, with the format's own checks."""
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    body, out, end = data[8 + n:], {}, 0
    for name, t in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        b, e = t["data_offsets"]
        assert b == end, f"{path}: {name} does not follow the tensor before it"
        out[name] = (t["dtype"], tuple(t["shape"]), body[b:e])
        end = e
    assert end == len(body), f"{path}: {len(body) - end} bytes after the last tensor"
    return out
def array(entry):
    dtype, shape, raw = entry
    return np.frombuffer(raw, {"F32": np.uint32, "BF16": np.uint16}[dtype]).reshape(shape)
PY
python3 - "$ck" "$TMP" <<'PY' || fail "the sharded checkpoint is not what it should be"
import json, os, sys
sys.path.insert(0, sys.argv[2]); from st import read
ck = sys.argv[1]
index = json.load(open(f"{ck}/model.safetensors.index.json"))
assert set(index) == {"metadata", "weight_map"}, index.keys()
wm = index["weight_map"]
files = sorted(set(wm.values()))
assert files == ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"], files
seen, total, order = {}, 0, []
for f in files:
    shard = read(f"{ck}/{f}")
    assert shard, f"{f} is empty"
    for name, (dtype, shape, raw) in shard.items():
        assert name not in seen, f"{name} in {f} and {seen[name]}"
        seen[name] = f
        assert dtype == "F32", f"{f}: {name} is {dtype}"
        assert wm.get(name) == f, f"{name} is in {f}, the index says {wm.get(name)}"
        total += len(raw)
        order.append(name)
assert set(seen) == set(wm), set(wm) ^ set(seen)
assert index["metadata"]["total_size"] == total, (index["metadata"], total)
# contiguous groups in published order: the index lists tensors in that order
assert order == list(wm), "shards do not hold contiguous runs of the published order"
print(f"index: {len(wm)} tensors in 2 files, total_size {total}")
PY
set +e
TRANSFORMERS_VERBOSITY=error python3 - "$ck" <<'PY'
import sys
try:
    from transformers.utils.hub import get_checkpoint_shard_files
except ImportError:
    print("transformers not installed: its shard-index reader not run"); sys.exit(0)
ck = sys.argv[1]
files, meta = get_checkpoint_shard_files(ck, f"{ck}/model.safetensors.index.json")
assert [f.split("/")[-1] for f in files] == ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"], files
assert meta["total_size"] > 0 and len(meta["all_checkpoint_keys"]) == len(meta["weight_map"]), meta.keys()
print("transformers reads the index:", len(meta["weight_map"]), "tensors")
PY
rc=$?
set -e
[ "$rc" = 0 ] || fail "transformers' get_checkpoint_shard_files rejects the index"
if [ "${CI:-}" = true ]; then python3 -c "import transformers" 2>/dev/null || fail "CI needs transformers (tests/py_deps.sh)"; fi

# consolidate: f32 keeps the bits, bf16 (the default) rounds to nearest even
run_expect_rc 0 "$CADA" consolidate "$ck" --out "$TMP/f32" --dtype f32
expect_contains "$OUT" "in 2 files) -> $TMP/f32/model.safetensors (F32"
run_expect_rc 0 "$CADA" consolidate "$ck" --out "$TMP/bf16"
expect_contains "$OUT" "$TMP/bf16/model.safetensors (BF16" "config.json, tokenizer.json"
for f in config.json tokenizer.json tokenizer_config.json; do [ -s "$TMP/bf16/$f" ] || fail "consolidate did not write $f"; done
python3 - "$ck" "$TMP" <<'PY' || fail "consolidated weights differ from the shards"
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[2]); from st import read, array
ck, tmp = sys.argv[1], sys.argv[2]
wm = json.load(open(f"{ck}/model.safetensors.index.json"))["weight_map"]
shards = {}
for f in sorted(set(wm.values())): shards.update(read(f"{ck}/{f}"))
f32, bf16 = read(f"{tmp}/f32/model.safetensors"), read(f"{tmp}/bf16/model.safetensors")
assert list(f32) == list(wm) and list(bf16) == list(wm), "consolidated tensors or their order differ"
for name, entry in shards.items():
    assert f32[name] == entry, f"f32: {name} differs"
    x = array(entry)
    want = ((x + np.uint32(0x7FFF) + ((x >> 16) & 1)) >> 16).astype(np.uint16)  # round to nearest even
    assert bf16[name][0] == "BF16" and np.array_equal(array(bf16[name]), want), f"bf16: {name} is not fp32 rounded"
assert json.load(open(f"{tmp}/bf16/config.json"))["torch_dtype"] == "bfloat16"
assert json.load(open(f"{tmp}/f32/config.json"))["torch_dtype"] == "float32"
try:
    from safetensors.numpy import load_file
except ImportError:
    print("safetensors not installed: its reader not run"); sys.exit(0)
ref = load_file(f"{tmp}/f32/model.safetensors")
for f in sorted(set(wm.values())):
    for name, a in load_file(f"{ck}/{f}").items():
        assert a.dtype == np.float32 and np.array_equal(a.view(np.uint32), ref[name].view(np.uint32)), name
print("consolidated: f32 bit for bit, bf16 rounded to nearest even;", len(shards), "tensors")
PY
# cada reads the consolidated folder and the checkpoint itself
run_expect_rc 0 "$CADA" inspect "$TMP/bf16"
expect_contains "$OUT" "BF16: 20 tensors" "shards              1"
run_expect_rc 0 "$CADA" inspect "$ck"
expect_contains "$OUT" "F32: 20 tensors" "shards              2"
run_expect_rc 0 "$CADA" generate --model "$TMP/f32" --prompt "Hello" --max-tokens 4 --json
a="$(grep '^{' <<<"$OUT")"
run_expect_rc 0 "$CADA" generate --model "$ck" --prompt "Hello" --max-tokens 4 --json
[ -n "$a" ] && [ "$a" = "$(grep '^{' <<<"$OUT")" ] || fail "greedy text of the consolidated f32 folder and the sharded checkpoint differ:"$'\n'"$a"$'\n'"$OUT"

# refusals: an existing --out, a missing shard, a truncated shard
run_expect_rc 1 "$CADA" consolidate "$ck" --out "$TMP/f32" --dtype f32
expect_contains "$OUT" "--out $TMP/f32 exists and is not empty (--force"
run_expect_rc 0 "$CADA" consolidate "$ck" --out "$TMP/f32" --dtype f32 --force
run_expect_rc 2 "$CADA" consolidate "$ck" --out "$TMP/x" --dtype f16
cp -r "$ck" "$TMP/bad" && rm "$TMP/bad/model-00002-of-00002.safetensors"
run_expect_rc 1 "$CADA" consolidate "$TMP/bad" --out "$TMP/out_missing"
expect_contains "$OUT" "$TMP/bad/model-00002-of-00002.safetensors is missing"
[ ! -e "$TMP/out_missing" ] || fail "a refused consolidate created --out"
rm -rf "$TMP/bad" && cp -r "$ck" "$TMP/bad" && truncate -s 100000 "$TMP/bad/model-00001-of-00002.safetensors"
run_expect_rc 1 "$CADA" consolidate "$TMP/bad" --out "$TMP/out_trunc"
expect_contains "$OUT" "$TMP/bad/model-00001-of-00002.safetensors"
echo "ckpt_shard: ok"
