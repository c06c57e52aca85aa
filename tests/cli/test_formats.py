#!/usr/bin/python3
"""posenc table: what it writes, checked with independent readers and float64 references.

usage: test_formats.py POSENC_BINARY SCRATCH_DIR CASE
"""
import csv
import json
import os
import struct
import shutil
import sys
import tempfile

import numpy as np

from cli_common import (check, check_bitwise, check_close, fairseq_reference, main, read_json,
                        read_npy, read_safetensors, vaswani_reference)

SIN = ("table", "--kind", "sinusoidal")


def no_temporaries(cli):
    left = [n for n in os.listdir(cli.scratch) if ".tmp." in n]
    check(not left, f"temporary files left behind: {left}")


def json_table(doc):
    return np.array(doc["table"], dtype=np.float64)


def case_stdout_json(cli):
    rc, out, err = cli.run(*SIN, "--dim", 8, "--max-positions", 4, "--format", "json")
    doc = json.loads(out)
    check(json_table(doc).shape == (4, 8), f"stdout json shape {json_table(doc).shape}")
    lines = err.strip().splitlines()
    check(len(lines) == 1 and lines[0].startswith("posenc: wrote table [4 x 8] f32")
          and "<stdout>" in lines[0], f"summary line on stderr: {err!r}")
    rc, out, err = cli.run(*SIN, "--dim", 8, "--max-positions", 4, "--format", "csv", "--quiet")
    check(out.decode().startswith("position,c0,"), f"stdout csv: {out[:40]!r}")
    check(err == "", f"--quiet still printed {err!r}")
    check(os.listdir(cli.scratch) == [], f"stdout output created files: {os.listdir(cli.scratch)}")
    # "-" is standard output too (it wrote a file named "-"), for every command that writes one file.
    rc, out2, err = cli.run(*SIN, "--dim", 8, "--max-positions", 4, "--format", "csv", "--quiet", "--out", "-")
    check(out2 == out, f"--out - did not write the csv to stdout: {out2[:40]!r}")
    cfg_dir = tempfile.mkdtemp()
    cfg = os.path.join(cfg_dir, "config.json")
    with open(cfg, "w") as f:
        json.dump({"model_type": "llama", "hidden_size": 64, "num_attention_heads": 4, "rope_theta": 10000.0}, f)
    for args in (("rope", "--config", cfg, "--positions", "0,3", "--out", "-", "-q"),
                 ("alibi", "--heads", 2, "--out", "-", "-q"),
                 ("t5-bucket", "--num-buckets", 8, "--max-distance", 16, "--causal", "--relative", "-3,0,3", "--out", "-",
                  "-q")):
        rc, o, err = cli.run(*args)
        check(o.lstrip().startswith(b"{"), f"posenc {' '.join(map(str, args))}: stdout {o[:40]!r}")
    check(os.listdir(cli.scratch) == [], f"--out - created files: {os.listdir(cli.scratch)}")
    check(os.listdir(cfg_dir) == ["config.json"], f"--out - created files: {os.listdir(cfg_dir)}")
    shutil.rmtree(cfg_dir)
    rc, o, err = cli.run(*SIN, "--dim", 8, "--max-positions", 4, "--format", "npy", "--out", "-", expect_ok=False)
    check(rc != 0 and "needs --out FILE" in err, f"npy to --out -: rc {rc}, {err!r}")


def case_json_fields(cli):
    doc = read_json(cli.table(*SIN, "--dim", 16, "--max-positions", 10, fmt="json"))
    for key, want in [("kind", "sinusoidal"), ("preset", "vaswani"), ("dim", 16), ("base", 10000),
                      ("precision", "exact"), ("dtype", "f32"), ("positions", list(range(10)))]:
        check(key in doc and doc[key] == want, f"json field {key!r} = {doc.get(key)!r}, want {want!r}")
    table = doc["table"]
    check(len(table) == 10 and all(len(row) == 16 for row in table), "json table is not 10 x 16")
    check(all(isinstance(v, (int, float)) for row in table for v in row), "non-numbers in the table")

    # Integers are decimal: "010" is ten, not octal eight.
    doc = read_json(cli.table(*SIN, "--dim", "010", "--max-positions", "03", fmt="json",
                              name="dec.json"))
    check(json_table(doc).shape == (3, 10), f"--dim 010 --max-positions 03: {json_table(doc).shape}")
    doc = read_json(cli.table(*SIN, "--preset", "fairseq", "--padding-idx", 1, "--dim", 6, "--base",
                              500, "--precision", "hf_compat", "--dtype", "f16", "--positions", "3,1",
                              fmt="json", name="b.json"))
    for key, want in [("preset", "fairseq"), ("dim", 6), ("base", 500), ("precision", "hf_compat"),
                      ("dtype", "f16"), ("padding_idx", 1), ("positions", [3, 1])]:
        check(doc.get(key) == want, f"json field {key!r} = {doc.get(key)!r}, want {want!r}")
    no_temporaries(cli)


