# Sourced by the train_* tests (after common.bash): a tiny model that `cada train` runs in
# well under a second per step on 2 cores, and the mpirun command line.
#
# tiny_smol DIR: a 2-layer Llama (hidden 64, 4 heads, 2 KV heads, SwiGLU 128) with
# SmolLM2's tokenizer and vocabulary (49152 ids, tied embeddings; 3.2 M parameters) and
# fixed pseudo-random weights, as a Hugging Face folder. The tokenizer files come from
# `cada convert` of the SmolLM2 GGUF; the weights from a small generator (pure Python,
# deterministic), so every real code path of training runs on a model that costs
# almost nothing.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPIRUN=(mpirun --allow-run-as-root --oversubscribe)
tiny_smol() {
  local dir="$1"
  "$CADA" convert "$MODEL" "$dir" --dtype BF16 >/dev/null || fail "cada convert $MODEL"
  # TINY_SMOL_SHAPE: optional "C L H KV D I [bf16]" (tiny_smol_gpu); default: the 64-wide model in F32
  python3 - "$dir" ${TINY_SMOL_SHAPE:-} <<'PY' || fail "tiny model fixture"
import array, json, struct, sys
d = sys.argv[1]
cfg = json.load(open(f"{d}/config.json"))
C, L, H, KV, D, I = [int(x) for x in sys.argv[2:8]] if len(sys.argv) >= 8 else (64, 2, 4, 2, 16, 128)
bf16 = len(sys.argv) > 8 and sys.argv[8] == "bf16"
V = cfg["vocab_size"]
cfg.update(hidden_size=C, num_hidden_layers=L, num_attention_heads=H, num_key_value_heads=KV, head_dim=D,
           intermediate_size=I, max_position_embeddings=1024, torch_dtype="bfloat16" if bf16 else "float32", tie_word_embeddings=True)
shapes = [("model.embed_tokens.weight", (V, C))]
for l in range(L):
    p = f"model.layers.{l}."
    shapes += [(p + "input_layernorm.weight", (C,)), (p + "self_attn.q_proj.weight", (H * D, C)),
               (p + "self_attn.k_proj.weight", (KV * D, C)), (p + "self_attn.v_proj.weight", (KV * D, C)),
               (p + "self_attn.o_proj.weight", (C, H * D)), (p + "post_attention_layernorm.weight", (C,)),
               (p + "mlp.gate_proj.weight", (I, C)), (p + "mlp.up_proj.weight", (I, C)), (p + "mlp.down_proj.weight", (C, I))]
shapes.append(("model.norm.weight", (C,)))
state = 12345
def weights(n, norm):
    global state
    if norm:
        return array.array("f", [1.0] * n)
    out = array.array("f", bytes(4 * n))
    for i in range(n):  # xorshift: uniform in [-0.1, 0.1)
        state ^= (state << 13) & 0xFFFFFFFF; state ^= state >> 17; state ^= (state << 5) & 0xFFFFFFFF
        out[i] = (state / 2**32 - 0.5) * 0.2
    return out
header, blobs, at = {}, [], 0
for name, shape in shapes:
    n = 1
    for s in shape: n *= s
    w = weights(n, name.endswith("norm.weight"))
    if bf16:  # round to nearest even, keep the top 16 bits: exactly what a GPU's bf16 copy holds
        u = array.array("I", w.tobytes())
        w = array.array("H", [((x + 0x7FFF + ((x >> 16) & 1)) >> 16) & 0xFFFF for x in u])
    b = w.tobytes()
    header[name] = {"dtype": "BF16" if bf16 else "F32", "shape": list(shape), "data_offsets": [at, at + len(b)]}
    blobs.append(b); at += len(b)
h = json.dumps(header).encode(); h += b" " * (-len(h) % 8)
with open(f"{d}/model.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(h))); f.write(h)
    for b in blobs: f.write(b)
json.dump(cfg, open(f"{d}/config.json", "w"), indent=1)
PY
}
# tiny_smol_gpu DIR: the same generator at shapes the GPU kernels take (head dim 64,
# widths multiples of 8): hidden 128, 2 layers, 2 heads, 1 KV head, SwiGLU 256, weights
# stored in BF16 (so the GPU's bf16 weights are exactly the CPU's fp32 ones).
tiny_smol_gpu() { TINY_SMOL_SHAPE="128 2 2 1 64 256 bf16" tiny_smol "$1"; }
# The learnable task of the disaggregated tests (on top of tiny_train_args): the share of
# completion tokens with ids in 0-6143 as the reward, 4 prompts x 4 samples of 6 tokens,
# fixed-order reductions, samples dumped, a checkpoint every 3 steps.
DISAGG_TASK=(--set cluster.placement=disaggregated --set reward.detector=target_tokens --set reward.target_ids=0-6143
             --set data.prompts_per_step=4 --set rollout.samples_per_prompt=4 --set rollout.max_new_tokens=6
             --set learn.lr=2e-2 --set learn.fixed_order=true --set run.dump_samples=true --set run.checkpoint_every=3)
# The tiny run's settings: 2 prompts of the plain template per step, one sample each,
# 3 new tokens; the config's KL penalty stays on, so the reference model runs too. The
# engine reads the fp32 weights, so its log-probs are the learner's up to fp32 rounding
# (the tests that bound that gap rely on it; tests/cli/train_bf16.sh sets bf16).
tiny_train_args() {
  echo --set model.path="$1" --set prompt.template=plain --set data.prompts_per_step=2 \
    --set rollout.samples_per_prompt=1 --set rollout.max_new_tokens=3 --set rollout.max_len=128 --set rollout.weights=fp32 \
    --set learn.micro_batch_tokens=128 --set run.log_every=1
}
# close_weights CKPT_A CKPT_B BOUND: the weights of two checkpoints (every model*.safetensors,
# fp32) differ by at most BOUND, and fewer than 1% of them by more than 1e-5
close_weights() { # CKPT_A CKPT_B BOUND
  python3 - "$@" <<'PY'
import array, glob, json, struct, sys
def weights(d):
    w = {}
    for f in sorted(glob.glob(f"{d}/model*.safetensors")):
        b = open(f, "rb").read()
        n = struct.unpack("<Q", b[:8])[0]
        for k, v in json.loads(b[8:8 + n]).items():
            if k != "__metadata__":
                a = array.array("f")
                a.frombytes(b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]])
                w[k] = a
    return w
a, b = weights(sys.argv[1]), weights(sys.argv[2])
assert sorted(a) == sorted(b) and a, "different tensors"
d = [abs(x - y) for k in a for x, y in zip(a[k], b[k])]
worst, above = max(d), sum(x > 1e-5 for x in d)
print(f"weights: max |diff| {worst:.3g}, {above} of {len(d)} above 1e-5 (bound {sys.argv[3]})")
assert worst <= float(sys.argv[3]) and above < len(d) / 100
PY
}
