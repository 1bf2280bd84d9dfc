#!/usr/bin/env python3
"""Chaos supervisor for `cada train`: faults injected at random times, recovery by
`--resume latest`, and a result that must equal an uninterrupted run's byte for byte.

For each layout (colocated sync, disaggregated sync, disaggregated one-step-off async) it
runs the tiny model of tests/cli/train_fixture.bash for --steps steps with
run.checkpoint_every = 1, once straight (the reference) and once under faults. The
faulty run is relaunched after each fault with `--resume latest` once a complete
checkpoint exists (what deploy/slurm/launch.sh does on requeue) until it has finished.
Faults, drawn from a seeded generator (the seed is printed; --seed repeats a run):

  kill   SIGKILL of a random rank: mpirun must end the job (exit != 0).
  stop   SIGSTOP of a random rank (a stall): the others must time out after
         cluster.timeout_seconds and the job end with an error naming the rank
         ("stopped answering: rank R"); then the supervisor kills the stopped process.
  term   SIGTERM to a random rank (a preemption): every rank checkpoints the step it is
         in and the job exits 0 ("SIGTERM: checkpoint-N written").
  ckpt   SIGKILL of a random rank while a checkpoint is being written (a
         checkpoint-N.tmp folder exists): the next launch must not take it as complete.

Each fault i is injected once the run's metrics reach a step drawn at random (plus a
random delay under a step), so faults spread over the run. At the end, for every layout:
the last checkpoint's weights (every shard and the index), optimizer shards and
run_state.json are byte-identical to the reference's, metrics.jsonl holds each step
exactly once with the reference's values (timing fields aside), and samples.jsonl
(run.dump_samples: every sequence's tokens) is byte-identical. A table gives, per fault:
its kind, the rank, the step it hit, whether it was injected and recovered from, the
seconds until the job ended (detection), and the steps lost (done, then redone).

Exit status 0 when every expectation held. tests/cli/chaos.sh runs a short version;
`tests/chaos/run.py --long` a longer one.
"""
import argparse
import glob
import json
import os
import random
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CADA = os.path.join(ROOT, "cada")
KINDS = ["kill", "stop", "term", "ckpt"]
DISAGG = ["--set", "cluster.placement=disaggregated", "--set", "cluster.learner_ranks=2", "--set", "cluster.rollout_ranks=1",
          "--set", "cluster.reward_ranks=1"]
LAYOUTS = {  # name: (ranks, cluster keys)
    "colocated-sync": (2, []),
    "disagg-sync": (4, DISAGG),
    "disagg-async": (4, DISAGG + ["--set", "rollout.mode=async"]),
}
# cluster.timeout_seconds of every run: a stall is found within seconds. 3 s made
# healthy relaunches time out on a 2-core machine busy with another job (a checkpoint's
# hashing, or a peer descheduled, outlasted it); 8 s leaves a margin and costs ~5 s per
# stall fault.
TIMEOUT_S = int(os.environ.get("CHAOS_TIMEOUT_S", "8"))


def say(*a):
    print(*a, flush=True)


def train_args(model, out_dir, steps):
    """The tiny run of tests/cli/train_fixture.bash (tiny_train_args), checkpointing every step."""
    sets = {"model.path": model, "prompt.template": "plain", "data.prompts_per_step": 2, "rollout.samples_per_prompt": 1,
            "rollout.max_new_tokens": 3, "rollout.max_len": 128, "learn.micro_batch_tokens": 128, "run.log_every": 1,
            "run.steps": steps, "run.checkpoint_every": 1, "run.dump_samples": 1, "cluster.timeout_seconds": TIMEOUT_S, "run.out_dir": out_dir}
    args = ["-c", os.path.join(ROOT, "configs/smollm2-135m-cpu.ini")]
    for k, v in sets.items():
        args += ["--set", f"{k}={v}"]
    return args


def metrics_steps(out_dir):
    """The steps of out_dir/metrics.jsonl's complete lines."""
    try:
        with open(os.path.join(out_dir, "metrics.jsonl")) as f:
            return [json.loads(line)["step"] for line in f if line.endswith("\n")]
    except (OSError, ValueError, KeyError):
        return []


