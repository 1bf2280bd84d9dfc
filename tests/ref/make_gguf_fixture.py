#!/usr/bin/env python3
"""tests/ref/make_gguf_fixture.py: a small GGUF fixture and its dequantised values, both
produced by gguf-py (the PyPI package `gguf`, ggml's own Python implementation), so that
cada's GGUF reader and dequantisers are checked against code nobody here wrote.

Writes
  tests/ref/golden/gguf_types.gguf  tensors t_f32, t_f16, t_bf16, t_q8_0, t_q4_0, t_q4_1,
                                    each numpy shape (6, 64) (GGUF dims {64, 6}), quantised
                                    from one source array by gguf.quants.quantize; a few
                                    kvs of assorted types; general.alignment = 64
  tests/ref/golden/gguf_types.gold  "source" (the fp32 input) and, per tensor, the values
                                    gguf.quants.dequantize returns for its stored bytes

Gold format (tests/unit/golden.h), little-endian: b"CADAGOLD", u32 version 1, u32 count,
then per tensor u32 name length, name, u32 dtype (0 f32, 1 i32), u32 ndim, u64 dims,
row-major data.

Usage: python3 tests/ref/make_gguf_fixture.py   (needs: pip install gguf numpy)
"""
import os
import struct
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q
from gguf.quants import dequantize, quantize

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "golden")


def source() -> np.ndarray:
    """Rows chosen to reach the interesting paths of each format."""
    rng = np.random.default_rng(20240607)
    x = np.empty((6, 64), dtype=np.float32)
    x[0] = rng.standard_normal(64)                         # ordinary weights
    x[1] = rng.standard_normal(64) * 1e-6                  # f16 subnormals
    x[2, :32] = 0.0                                        # an all-zero block: d = 0
    x[2, 32:] = rng.uniform(-3.0, 5.0, 32)                 # Q4_1 with a non-zero min
    x[3] = rng.standard_normal(64) * 1000.0                # large magnitudes
    k = np.arange(64, dtype=np.float32)
    x[4] = 1.0 + k * np.float32(2.0 ** -11)                # f16 ties (odd k): to even
    x[5] = -(1.0 + k * np.float32(2.0 ** -8))              # bf16 ties (odd k): to even
    return x


def write_gold(path: str, tensors: list) -> None:
    with open(path, "wb") as f:
        f.write(b"CADAGOLD")
        f.write(struct.pack("<II", 1, len(tensors)))
        for name, arr in tensors:
            arr = np.ascontiguousarray(arr)
            dtype = {np.dtype(np.float32): 0, np.dtype(np.int32): 1}[arr.dtype]
            nb = name.encode()
            f.write(struct.pack("<I", len(nb)) + nb)
            f.write(struct.pack("<II", dtype, arr.ndim))
            f.write(struct.pack("<%dQ" % arr.ndim, *arr.shape))
            f.write(arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes())


def main() -> int:
    os.makedirs(OUT, exist_ok=True)
    src = source()
    gguf_path = os.path.join(OUT, "gguf_types.gguf")
    w = gguf.GGUFWriter(gguf_path, arch="cadatest")
    w.add_custom_alignment(64)
    w.add_uint32("cadatest.u32", 576)
    w.add_int32("cadatest.i32", -5)
    w.add_float32("cadatest.f32", 0.5)
    w.add_bool("cadatest.bool", True)
    w.add_string("cadatest.str", "héllo")
    w.add_array("cadatest.strs", ["a", "bc", ""])
    w.add_array("cadatest.ints", [1, 2, 3])

    gold = [("source", src)]
    for name, qtype in [("t_f32", Q.F32), ("t_f16", Q.F16), ("t_bf16", Q.BF16),
                        ("t_q8_0", Q.Q8_0), ("t_q4_0", Q.Q4_0), ("t_q4_1", Q.Q4_1)]:
        stored = quantize(src, qtype)
        if qtype in (Q.F32, Q.F16):
            w.add_tensor(name, stored)
        else:  # raw bytes: the writer derives the element shape from the byte shape
            w.add_tensor(name, stored, raw_dtype=qtype)
        want = np.asarray(dequantize(stored, qtype), dtype=np.float32).reshape(src.shape)
        gold.append((name, want))

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    write_gold(os.path.join(OUT, "gguf_types.gold"), gold)
    for p in ("gguf_types.gguf", "gguf_types.gold"):
        print(p, os.path.getsize(os.path.join(OUT, p)), "bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
