#!/usr/bin/env python3
"""Golden files for src/learn: every algorithm's loss and d loss / d logprob, AdamW,
token entropy, and one end-to-end GRPO gradient through the tiny Qwen2 model.

Run from the repository root:  python3 tests/ref/make_learn_golden.py
Needs torch (and transformers 5.x for the end-to-end file; see tests/ref/README.md).
Deterministic (fixed seeds). Writes tests/ref/golden/learn_*.gold in the format of
make_golden.py (whose writer, packing and float64 helpers are imported, not copied).

The formulas here are written from the papers, independently of the C code, in
float64 with torch autograd: the per-token log-probs are LEAF tensors, the loss is built
from them and .backward() gives d loss / d logprob. Inputs are rounded to float32
before use, so the C side sees exactly the values the reference used.

Files (all tensors f32 unless noted, S sequences, n_lp log-prob slots):
  learn_<case>.gold for the RL cases reinforce, reinforce_tis, grpo, grpo_seq, rloo,
  ppo, sft, dpo:
    cfg.*            scalars of the configuration (i32 enums, f32 numbers; see CASES)
    lens, lp_index, group, chosen (i32, S); reward (S)
    logprob, rollout_logprob, old_logprob, ref_logprob (n_lp; a sequence's tokens at
    lp_index[s] .. lp_index[s] + lens[s] - 1; gaps between sequences hold 0 and must
    get dlogprob 0); has_old, has_ref (i32, 1)
    baseline_value, baseline_updates (REINFORCE: the state before the step)
    adv (S), baseline_next (1), loss (1), dlogprob (n_lp), kl_mean (1): mean over tokens
    of k3(logprob, ref) (when ref given), clip_frac (1): PPO tokens whose clipped term
    was the minimum
  learn_entropy.gold: logits (N, V), lse (N), mask (i32 N), entropy (N)
  learn_adamw.gold, learn_adamw_linear.gold: cfg.*, params0 (P), grads (K, P),
    params (K, P) after each of K steps, exp_avg, exp_avg_sq (P) after the last
  learn_grpo_tiny_qwen2.gold: GRPO through tests/ref/models/tiny_qwen2 in float64:
    seq_tokens (i32, total), seq_prompt_len, seq_completion_len, group (i32, S), reward,
    rollout_logprob, ref_logprob (flat over completion tokens, sequence by sequence),
    T (i32), tokens, positions, targets (i32, (B, T): the packing cada_pack must
    produce), lp_index (i32, S), logprob (B*T), entropy (B*T, 0 off completions), loss,
    dlogprob (B*T), grad.<HF parameter name> for every parameter.
"""
import math
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_golden import (GOLDEN_DIR, MODELS_DIR, float64_exact, per_document_logits, read_golden,  # noqa: E402
                         write_golden)

F64 = torch.float64

# enums, as in src/learn/*.h
ALGO = {"reinforce": 0, "grpo": 1, "rloo": 2, "ppo": 3, "sft": 4, "dpo": 5}
ADV = {"running_mean": 0, "group": 1, "leave_one_out": 2, "batch_mean": 3, "raw": 4}
PG = {"vanilla": 0, "ppo_clip": 1}
AGG = {"token_mean": 0, "seq_mean_token_mean": 1, "seq_mean_token_sum": 2}
KLP = {"off": 0, "reward": 1, "loss": 2}


def f32(x):
    """The float32 value of x, as a Python float (what the C side reads)."""
    return float(np.float32(x))


# ---- the formulas ------------------------------------------------------------------------

def kl_est(k, lp, ref):
    """Schulman 2020: r = p_ref / p, log r = ref - lp; k1 = -log r, k2 = (log r)^2 / 2,
    k3 = (r - 1) - log r."""
    log_r = ref - lp
    if k == 1:
        return -log_r
    if k == 2:
        return 0.5 * log_r ** 2
    if k == 3:
        return (torch.exp(log_r) - 1) - log_r
    raise ValueError(k)