def latest_checkpoint(out_dir):
    """The step of the newest complete checkpoint-N (what `--resume latest` takes), 0: none."""
    best = 0
    for d in glob.glob(os.path.join(out_dir, "checkpoint-*")):
        tail = d.rsplit("-", 1)[1]
        if tail.isdigit() and os.path.exists(os.path.join(d, "run_state.json")):
            best = max(best, int(tail))
    return best


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def rank_pids(out_dir, since):
    """rank -> pid from out_dir/ranks/rank-R.pid files written by this launch."""
    pids = {}
    for p in glob.glob(os.path.join(out_dir, "ranks", "rank-*.pid")):
        try:
            if os.path.getmtime(p) >= since:
                pids[int(p.rsplit("-", 1)[1].split(".")[0])] = int(open(p).read().strip())
        except (OSError, ValueError):
            pass
    return pids


def ours(pid, out_dir):
    """Whether pid is a cada rank of this out_dir (its command line names it)."""
    try:
        return out_dir.encode() in open(f"/proc/{pid}/cmdline", "rb").read()
    except OSError:
        return False


def reap(out_dir, pids):
    """Kills what is left of this launch's ranks (a stopped rank mpirun could not end)."""
    for pid in pids.values():
        if alive(pid) and ours(pid, out_dir):
            os.kill(pid, signal.SIGKILL)


class Launch:
    """One mpirun of cada train, in the background, output to log."""

    def __init__(self, np_, args, out_dir, log):
        self.out_dir, self.log_path, self.start = out_dir, log, time.time()
        env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        cmd = ["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", str(np_), CADA, "train"] + args
        self.logf = open(log, "w")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=self.logf, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.pids = {}

    def running(self):
        return self.proc.poll() is None

    def wait(self, limit):
        """The exit code; None (and the launch killed) after limit seconds."""
        try:
            rc = self.proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            rc = None
        self.logf.close()
        self.pids.update(rank_pids(self.out_dir, self.start))
        reap(self.out_dir, self.pids)
        return rc

    def log(self):
        return open(self.log_path, errors="replace").read()


def run_straight(np_, args, out_dir, log):
    launch = Launch(np_, args, out_dir, log)
    rc = launch.wait(600)
    if rc != 0:
        sys.exit(f"chaos: the uninterrupted run in {out_dir} exited {rc}:\n{launch.log()[-3000:]}")


def inject(launch, kind, rank, rng, target, steps, np_):
    """Waits until the run has reached step `target` (and done a step in this launch),
    then injects the fault. Returns (injected, step hit, time of injection, note)."""
    out_dir = launch.out_dir
    first = max(metrics_steps(out_dir) or [0])
    deadline = time.time() + 120
    while launch.running() and time.time() < deadline:
        done = metrics_steps(out_dir)
        last = max(done or [0])
        if last >= target and last > first and len(rank_pids(out_dir, launch.start)) == np_:
            break
        time.sleep(0.02)
    else:
        return False, None, None, "the run ended before the fault"
    time.sleep(rng.uniform(0, 0.4))
    if kind == "ckpt":  # wait for a checkpoint being written
        while launch.running() and time.time() < deadline:
            if glob.glob(os.path.join(out_dir, "checkpoint-*.tmp")):
                break
            time.sleep(0.002)
        else:
            return False, None, None, "no checkpoint being written"
    launch.pids = rank_pids(out_dir, launch.start)
    pid = launch.pids[rank]
    at = max(metrics_steps(out_dir) or [0]) + 1
    # past the last step the job is only writing its final checkpoint and ending: a
    # signal now would hit a run that is done (a SIGTERM then ends it without the
    # preemption line), so the fault's turn never came
    if at > steps or not launch.running() or not ours(pid, out_dir):
        return False, None, None, "the run ended before the fault"
    sig = {"kill": signal.SIGKILL, "ckpt": signal.SIGKILL, "stop": signal.SIGSTOP, "term": signal.SIGTERM}[kind]
    os.kill(pid, sig)
    return True, at, time.time(), ""