def case_json_vaswani_values(cli):
    n, d = 3000, 64
    doc = read_json(cli.table(*SIN, "--dim", d, "--max-positions", n, fmt="json"))
    check_close(json_table(doc), vaswani_reference(range(n), d), 1e-6, "vaswani exact vs float64")
    # Another base and dimension, at a few far-apart positions.
    pos = [0, 1, 7, 999, 4095]
    doc = read_json(cli.table(*SIN, "--dim", 130, "--base", 500, "--positions",
                              ",".join(map(str, pos)), fmt="json", name="b.json"))
    check_close(json_table(doc), vaswani_reference(pos, 130, base=500.0), 1e-6, "vaswani base 500")
    # hf_compat computes angles in float32: close at small positions, not exact.
    doc = read_json(cli.table(*SIN, "--dim", d, "--max-positions", 2048, "--precision", "hf_compat",
                              fmt="json", name="c.json"))
    check_close(json_table(doc), vaswani_reference(range(2048), d), 1e-2, "vaswani hf_compat")


def case_positions_list(cli):
    full = read_json(cli.table(*SIN, "--dim", 32, "--max-positions", 1001, fmt="json"))
    sel = read_json(cli.table(*SIN, "--dim", 32, "--positions", "0,5,1000", fmt="json",
                              name="sel.json"))
    check(sel["positions"] == [0, 5, 1000], f"positions field {sel['positions']}")
    check(len(sel["table"]) == 3, f"{len(sel['table'])} rows for 3 positions")
    for i, p in enumerate([0, 5, 1000]):
        check(sel["table"][i] == full["table"][p], f"row {i} != row {p} of the full table")
    # Any order, repeats and spaces around entries.
    sel = read_json(cli.table(*SIN, "--dim", 32, "--positions", "1000, 0,0", fmt="json",
                              name="sel2.json"))
    check(sel["positions"] == [1000, 0, 0], f"positions field {sel['positions']}")
    check(sel["table"] == [full["table"][1000], full["table"][0], full["table"][0]],
          "unordered/repeated positions select the wrong rows")
    # The largest position: values still in [-1, 1] and equal to the float64 reference.
    far = [2147483647, 123456789]
    doc = read_json(cli.table(*SIN, "--dim", 16, "--positions", ",".join(map(str, far)), fmt="json",
                              name="far.json"))
    check_close(json_table(doc), vaswani_reference(far, 16), 1e-6, "far positions")


def case_json_roundtrip_npy(cli):
    args = (*SIN, "--dim", 96, "--positions", ",".join(map(str, [*range(300), 65536, 2147483647])))
    for dtype in ("f32", "f16"):
        doc = read_json(cli.table(*args, "--dtype", dtype, fmt="json", name=f"{dtype}.json"))
        arr, _ = read_npy(cli.table(*args, "--dtype", dtype, fmt="npy", name=f"{dtype}.npy"))
        from_json = json_table(doc).astype(np.float32)  # Python float (double) -> nearest float32
        check_bitwise(from_json, arr.astype(np.float32), f"{dtype}: json values vs npy, bitwise")


def case_npy_f32(cli):
    n, d = 777, 48
    arr, header = read_npy(cli.table(*SIN, "--dim", d, "--max-positions", n, fmt="npy"))
    check(arr.dtype.str == "<f4", f"npy dtype {arr.dtype.str}, want <f4")
    check(arr.shape == (n, d), f"npy shape {arr.shape}")
    check(f"'shape': ({n}, {d})" in header, f"npy header {header!r}")
    check_close(arr, vaswani_reference(range(n), d), 1e-6, "npy f32 vs float64")


def case_npy_f16(cli):
    n, d = 500, 40
    f32, _ = read_npy(cli.table(*SIN, "--dim", d, "--max-positions", n, fmt="npy"))
    f16, header = read_npy(cli.table(*SIN, "--dim", d, "--max-positions", n, "--dtype", "f16",
                                     fmt="npy", name="h.npy"))
    check(f16.dtype.str == "<f2", f"npy dtype {f16.dtype.str}, want <f2")
    check(f16.shape == (n, d), f"npy shape {f16.shape}")
    # f16 storage rounds the fp32 value once, to nearest even: exactly NumPy's float32 -> float16.
    check_bitwise(f16.astype(np.float32), f32.astype(np.float16).astype(np.float32),
                  "f16 npy vs f32 npy rounded by NumPy")
    check_close(f16, vaswani_reference(range(n), d), 2.0 ** -11, "npy f16 vs float64")


