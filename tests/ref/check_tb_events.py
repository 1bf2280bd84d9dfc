#!/usr/bin/env python3
"""Checks the TensorBoard event file of a `cada train` run against its metrics.jsonl.

  python3 tests/ref/check_tb_events.py RUN_DIR [--require-tensorboard]

Two independent readers, neither of them cada's:
  1. plain: TFRecord framing read here (uint64 length, masked CRC-32C of the length,
     data, masked CRC-32C of the data; CRC-32C computed bit by bit) and the Event
     protobuf decoded by hand from TensorFlow's field numbers;
  2. TensorBoard's own EventAccumulator (the `tensorboard` pip package, installed by
     tests/py_deps.sh), when it can be imported (--require-tensorboard: it must).
Both must find the file_version "brain.Event:2" first, then one event per
metrics.jsonl line with the same step and, for every tag, the same value as the line's
field (to the precision the line was printed with; null in JSON is NaN in the event).
Exit status 0 when everything matches, 1 on a mismatch, 2 on a usage error.
"""
import glob
import json
import math
import os
import struct
import sys

# metrics.jsonl field -> TensorBoard tag (sched/train.c writes both from the same values)
TAGS = {
    "reward_mean": "reward/mean",
    "reward_std": "reward/std",
    "refusal_rate_harmful": "refusal_rate",
    "kl": "kl",
    "entropy": "entropy",
    "loss": "loss",
    "grad_norm": "grad_norm",
    "lr": "lr",
    "baseline": "baseline",
    "rollout_tokens_per_s": "tokens_per_s/rollout",
    "learner_tokens_per_s": "tokens_per_s/learner",
    "rollout_s": "time/rollout",
    "exchange_s": "time/exchange",
    "learn_s": "time/learn",
    "reward_comply": "reward/comply",
    "reward_refuse": "reward/refuse",
    "reward_judge": "reward/judge",
    "reward_help": "reward/help",
    "reward_format": "reward/format",
    "reward_truncated": "reward/truncated",
    "reward_monitor": "reward/monitor",
    "truncated": "truncated",
    "monitor_flag_rate": "monitor_flag_rate",
}


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def varint(buf, i):
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i


def fields(buf):
    """(field number, wire type, value) of a protobuf message."""
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(buf, i)
        elif wt == 1:
            v, i = buf[i:i + 8], i + 8
        elif wt == 2:
            n, i = varint(buf, i)
            v, i = buf[i:i + n], i + n
        elif wt == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {wt}")
        yield num, wt, v


def plain_read(path):
    """[(step, {tag: value}) or ('version', str)] from a TFRecord file of Events."""
    data = open(path, "rb").read()
    out, off = [], 0
    while off < len(data):
        if off + 12 > len(data):
            raise ValueError(f"{path}: truncated header at byte {off}")
        (n,) = struct.unpack_from("<Q", data, off)
        (lcrc,) = struct.unpack_from("<I", data, off + 8)
        if lcrc != masked(data[off:off + 8]):
            raise ValueError(f"{path}: length CRC mismatch at byte {off}")
        body = data[off + 12:off + 12 + n]
        (dcrc,) = struct.unpack_from("<I", data, off + 12 + n)
        if dcrc != masked(body):
            raise ValueError(f"{path}: data CRC mismatch at byte {off}")
        off += 16 + n
        step, version, scalars = 0, None, {}
        for num, wt, v in fields(body):
            if num == 2 and wt == 0:      # int64 step
                step = v
            elif num == 3 and wt == 2:    # string file_version
                version = v.decode()
            elif num == 5 and wt == 2:    # Summary summary
                for snum, swt, sv in fields(v):
                    if snum != 1 or swt != 2:
                        continue
                    tag, val = None, None
                    for vnum, vwt, vv in fields(sv):   # Summary.Value
                        if vnum == 1 and vwt == 2:
                            tag = vv.decode()
                        elif vnum == 2 and vwt == 5:   # float simple_value
                            (val,) = struct.unpack("<f", vv)
                    scalars[tag] = val
        out.append(("version", version) if version is not None else (step, scalars))
    return out


def close(tb, js, field):
    if js is None:
        return tb is not None and math.isnan(tb)
    if tb is None or math.isnan(tb):
        return False
    # the JSON line is printed with %.6g, times with %.3f, tokens/s with %.1f; the
    # event holds a float32
    tol = max(abs(js) * 2e-5, 1e-30)
    if field.endswith("_s") and not field.endswith("per_s"):
        tol = max(tol, 6e-4)
    if field.endswith("tokens_per_s"):
        tol = max(tol, 0.06)
    return abs(tb - js) <= tol


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    require_tb = "--require-tensorboard" in sys.argv
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    run = args[0]
    lines = [json.loads(l) for l in open(os.path.join(run, "metrics.jsonl")) if l.strip()]
    files = glob.glob(os.path.join(run, "tb", "events.out.tfevents.*"))
    if len(files) != 1:
        print(f"FAIL: expected one event file in {run}/tb, found {files}")
        return 1
    bad = []

    events = plain_read(files[0])
    if not events or events[0] != ("version", "brain.Event:2"):
        bad.append(f"plain: first record is {events[:1]}, not the file_version brain.Event:2")
    summaries = [e for e in events[1:] if e[0] != "version"]
    if [s for s, _ in summaries] != [l["step"] for l in lines]:
        bad.append(f"plain: event steps {[s for s, _ in summaries]} != metrics steps {[l['step'] for l in lines]}")
    for (step, scalars), line in zip(summaries, lines):
        for field, tag in TAGS.items():
            if field in line and not close(scalars.get(tag), line[field], field):
                bad.append(f"plain: step {step} {tag} = {scalars.get(tag)}, metrics.jsonl {field} = {line[field]}")
    print(f"plain TFRecord reader: {len(events)} records, CRCs good, {len(summaries)} summaries compared")

    try:
        from tensorboard.backend.event_processing import event_accumulator
    except ImportError as e:
        if require_tb:
            print(f"FAIL: tensorboard cannot be imported: {e}")
            return 1
        print(f"SKIP tensorboard reader: {e} (tests/py_deps.sh installs it)")
        event_accumulator = None
    if event_accumulator is not None:
        acc = event_accumulator.EventAccumulator(files[0], size_guidance={event_accumulator.SCALARS: 0})
        acc.Reload()
        have = set(acc.Tags()["scalars"])
        compared = 0
        for field, tag in TAGS.items():
            if not any(field in l for l in lines):
                continue
            if tag not in have:
                bad.append(f"tensorboard: tag {tag} missing (has {sorted(have)})")
                continue
            got = {e.step: e.value for e in acc.Scalars(tag)}
            for line in lines:
                if field in line and not close(got.get(line["step"]), line[field], field):
                    bad.append(f"tensorboard: step {line['step']} {tag} = {got.get(line['step'])}, "
                               f"metrics.jsonl {field} = {line[field]}")
                compared += 1
        print(f"tensorboard EventAccumulator: {len(have)} scalar tags, {compared} values compared")

    for b in bad:
        print("FAIL:", b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