def check_fault(kind, rank, rc, log):
    """The job's end as the fault's kind requires; '' or what went wrong."""
    if rc is None:
        return "HANG: the job did not end"
    if kind == "term":
        if rc != 0:
            return f"exit {rc} after SIGTERM, expected 0"
        if "SIGTERM: checkpoint-" not in log:
            return "no 'SIGTERM: checkpoint-N written' line"
        return ""
    if rc == 0 and kind != "term":
        return f"exit 0 after {kind}"
    if kind == "stop":
        named = [l for l in log.splitlines() if "stopped answering:" in l]
        if not named:
            return "no rank reported a silent rank"
        if f" rank {rank} (" not in named[0].split("stopped answering:", 1)[1]:
            return "the first report names another rank: " + named[0][-200:]
    return ""


def chaos_layout(name, args_model, base, steps, faults, rng, rows):
    np_, keys = LAYOUTS[name]
    ref_dir, dir_ = os.path.join(base, name + "-straight"), os.path.join(base, name + "-chaos")
    run_straight(np_, train_args(args_model, ref_dir, steps) + keys, ref_dir, ref_dir + ".log")
    kinds = [KINDS[i % len(KINDS)] for i in range(faults)]
    rng.shuffle(kinds)
    targets = sorted(rng.sample(range(1, steps), min(faults, steps - 1)))
    targets += [steps - 1] * (faults - len(targets))
    failures, n_launch, last_fault_step = [], 0, 0
    while True:
        resume = latest_checkpoint(dir_)
        if resume >= steps:
            break
        if n_launch > 3 * faults + 3:
            failures.append(f"{name}: no end after {n_launch} launches")
            break
        args = train_args(args_model, dir_, steps) + keys + (["--resume", "latest"] if resume else [])
        launch = Launch(np_, args, dir_, f"{dir_}.launch-{n_launch}.log")
        n_launch += 1
        row = None
        if kinds:
            kind, target, rank = kinds.pop(0), targets.pop(0), rng.randrange(np_)
            injected, at, t_inj, note = inject(launch, kind, rank, rng, target, steps, np_)
            row = {"layout": name, "kind": kind, "rank": rank, "step": at, "injected": injected, "note": note, "resumed": resume}
        rc = launch.wait(120)
        done = max(metrics_steps(dir_) or [0])
        if row is None or not row["injected"]:
            if rc != 0:
                failures.append(f"{name}: a launch without a fault exited {rc}: see {launch.log_path}")
                break
            if row:
                rows.append(dict(row, recovered="-", detect_s=None, lost=None))
            continue
        row["detect_s"] = time.time() - t_inj
        problem = check_fault(row["kind"], row["rank"], rc, launch.log())
        row["lost"] = done - latest_checkpoint(dir_)
        row["recovered"] = None  # set by the next launch
        if problem:
            row["note"] = problem
            failures.append(f"{name}: {row['kind']} of rank {row['rank']} at step {row['step']}: {problem} ({launch.log_path})")
        rows.append(row)
        last_fault_step = done
    for kind in kinds:  # the run finished before these faults' turn
        rows.append({"layout": name, "kind": kind, "rank": "-", "step": None, "injected": False, "note": "the run had finished",
                     "resumed": None, "recovered": "-", "detect_s": None, "lost": None})
    # every faulty launch was recovered from when the run went past its checkpoint
    final = max(metrics_steps(dir_) or [0])
    for row in rows:
        if row["layout"] == name and row.get("recovered") is None:
            row["recovered"] = "yes" if final >= steps and latest_checkpoint(dir_) >= steps else "no"
    failures += compare(ref_dir, dir_, steps, name)
    return failures


def strip_timing(row):
    timing = lambda k: k.endswith("_s") or "per_s" in k or "seconds" in k or "time" in k
    return {k: v for k, v in row.items() if not timing(k)}