def advantages(cfg, seqs, baseline):
    """Per-sequence advantages (float64) of the task rewards and the baseline after the step."""
    r = np.array([s["reward"] for s in seqs], dtype=np.float64)  # task rewards: KL in the reward acts in the loss
    kind = cfg["adv"]
    b_next = None
    if kind == ADV["running_mean"]:
        b, updates = baseline
        adv = r - b
        updates += 1
        beta = cfg["baseline_beta"] if cfg["baseline_beta"] > 0 else 1.0 / updates
        b_next = b + beta * (r.mean() - b)
    elif kind in (ADV["group"], ADV["leave_one_out"]):
        adv = np.zeros_like(r)
        groups = {}
        for i, s in enumerate(seqs):
            groups.setdefault(s["group"], []).append(i)
        for members in groups.values():
            k = len(members)
            if k == 1:
                continue
            g = r[members]
            if kind == ADV["group"]:
                a = g - g.mean()
                if cfg["group_std"]:
                    a = a / (torch.tensor(g).std().item() + cfg["std_eps"])  # unbiased, as torch.std
            else:
                a = g - (g.sum() - g) / (k - 1)
            adv[members] = a
    elif kind == ADV["batch_mean"]:
        adv = r - r.mean()
    else:
        adv = r
    return adv, b_next


def pg_loss(cfg, seqs, adv, lp_leaves, norm_tokens, norm_seqs):
    """The policy-gradient loss of policy_loss.h, written from the papers."""
    total = torch.zeros((), dtype=F64)
    kl_sum, kl_n, clipped, n_tok = 0.0, 0, 0, 0
    for s, a, lp in zip(seqs, adv, lp_leaves):
        if s["len"] == 0:
            continue
        ro = s["rollout"]
        if cfg["kl_place"] == KLP["reward"]:
            # the sequence's KL from the learner's log-probs, a constant shift of its advantage
            a = a - cfg["kl_coef"] * float(kl_est(cfg["kl_est"], lp.detach(), s["ref"]).sum())
        ppo = cfg["pg"] == PG["ppo_clip"]
        # pi_old: the given old log-probs (PPO), else the learner's own, detached
        old = s["old"] if ppo and s["old"] is not None else lp.detach()
        # truncated importance sampling against the engine's log-probs (Yao et al. 2025)
        w = torch.clamp(torch.exp(old - ro), max=cfg["tis_cap"]) if cfg["tis_cap"] > 0 else torch.ones_like(ro)
        if ppo:
            ratio = torch.exp(lp - old)
            clipped_ratio = torch.clamp(ratio, 1 - cfg["clip_low"], 1 + cfg["clip_high"])
            l = -w * torch.minimum(ratio * a, clipped_ratio * a)
            clipped += int(((ratio * a) > (clipped_ratio * a)).sum())
        else:
            l = -w * a * lp
        if s["ref"] is not None:
            kl_sum += float(kl_est(3, lp.detach(), s["ref"]).sum())  # the KL value reported: k3 per token
            kl_n += s["len"]
            if cfg["kl_place"] == KLP["loss"]:
                l = l + cfg["kl_coef"] * kl_est(cfg["kl_est"], lp, s["ref"])
        if cfg["agg"] == AGG["token_mean"]:
            total = total + l.sum() / norm_tokens
        elif cfg["agg"] == AGG["seq_mean_token_mean"]:
            total = total + l.mean() / norm_seqs
        else:
            total = total + l.sum() / norm_seqs
        n_tok += s["len"]
    return total, (kl_sum / kl_n if kl_n else 0.0), clipped / max(n_tok, 1)


def sft_loss(seqs, lp_leaves, norm_tokens):
    return -sum(lp.sum() for s, lp in zip(seqs, lp_leaves) if s["len"] > 0) / norm_tokens


def dpo_loss(beta, seqs, lp_leaves):
    """Rafailov et al. 2023, eq. 7, mean over pairs; sequence log-probs are sums."""
    pairs = {}
    for i, s in enumerate(seqs):
        pairs.setdefault(s["group"], {})["c" if s["chosen"] else "r"] = i
    total = torch.zeros((), dtype=F64)
    for p in pairs.values():
        c, r = p["c"], p["r"]
        pi_c, pi_r = lp_leaves[c].sum(), lp_leaves[r].sum()
        ref_c, ref_r = seqs[c]["ref"].sum(), seqs[r]["ref"].sum()
        z = beta * ((pi_c - ref_c) - (pi_r - ref_r))
        total = total - torch.nn.functional.logsigmoid(z)
    return total / len(pairs)