def case_safetensors(cli):
    pos = [0, 5, 1000, 65535]
    args = (*SIN, "--preset", "tensor2tensor", "--dim", 24, "--positions", ",".join(map(str, pos)))
    ref, _ = read_npy(cli.table(*args, fmt="npy"))
    for dtype, tag in (("f32", "F32"), ("f16", "F16"), ("bf16", "BF16")):
        tensors, meta = read_safetensors(cli.table(*args, "--dtype", dtype, fmt="safetensors",
                                                   name=f"{dtype}.safetensors"))
        check(list(tensors) == ["table"], f"tensors {list(tensors)}")
        got_tag, arr = tensors["table"]
        check(got_tag == tag, f"{dtype}: dtype tag {got_tag}, want {tag}")
        check(arr.shape == (len(pos), 24), f"{dtype}: shape {arr.shape}")
        for key, want in [("kind", "sinusoidal"), ("preset", "tensor2tensor"), ("dim", "24"),
                          ("precision", "exact"), ("dtype", dtype), ("positions", "0,5,1000,65535")]:
            check(meta.get(key) == want, f"{dtype}: metadata {key!r} = {meta.get(key)!r}")
        f = arr.astype(np.float32)
        if dtype == "f32":
            check_bitwise(f, ref, "F32 safetensors vs f32 npy")
        elif dtype == "f16":
            check_bitwise(f, ref.astype(np.float16).astype(np.float32), "F16 vs NumPy rounding")
        else:
            err = np.abs(f.astype(np.float64) - ref) - 2.0 ** -8 * np.abs(ref)
            check(err.max() <= 0, f"BF16 off by more than bf16 rounding (2^-8 relative): "
                                  f"worst excess {err.max():.3g}")
            check((f != ref).any(), "BF16 values equal f32 everywhere: not rounded?")


def case_csv(cli):
    args = (*SIN, "--preset", "marian", "--dim", 11, "--positions", "2,0,70000")
    doc = read_json(cli.table(*args, fmt="json"))
    with open(cli.table(*args, fmt="csv"), newline="") as f:
        rows = list(csv.reader(f))
    check(rows[0] == ["position"] + [f"c{i}" for i in range(11)], f"csv header {rows[0]}")
    check(len(rows) == 4, f"csv has {len(rows) - 1} data rows, want 3")
    check([int(r[0]) for r in rows[1:]] == [2, 0, 70000], "csv position column")
    values = [[float(v) for v in r[1:]] for r in rows[1:]]
    check(values == [[float(v) for v in row] for row in doc["table"]], "csv values != json values")


def case_fairseq_padding(cli):
    n, d = 12, 10
    # Integers are decimal: "010" is ten, not octal eight.
    doc = read_json(cli.table(*SIN, "--dim", "010", "--max-positions", "03", fmt="json",
                              name="dec.json"))
    check(json_table(doc).shape == (3, 10), f"--dim 010 --max-positions 03: {json_table(doc).shape}")
    doc = read_json(cli.table(*SIN, "--preset", "fairseq", "--padding-idx", 1, "--dim", d,
                              "--max-positions", n, fmt="json"))
    t = json_table(doc)
    check((t[1] == 0).all() and not np.signbit(t[1]).any(), f"padding row 1 is {t[1]}")
    check(all((t[r] != 0).any() for r in range(n) if r != 1), "a non-padding row is all zero")
    check_close(t, fairseq_reference(range(n), d, padding_idx=1), 1e-6, "fairseq vs float64")
    # Without --padding-idx no row is zero.
    t = json_table(read_json(cli.table(*SIN, "--preset", "fairseq", "--dim", d, "--max-positions",
                                       n, fmt="json", name="nopad.json")))
    check_close(t, fairseq_reference(range(n), d), 1e-6, "fairseq without padding")


