"""Shared helpers of the posenc CLI tests: running the command, independent readers, references.

Everything here is written from the format specifications, not from posenc's code: the safetensors and
npy checks parse the bytes themselves, and the references are float64 NumPy formulas.
NumPy is required: a missing NumPy is an ImportError, i.e. a failed test, never a skip.
"""
import json
import math
import os
import shutil
import struct
import subprocess
import sys

import numpy as np


class Cli:
    def __init__(self, binary, scratch):
        self.binary = binary
        self.scratch = scratch
        shutil.rmtree(scratch, ignore_errors=True)
        os.makedirs(scratch)

    def path(self, *names):
        return os.path.join(self.scratch, *names)

    def run(self, *args, expect_ok=True, timeout=60):
        """Runs posenc with args; returns (returncode, stdout bytes, stderr text)."""
        proc = subprocess.run([self.binary, *map(str, args)], capture_output=True, timeout=timeout)
        err = proc.stderr.decode("utf-8", "replace")
        if proc.returncode < 0:
            fail(f"posenc {' '.join(map(str, args))} died of signal {-proc.returncode}\n{err}")
        if expect_ok and proc.returncode != 0:
            fail(f"posenc {' '.join(map(str, args))} exited {proc.returncode}\n{err}")
        return proc.returncode, proc.stdout, err

    def table(self, *args, fmt, name=None, extra=()):
        """Runs `posenc args --format fmt --out scratch/name` and returns the output path."""
        name = name or f"out.{fmt}"
        out = self.path(name)
        self.run(*args, "--format", fmt, "--out", out, *extra)
        return out


def fail(message):
    print("FAIL: " + message, file=sys.stderr)
    sys.exit(1)


def check(cond, message):
    if not cond:
        fail(message)


def check_close(actual, expected, atol, what):
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    check(actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}")
    err = np.abs(actual - expected)
    worst = np.unravel_index(np.argmax(err), err.shape) if err.size else None
    check(err.size == 0 or err.max() <= atol,
          f"{what}: max |error| {err.max() if err.size else 0:.3g} > {atol:.3g} at {worst}: "
          f"{actual[worst] if worst else None} vs {expected[worst] if worst else None}")


def check_bitwise(actual, expected, what):
    a = np.ascontiguousarray(actual, dtype=np.float32)
    b = np.ascontiguousarray(expected, dtype=np.float32)
    check(a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}")
    diff = a.view(np.uint32) != b.view(np.uint32)
    if diff.any():
        idx = tuple(np.argwhere(diff)[0])
        fail(f"{what}: {int(diff.sum())} values differ bitwise, first at {idx}: "
             f"{a[idx]!r} vs {b[idx]!r}")


# ---- readers -------------------------------------------------------------------------------------------

def read_json(path):
    with open(path, "rb") as f:
        return json.loads(f.read())


def read_npy(path):
    """Loads with numpy and separately checks the header layout the brief asks for."""
    with open(path, "rb") as f:
        raw = f.read()
    check(raw[:6] == b"\x93NUMPY", f"{path}: bad npy magic {raw[:6]!r}")
    check(raw[6:8] == b"\x01\x00", f"{path}: npy version {raw[6]}.{raw[7]}, expected 1.0")
    (hlen,) = struct.unpack("<H", raw[8:10])
    header = raw[10:10 + hlen]
    check((10 + hlen) % 64 == 0, f"{path}: data starts at {10 + hlen}, not a multiple of 64")
    check(header.endswith(b"\n"), f"{path}: npy header does not end with a newline")
    check(b"'fortran_order': False" in header, f"{path}: header {header!r} is not C order")
    arr = np.load(path, allow_pickle=False)
    return arr, header.decode("latin1")


def read_safetensors(path):
    """A small independent safetensors reader: returns (tensors by name as float32/float16, metadata)."""
    with open(path, "rb") as f:
        raw = f.read()
    check(len(raw) >= 8, f"{path}: shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", raw[:8])
    check(8 + n <= len(raw), f"{path}: header length {n} exceeds the file ({len(raw)} bytes)")
    check(n % 8 == 0, f"{path}: header length {n} is not a multiple of 8 (data not 8-byte aligned)")
    text = raw[8:8 + n].decode("utf-8")
    check(text.rstrip(" ") == text.strip(), f"{path}: header padding is not trailing spaces")
    header = json.loads(text)
    data = raw[8 + n:]
    meta = header.pop("__metadata__", {})
    check(all(isinstance(v, str) for v in meta.values()), f"{path}: non-string metadata {meta}")
    tensors = {}
    for name, info in header.items():
        dtype, shape, (begin, end) = info["dtype"], info["shape"], info["data_offsets"]
        count = int(np.prod(shape)) if shape else 1
        size = {"F32": 4, "F16": 2, "BF16": 2}[dtype]
        check(end - begin == count * size, f"{path}: {name} data_offsets {begin}..{end} != "
                                           f"{count} x {size} bytes")
        check(end <= len(data), f"{path}: {name} data ends past the file")
        buf = data[begin:end]
        if dtype == "F32":
            arr = np.frombuffer(buf, dtype="<f4")
        elif dtype == "F16":
            arr = np.frombuffer(buf, dtype="<f2")
        else:  # bfloat16: the top half of a float32
            arr = (np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        tensors[name] = (dtype, arr.reshape(shape))
    end = max((info["data_offsets"][1] for info in header.values()), default=0)
    check(len(data) == end, f"{path}: {len(data) - end} bytes after the tensor data")
    return tensors, meta


# ---- independent references (float64) -------------------------------------------------------------------

def vaswani_reference(positions, dim, base=10000.0):
    pos = np.asarray(positions, dtype=np.float64)[:, None]
    i = np.arange(dim // 2, dtype=np.float64)
    omega = base ** (-2.0 * i / dim)
    out = np.zeros((len(positions), dim))
    out[:, 0::2] = np.sin(pos * omega)
    out[:, 1::2] = np.cos(pos * omega)
    return out


def fairseq_reference(rows, dim, padding_idx=None, base=10000.0):
    """fairseq's SinusoidalPositionalEmbedding.get_embedding, in float64: row r encodes multiplier r."""
    half = dim // 2
    scale = math.log(base) / max(half - 1, 1)
    freq = np.exp(np.arange(half, dtype=np.float64) * -scale)
    ang = np.asarray(rows, dtype=np.float64)[:, None] * freq[None, :]
    out = np.concatenate([np.sin(ang), np.cos(ang)], axis=1)
    if dim % 2 == 1:
        out = np.concatenate([out, np.zeros((len(rows), 1))], axis=1)
    if padding_idx is not None:
        out[np.asarray(rows) == padding_idx, :] = 0.0
    return out


def main(cases, argv):
    if len(argv) != 4 or argv[3] not in cases:
        print(f"usage: {argv[0]} POSENC_BINARY SCRATCH_DIR CASE  (cases: {', '.join(cases)})",
              file=sys.stderr)
        sys.exit(2)
    cli = Cli(argv[1], argv[2])
    cases[argv[3]](cli)
    print(f"ok: {argv[3]}")