# ---- the RL cases ------------------------------------------------------------------------------

CASES = {
    # the paper's update: running-mean baseline, KL (k1, the sequence's sum) in the reward at 0.01
    "reinforce": dict(algo="reinforce", adv="running_mean", baseline_beta=0.1, baseline=(0.25, 4),
                      pg="vanilla", agg="seq_mean_token_sum", kl_place="reward", kl_est=1, kl_coef=0.01,
                      tis_cap=0.0, old=False, ref=True),
    "reinforce_tis": dict(algo="reinforce", adv="running_mean", baseline_beta=0.0, baseline=(-0.1, 3),
                          pg="vanilla", agg="token_mean", kl_place="off", kl_est=3, kl_coef=0.01,
                          tis_cap=1.1, old=False, ref=False),
    "grpo": dict(algo="grpo", adv="group", group_std=1, pg="ppo_clip", clip_low=0.2, clip_high=0.28,
                 agg="token_mean", kl_place="loss", kl_est=3, kl_coef=0.04, tis_cap=1.1, old=False, ref=True),
    "grpo_seq": dict(algo="grpo", adv="group", group_std=0, pg="ppo_clip", clip_low=0.2, clip_high=0.2,
                     agg="seq_mean_token_mean", kl_place="reward", kl_est=2, kl_coef=0.05, tis_cap=1.05,
                     old=True, ref=True),
    "rloo": dict(algo="rloo", adv="leave_one_out", pg="vanilla", agg="seq_mean_token_sum", kl_place="loss",
                 kl_est=2, kl_coef=0.02, tis_cap=0.0, old=False, ref=True),
    "ppo": dict(algo="ppo", adv="batch_mean", pg="ppo_clip", clip_low=0.1, clip_high=0.15, agg="token_mean",
                kl_place="reward", kl_est=1, kl_coef=0.03, tis_cap=1.02, old=True, ref=True),
    "sft": dict(algo="sft", adv="raw", pg="vanilla", agg="token_mean", kl_place="off", kl_est=3, kl_coef=0.0,
                tis_cap=0.0, old=False, ref=False),
    "dpo": dict(algo="dpo", adv="raw", pg="vanilla", agg="token_mean", kl_place="off", kl_est=3, kl_coef=0.0,
                tis_cap=0.0, old=False, ref=True, dpo_beta=0.1),
}


def make_batch(name, spec, seed):
    """Random sequences: groups of 4, 3, 2 and 1 (or DPO pairs), completion lengths
    0..7, log-probs in [log 0.05, log 0.95], rollout/old/ref perturbed around them."""
    g = np.random.default_rng(seed)
    if spec["algo"] == "dpo":
        groups = [0, 0, 1, 1, 2, 2]
        chosen = [1, 0, 0, 1, 1, 0]
        lens = [5, 3, 4, 6, 2, 7]
    else:
        groups = [7, 7, 7, 7, 3, 3, 3, 9, 9, 5]
        chosen = [0] * len(groups)
        lens = [3, 5, 1, 7, 4, 0, 6, 2, 5, 3]
    S = len(groups)
    rewards = g.choice([-1.0, 0.0, 0.5, 1.0], size=S) + 0.1 * g.standard_normal(S)
    lp_index, at = [], 1  # slot 0 and a slot between sequences stay empty
    for n in lens:
        lp_index.append(at)
        at += n + 1
    n_lp = at
    lp_flat = np.zeros(n_lp); ro_flat = np.zeros(n_lp); old_flat = np.zeros(n_lp); ref_flat = np.zeros(n_lp)
    seqs = []
    for i in range(S):
        n = lens[i]
        lp = np.log(g.uniform(0.05, 0.95, n))
        ro = np.minimum(lp + 0.15 * g.standard_normal(n), -1e-3)
        old = np.minimum(lp + 0.08 * g.standard_normal(n), -1e-3)
        ref = np.minimum(lp + 0.3 * g.standard_normal(n), -1e-3)
        sl = slice(lp_index[i], lp_index[i] + n)
        lp_flat[sl], ro_flat[sl], old_flat[sl], ref_flat[sl] = lp, ro, old, ref
    # the C side reads float32: use exactly those values
    lp_flat, ro_flat, old_flat, ref_flat = (np.float32(a).astype(np.float64) for a in (lp_flat, ro_flat, old_flat, ref_flat))
    rewards = np.float32(rewards).astype(np.float64)
    for i in range(S):
        sl = slice(lp_index[i], lp_index[i] + lens[i])
        seqs.append(dict(len=lens[i], group=groups[i], chosen=chosen[i], reward=float(rewards[i]),
                         rollout=torch.tensor(ro_flat[sl], dtype=F64),
                         old=torch.tensor(old_flat[sl], dtype=F64) if spec["old"] else None,
                         ref=torch.tensor(ref_flat[sl], dtype=F64) if spec["ref"] else None))
    return seqs, lens, lp_index, groups, chosen, rewards, lp_flat, ro_flat, old_flat, ref_flat, n_lp