def case_odd_dim_zero_column(cli):
    n = 20
    for preset, d in (("fairseq", 7), ("tensor2tensor", 9)):
        t = json_table(read_json(cli.table(*SIN, "--preset", preset, "--dim", d, "--max-positions",
                                           n, fmt="json", name=f"{preset}.json")))
        check(t.shape == (n, d), f"{preset}: shape {t.shape}")
        check((t[:, -1] == 0).all(), f"{preset} dim {d}: last column {t[:, -1]} is not zero")
        check_close(t, fairseq_reference(range(n), d), 1e-6, f"{preset} dim {d}")
    # Marian: ceil(d/2) sines then floor(d/2) cosines of the Vaswani frequencies; no zero column.
    d = 7
    t = json_table(read_json(cli.table(*SIN, "--preset", "marian", "--dim", d, "--max-positions", n,
                                       fmt="json", name="marian.json")))
    ang = np.arange(n, dtype=np.float64)[:, None] * 10000.0 ** (-2.0 * np.arange(4) / d)
    ref = np.concatenate([np.sin(ang), np.cos(ang[:, :3])], axis=1)
    check_close(t, ref, 1e-6, "marian dim 7")


def case_learned(cli):
    L = ("table", "--kind", "learned", "--dim", 64, "--max-positions", 256)
    zeros, _ = read_npy(cli.table(*L, "--init", "zeros", fmt="npy", name="zeros.npy"))
    check(zeros.shape == (256, 64) and (zeros == 0).all(), "--init zeros is not all zero")
    a, _ = read_npy(cli.table(*L, "--seed", 7, fmt="npy", name="a.npy"))
    b, _ = read_npy(cli.table(*L, "--seed", 7, fmt="npy", name="b.npy"))
    c, _ = read_npy(cli.table(*L, "--seed", 8, fmt="npy", name="c.npy"))
    check_bitwise(a, b, "same seed, same table")
    check((a != c).mean() > 0.99, "a different seed gives (nearly) the same table")
    check(abs(float(a.mean())) < 0.002 and abs(float(a.std()) / 0.02 - 1) < 0.05,
          f"--init normal: mean {a.mean():.4g}, std {a.std():.4g}, want 0 and 0.02")
    s, _ = read_npy(cli.table(*L, "--std", 0.5, fmt="npy", name="s.npy"))
    check(abs(float(s.std()) / 0.5 - 1) < 0.05, f"--std 0.5 gives std {s.std():.4g}")
    sin_l, _ = read_npy(cli.table(*L, "--init", "sinusoidal", fmt="npy", name="sl.npy"))
    sin_t, _ = read_npy(cli.table(*SIN, "--dim", 64, "--max-positions", 256, fmt="npy",
                                  name="st.npy"))
    check_bitwise(sin_l, sin_t, "--init sinusoidal vs --kind sinusoidal")
    doc = read_json(cli.table(*L, "--seed", 7, "--dtype", "bf16", fmt="json", name="l.json",
                              extra=("--plot", cli.path("l.png"))))
    for key, want in [("kind", "learned"), ("init", "normal"), ("seed", 7), ("std", 0.02),
                      ("dim", 64), ("dtype", "bf16")]:
        check(doc.get(key) == want, f"json field {key!r} = {doc.get(key)!r}, want {want!r}")
    bf = json_table(doc)
    check(np.all(np.abs(bf - a) <= 2.0 ** -8 * np.abs(a)), "bf16 learned table vs f32 table")
    check_png(cli.path("l.png"))
    no_temporaries(cli)


def check_png(path, width=1000, height=700):
    check(os.path.isfile(path), f"{path} was not written")
    with open(path, "rb") as f:
        head = f.read(33)
    check(head[:8] == b"\x89PNG\r\n\x1a\n", f"{path}: not a PNG (magic {head[:8]!r})")
    check(head[12:16] == b"IHDR", f"{path}: first chunk {head[12:16]!r}, want IHDR")
    w, h = struct.unpack(">II", head[16:24])
    check((w, h) == (width, height), f"{path}: {w} x {h} pixels, want {width} x {height}")
    size = os.path.getsize(path)
    check(size > 20000, f"{path}: only {size} bytes: an empty plot?")


def case_heatmap(cli):
    out = cli.table(*SIN, "--dim", 128, "--max-positions", 256, fmt="json",
                    extra=("--plot", cli.path("heatmap.png")))
    check_png(cli.path("heatmap.png"))
    check(json_table(read_json(out)).shape == (256, 128), "table written next to the heatmap")
    # A list of positions, a table on stdout and an odd fairseq table: still a heatmap.
    cli.run(*SIN, "--preset", "fairseq", "--padding-idx", 1, "--dim", 63, "--positions",
            "0,1,2,5,10,50,100,1000,5000,20000", "--format", "csv", "--plot", cli.path("list.png"))
    check_png(cli.path("list.png"))
    no_temporaries(cli)


CASES = {name[len("case_"):]: fn for name, fn in globals().items() if name.startswith("case_")}

if __name__ == "__main__":
    main(CASES, sys.argv)