def compare(ref_dir, dir_, steps, name):
    """The chaos run's result against the uninterrupted one's; a list of differences."""
    bad = []
    a, b = os.path.join(ref_dir, f"checkpoint-{steps}"), os.path.join(dir_, f"checkpoint-{steps}")
    files = sorted(f for f in os.listdir(a) if f.endswith(".safetensors") or f.endswith(".index.json")
                   or f.startswith("optimizer-rank-") or f == "run_state.json")
    if not any(f.endswith(".safetensors") for f in files) or not any(f.startswith("optimizer-rank-") for f in files):
        bad.append(f"{name}: {a} lacks weights or optimizer shards")
    for f in files:
        pa, pb = os.path.join(a, f), os.path.join(b, f)
        if not os.path.exists(pb) or open(pa, "rb").read() != open(pb, "rb").read():
            bad.append(f"{name}: {f} of checkpoint-{steps} differs from the uninterrupted run's")
    load = lambda d: [strip_timing(json.loads(l)) for l in open(os.path.join(d, "metrics.jsonl"))]
    ma, mb = load(ref_dir), load(dir_)
    if [r["step"] for r in mb] != list(range(1, steps + 1)):
        bad.append(f"{name}: metrics.jsonl steps are {[r['step'] for r in mb]}, expected each of 1..{steps} once")
    elif ma != mb:
        diff = [i + 1 for i in range(steps) if ma[i] != mb[i]]
        bad.append(f"{name}: metrics.jsonl differs from the uninterrupted run's at steps {diff}")
    if open(os.path.join(ref_dir, "samples.jsonl"), "rb").read() != open(os.path.join(dir_, "samples.jsonl"), "rb").read():
        bad.append(f"{name}: samples.jsonl differs from the uninterrupted run's")
    left = glob.glob(os.path.join(dir_, "checkpoint-*.tmp"))
    if left:
        bad.append(f"{name}: unfinished checkpoints left behind: {left}")
    return bad


def table(rows):
    head = ["layout", "fault", "rank", "step", "injected", "recovered", "detect_s", "steps_lost", "note"]
    lines = [head]
    for r in rows:
        lines.append([r["layout"], r["kind"], str(r["rank"]), str(r["step"] or "-"), "yes" if r["injected"] else "no",
                      r["recovered"] or "-", "-" if r["detect_s"] is None else f"{r['detect_s']:.1f}",
                      "-" if r["lost"] is None else str(r["lost"]), r["note"]])
    widths = [max(len(l[i]) for l in lines) for i in range(len(head))]
    for l in lines:
        say("  " + "  ".join(c.ljust(w) for c, w in zip(l, widths)).rstrip())


def tiny_model(path):
    """tests/cli/train_fixture.bash's tiny_smol."""
    script = f'source "{ROOT}/tests/cli/common.bash"; source "{ROOT}/tests/cli/train_fixture.bash"; tiny_smol "{path}"'
    subprocess.run(["bash", "-c", script], check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=None, help="the faults' seed (default: drawn, printed)")
    ap.add_argument("--steps", type=int, default=None, help="steps of each run (default 8; --long 20)")
    ap.add_argument("--faults", type=int, default=None, help="faults per layout (default 4; --long 12)")
    ap.add_argument("--layouts", default=",".join(LAYOUTS), help="comma-separated: " + ", ".join(LAYOUTS))
    ap.add_argument("--long", action="store_true", help="more steps and faults")
    ap.add_argument("--model", default=None, help="the tiny model folder (default: made under --out)")
    ap.add_argument("--out", required=True, help="a folder for the runs (made)")
    o = ap.parse_args()
    steps = o.steps or (20 if o.long else 8)
    faults = o.faults if o.faults is not None else (12 if o.long else 4)
    seed = o.seed if o.seed is not None else random.SystemRandom().randrange(1 << 31)
    say(f"chaos: seed {seed} (repeat with --seed {seed}), {steps} steps, {faults} faults per layout")
    os.makedirs(o.out, exist_ok=True)
    model = o.model or os.path.join(o.out, "tiny")
    if not o.model:
        tiny_model(model)
    rng = random.Random(seed)
    rows, failures = [], []
    for name in o.layouts.split(","):
        if name not in LAYOUTS:
            sys.exit(f"chaos: unknown layout {name} (known: {', '.join(LAYOUTS)})")
        t0 = time.time()
        f = chaos_layout(name, model, o.out, steps, faults, rng, rows)
        say(f"chaos: {name}: {'identical to the uninterrupted run' if not f else 'FAILED'} ({time.time() - t0:.0f} s)")
        failures += f
    table(rows)
    for f in failures:
        say("FAIL: " + f)
    say(f"chaos: seed {seed}: {len(rows)} faults, {sum(r['injected'] for r in rows)} injected, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