def config_of(spec):
    """The configuration as the C side will read it (numbers rounded to float32)."""
    return dict(
        algo=ALGO[spec["algo"]], adv=ADV[spec["adv"]], pg=PG[spec["pg"]], agg=AGG[spec["agg"]],
        kl_place=KLP[spec["kl_place"]], kl_est=spec["kl_est"], kl_coef=f32(spec["kl_coef"]),
        group_std=spec.get("group_std", 1), std_eps=f32(1e-6), baseline_beta=f32(spec.get("baseline_beta", 0.1)),
        clip_low=f32(spec.get("clip_low", 0.2)), clip_high=f32(spec.get("clip_high", 0.2)),
        tis_cap=f32(spec["tis_cap"]), dpo_beta=f32(spec.get("dpo_beta", 0.1)))


def check_margins(cfg, seqs, lp_leaves, adv):
    """No clip or truncation decision may sit at its threshold (fp rounding could flip it)."""
    for s, lp in zip(seqs, lp_leaves):
        if s["len"] == 0:
            continue
        ppo = cfg["pg"] == PG["ppo_clip"]
        old = s["old"] if ppo and s["old"] is not None else lp.detach()
        ratio = torch.exp(lp.detach() - old)
        if ppo and s["old"] is not None:
            for b in (1 - cfg["clip_low"], 1 + cfg["clip_high"]):
                assert (ratio - b).abs().min() > 1e-5, "ratio at a clip bound"
        if cfg["tis_cap"] > 0:
            w = torch.exp(old - s["rollout"])
            assert (w - cfg["tis_cap"]).abs().min() > 1e-5, "IS weight at the cap"


def make_rl_case(name, spec, seed, summary):
    (seqs, lens, lp_index, groups, chosen, rewards, lp_flat, ro_flat, old_flat, ref_flat, n_lp) = make_batch(name, spec, seed)
    cfg = config_of(spec)
    lp_all = torch.tensor(lp_flat, dtype=F64, requires_grad=True)
    lp_leaves = [lp_all[lp_index[i]:lp_index[i] + lens[i]] for i in range(len(seqs))]
    norm_tokens = float(sum(lens))
    norm_seqs = float(sum(1 for n in lens if n > 0))
    baseline = spec.get("baseline", (0.0, 0))
    kl_mean, clip_frac, b_next = 0.0, 0.0, baseline[0]
    if spec["algo"] == "sft":
        adv = np.zeros(len(seqs))
        loss = sft_loss(seqs, lp_leaves, norm_tokens)
    elif spec["algo"] == "dpo":
        adv = np.zeros(len(seqs))
        loss = dpo_loss(cfg["dpo_beta"], seqs, lp_leaves)
    else:
        adv, bn = advantages(cfg, seqs, baseline)
        if bn is not None:
            b_next = bn
        # the C side computes advantages in double and stores them as float: use those
        adv = np.float32(adv).astype(np.float64)
        check_margins(cfg, seqs, lp_leaves, adv)
        loss, kl_mean, clip_frac = pg_loss(cfg, seqs, adv, lp_leaves, norm_tokens, norm_seqs)
    loss.backward()
    dlp = lp_all.grad.numpy()
    gaps = np.ones(n_lp, bool)
    for i in range(len(seqs)):
        gaps[lp_index[i]:lp_index[i] + lens[i]] = False
    assert (dlp[gaps] == 0).all()
    i32 = lambda v: np.array([v], np.int32)  # noqa: E731
    tensors = [("cfg." + k, i32(v) if isinstance(v, int) else np.array([v])) for k, v in cfg.items()]
    tensors += [("lens", np.array(lens, np.int32)), ("lp_index", np.array(lp_index, np.int32)),
                ("group", np.array(groups, np.int32)), ("chosen", np.array(chosen, np.int32)),
                ("reward", rewards), ("logprob", lp_flat), ("rollout_logprob", ro_flat),
                ("old_logprob", old_flat), ("ref_logprob", ref_flat),
                ("has_old", i32(int(spec["old"]))), ("has_ref", i32(int(spec["ref"]))),
                ("baseline_value", np.array([baseline[0]])), ("baseline_updates", i32(baseline[1])),
                ("adv", adv), ("baseline_next", np.array([b_next])), ("loss", np.array([loss.item()])),
                ("dlogprob", dlp), ("kl_mean", np.array([kl_mean])), ("clip_frac", np.array([clip_frac]))]
    path = GOLDEN_DIR / f"learn_{name}.gold"
    write_golden(path, tensors)
    read_golden(path)
    summary.append(f"{name}: loss {loss.item():+.6f}, |dlogprob| max {np.abs(dlp).max():.4g}, "
                   f"kl mean {kl_mean:.4f}, clip fraction {clip_frac:.3f}, adv {np.round(adv, 3).tolist()}")
    return path


# ---- entropy --------------------------------------------------------------------------------------

def make_entropy(summary):
    g = torch.Generator().manual_seed(77)
    N, V = 7, 37
    logits = (3.0 * torch.randn(N, V, generator=g, dtype=F64)).float().double()
    lse = torch.logsumexp(logits, -1)
    mask = np.array([5, -1, 0, 3, -1, 36, 2], np.int32)  # targets: -1 = not counted
    p = torch.softmax(logits, -1)
    ent = -(p * torch.log_softmax(logits, -1)).sum(-1)
    ent = torch.where(torch.as_tensor(mask) >= 0, ent, torch.zeros_like(ent))
    path = GOLDEN_DIR / "learn_entropy.gold"
    write_golden(path, [("logits", logits), ("lse", lse), ("mask", mask), ("entropy", ent)])
    summary.append(f"entropy: rows {N} x {V}, entropies {np.round(ent.numpy(), 4).tolist()}")
    return path


# ---- AdamW ----------------------------------------------------------------------------------------

def make_adamw(name, summary, schedule, lr, wd, max_norm, warmup, total, min_ratio, K=6, P=1000):
    g = torch.Generator().manual_seed(99 if schedule == 2 else 98)
    params0 = torch.randn(P, generator=g, dtype=F64).float().double()
    grads = [(torch.randn(P, generator=g, dtype=F64) * (0.02 if k % 2 else 0.1)).float().double() for k in range(K)]
    p = params0.clone().requires_grad_(True)
    opt = torch.optim.AdamW([p], lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=wd)

    def factor(step0):  # LambdaLR calls with 0, 1, ...; our t = step0 + 1
        t = step0 + 1
        if schedule == 0:
            return 1.0
        if schedule == 1:
            return min(1.0, t / warmup)
        if t <= warmup:
            return t / warmup
        progress = min(1.0, (t - warmup) / (total - warmup))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    out, norms = [], []
    for k in range(K):
        p.grad = grads[k].clone()
        if max_norm > 0:
            norms.append(float(torch.nn.utils.clip_grad_norm_([p], max_norm)))
        opt.step()
        sched.step()
        out.append(p.detach().clone())
    st = opt.state[p]
    cfg = [("cfg.lr", np.array([lr])), ("cfg.weight_decay", np.array([wd])), ("cfg.max_grad_norm", np.array([max_norm])),
           ("cfg.schedule", np.array([schedule], np.int32)), ("cfg.warmup_steps", np.array([warmup], np.int32)),
           ("cfg.total_steps", np.array([total], np.int32)), ("cfg.min_lr_ratio", np.array([min_ratio]))]
    path = GOLDEN_DIR / f"learn_{name}.gold"
    write_golden(path, cfg + [("params0", params0), ("grads", torch.stack(grads)), ("params", torch.stack(out)),
                              ("exp_avg", st["exp_avg"]), ("exp_avg_sq", st["exp_avg_sq"])])
    summary.append(f"{name}: {K} steps on {P} parameters, grad norms before clipping "
                   f"{[round(n, 3) for n in norms]}, |params - params0| max {float((out[-1] - params0).abs().max()):.4g}")
    return path


# ---- end to end: GRPO through the tiny Qwen2 --------------------------------------------------

def pack_like_cada(seqs, T):
    """learn/traj.h's packing: sequences in order, a new row when one does not fit, the
    tail of each row a padding document (id 0, positions 0.., no targets); targets only
    where a completion token is predicted."""
    rows, cur, used = [], [], 0
    for s in seqs:
        n = len(s["tokens"])
        assert n <= T
        if used + n > T:
            rows.append(cur)
            cur, used = [], 0
        cur.append(s)
        used += n
    rows.append(cur)
    B = len(rows)
    tokens = np.zeros((B, T), np.int64); positions = np.zeros((B, T), np.int64); targets = np.full((B, T), -1, np.int64)
    spans, lp_index = [], []
    for b, row in enumerate(rows):
        at, row_spans = 0, []
        for s in row:
            n, P = len(s["tokens"]), s["prompt_len"]
            tokens[b, at:at + n] = s["tokens"]
            positions[b, at:at + n] = np.arange(n)
            targets[b, at + P - 1:at + n - 1] = s["tokens"][P:]
            lp_index.append(b * T + at + P - 1)
            row_spans.append((at, n, False))
            at += n
        if at < T:
            positions[b, at:] = np.arange(T - at)
            row_spans.append((at, T - at, True))
        spans.append(row_spans)
    return tokens, positions, targets, spans, lp_index


def make_e2e_grpo(summary):
    from transformers import AutoModelForCausalLM
    model_dir = MODELS_DIR / "tiny_qwen2"
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float64, attn_implementation="eager")
    model.eval()
    V = model.config.vocab_size
    g = np.random.default_rng(2024)
    # 2 prompts x 4 samples: prompts of 5 and 7 tokens, completions of 3..9 tokens
    prompts = [g.integers(1, V, 5).tolist(), g.integers(1, V, 7).tolist()]
    seqs = []
    for i in range(8):
        p = prompts[i // 4]
        c = g.integers(1, V, int(g.integers(3, 10))).tolist()
        seqs.append(dict(tokens=p + c, prompt_len=len(p), completion_len=len(c), group=i // 4))
    rewards = np.float32([1.0, 0.0, 0.5, -1.0, 0.25, 1.0, 0.0, 0.75]).astype(np.float64)
    T = 24
    tokens, positions, targets, spans, lp_index = pack_like_cada(seqs, T)
    B = tokens.shape[0]
    spec = dict(algo="grpo", adv="group", group_std=1, pg="ppo_clip", clip_low=0.2, clip_high=0.28,
                agg="token_mean", kl_place="loss", kl_est=3, kl_coef=0.05, tis_cap=1.1)
    cfg = config_of(spec)
    with float64_exact(model):
        model.zero_grad(set_to_none=True)
        logits = per_document_logits(model, tokens, spans)  # (B, T, V) float64
        lse = torch.logsumexp(logits, -1)
        t = torch.as_tensor(targets)
        picked = logits.gather(-1, t.clamp(min=0)[..., None])[..., 0]
        logprob = torch.where(t != -1, picked - lse, torch.zeros_like(lse)).reshape(-1)
        p = torch.softmax(logits, -1)
        ent = -(p * torch.log_softmax(logits, -1)).sum(-1)
        ent = torch.where(t != -1, ent, torch.zeros_like(ent)).reshape(-1).detach()
        lp_det = logprob.detach().numpy()
        # rollout and reference log-probs: the model's, perturbed; rounded to float32
        tries = 0
        while True:
            ro_list, ref_list = [], []
            for s, li in zip(seqs, lp_index):
                n = s["completion_len"]
                ro_list.append(np.float32(lp_det[li:li + n] + 0.12 * g.standard_normal(n)).astype(np.float64))
                ref_list.append(np.float32(lp_det[li:li + n] + 0.2 * g.standard_normal(n)).astype(np.float64))
            ratios = np.concatenate([np.exp(lp_det[li:li + s["completion_len"]] - ro)
                                     for s, li, ro in zip(seqs, lp_index, ro_list)])
            # pi_old is the learner's own log-prob (no old given): the ratio is 1, never
            # clipped; the learner / engine weight meets the TIS cap instead
            margin = np.abs(ratios - cfg["tis_cap"]).min()
            if margin > 1e-3:  # cada's fp32 log-probs differ from these by ~1e-6
                break
            tries += 1
            assert tries < 50
        lp_seqs = []
        for s, li, ro, ref in zip(seqs, lp_index, ro_list, ref_list):
            s.update(len=s["completion_len"], reward=0.0, rollout=torch.tensor(ro), old=None, ref=torch.tensor(ref))
            lp_seqs.append(logprob[li:li + s["completion_len"]])
        for s, r in zip(seqs, rewards):
            s["reward"] = float(r)
        adv, _ = advantages(cfg, seqs, (0.0, 0))
        adv = np.float32(adv).astype(np.float64)
        norm_tokens = float(sum(s["completion_len"] for s in seqs))
        logprob.retain_grad()
        loss, kl_mean, clip_frac = pg_loss(cfg, seqs, adv, lp_seqs, norm_tokens, float(len(seqs)))
        loss.backward()
    dlogprob = logprob.grad.detach().numpy()
    tensors = [("cfg." + k, np.array([v], np.int32) if isinstance(v, int) else np.array([v])) for k, v in cfg.items()]
    tensors += [("seq_tokens", np.array(sum((s["tokens"] for s in seqs), []), np.int32)),
                ("seq_prompt_len", np.array([s["prompt_len"] for s in seqs], np.int32)),
                ("seq_completion_len", np.array([s["completion_len"] for s in seqs], np.int32)),
                ("group", np.array([s["group"] for s in seqs], np.int32)), ("reward", rewards),
                ("rollout_logprob", np.concatenate(ro_list)), ("ref_logprob", np.concatenate(ref_list)),
                ("T", np.array([T], np.int32)), ("tokens", tokens.astype(np.int32)),
                ("positions", positions.astype(np.int32)), ("targets", targets.astype(np.int32)),
                ("lp_index", np.array(lp_index, np.int32)), ("logprob", lp_det), ("entropy", ent),
                ("adv", adv), ("loss", np.array([loss.item()])), ("dlogprob", dlogprob)]
    n_grads = 0
    for n, prm in model.named_parameters():
        assert prm.grad is not None, n
        tensors.append(("grad." + n, prm.grad))
        n_grads += 1
    path = GOLDEN_DIR / "learn_grpo_tiny_qwen2.gold"
    write_golden(path, tensors)
    read_golden(path)
    gnorm = math.sqrt(sum(float((prm.grad ** 2).sum()) for prm in model.parameters()))
    summary.append(f"grpo_tiny_qwen2: {len(seqs)} sequences packed in {B} x {T}, {int(norm_tokens)} completion tokens, "
                   f"loss {loss.item():+.6f}, clip fraction {clip_frac:.3f}, kl mean {kl_mean:.4f}, "
                   f"grad norm {gnorm:.5f}, {n_grads} grads, IS weight margin to the TIS cap {margin:.2e}")
    return path


def main():
    torch.set_grad_enabled(True)
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    summary, written = [], []
    for i, (name, spec) in enumerate(CASES.items()):
        written.append(make_rl_case(name, spec, seed=1000 + i, summary=summary))
    written.append(make_entropy(summary))
    written.append(make_adamw("adamw", summary, schedule=2, lr=1e-2, wd=0.1, max_norm=1.0, warmup=2, total=6,
                              min_ratio=0.1))
    written.append(make_adamw("adamw_linear", summary, schedule=1, lr=3e-3, wd=0.0, max_norm=0.0, warmup=3, total=0,
                              min_ratio=0.0))
    written.append(make_e2e_grpo(summary))
    print("make_learn_golden: summary")
    for line in summary:
        print("  " + line)
    for p in written:
        print(f"  {p.relative_to(GOLDEN_DIR.parents[2])}  {p.stat().st_size} bytes")


if __name__ == "__main__":
    main()
