#!/usr/bin/python3
"""posenc demo / train / eval / extrapolate: the pipeline commands, end to end.

usage: test_pipeline_cli.py POSENC_BINARY SCRATCH_DIR CASE

Everything is checked with independent means: the demo's printed numbers against float64 NumPy formulas
(sinusoidal table, RoPE angles, ALiBi slopes, T5 buckets), metrics CSV and JSON read with Python's csv and
json and compared with each other and with `posenc eval`, PNG files parsed chunk by chunk (CRCs, IHDR,
inflated image data), results.md parsed as a table. Runs are tiny (dim 32, length 4, 20-40 steps) so that
each case takes seconds.
"""
import csv
import json
import math
import os
import random
import re
import signal
import stat
import struct
import subprocess
import sys
import time
import zlib

import numpy as np

from cli_common import check, fail, main, read_json, vaswani_reference

SMALL = ("--len", 4, "--dim", 32, "-q")


# ---- independent readers -------------------------------------------------------------------------------

def read_png(path):
    """Parses a PNG from its specification: signature, chunk CRCs, IHDR, IDAT inflated to the exact size
    the header implies. Returns (width, height)."""
    check(os.path.isfile(path), f"{path}: missing")
    with open(path, "rb") as f:
        raw = f.read()
    check(raw[:8] == b"\x89PNG\r\n\x1a\n", f"{path}: bad PNG signature {raw[:8]!r}")
    pos, chunks = 8, []
    while pos < len(raw):
        check(pos + 12 <= len(raw), f"{path}: truncated chunk at byte {pos}")
        (n,) = struct.unpack(">I", raw[pos:pos + 4])
        kind = raw[pos + 4:pos + 8]
        data = raw[pos + 8:pos + 8 + n]
        check(len(data) == n, f"{path}: chunk {kind!r} runs past the end")
        (crc,) = struct.unpack(">I", raw[pos + 8 + n:pos + 12 + n])
        check(zlib.crc32(kind + data) & 0xFFFFFFFF == crc, f"{path}: bad CRC in chunk {kind!r}")
        chunks.append((kind, data))
        pos += 12 + n
        if kind == b"IEND":
            break
    check(chunks and chunks[0][0] == b"IHDR", f"{path}: first chunk is not IHDR")
    check(chunks[-1][0] == b"IEND", f"{path}: no IEND chunk")
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(color)
    check(channels is not None, f"{path}: color type {color}")
    check(interlace == 0, f"{path}: interlaced")
    pixels = zlib.decompress(b"".join(d for k, d in chunks if k == b"IDAT"))
    row = 1 + (width * channels * depth + 7) // 8
    check(len(pixels) == height * row, f"{path}: {len(pixels)} bytes of image data, expected {height * row}")
    check(all(pixels[r * row] <= 4 for r in range(height)), f"{path}: bad filter byte")
    return width, height


def check_png(path, min_side=100):
    w, h = read_png(path)
    check(w > min_side and h > min_side, f"{path}: {w} x {h} pixels, expected both > {min_side}")


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def finite(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def t5_bucket(rel, num_buckets=32, max_distance=128, bidirectional=True):
    """T5's _relative_position_bucket (relative = key - query), in plain Python."""
    ret = 0
    n = -rel
    if bidirectional:
        num_buckets //= 2
        ret += num_buckets if n < 0 else 0
        n = abs(n)
    else:
        n = max(n, 0)
    max_exact = num_buckets // 2
    if n < max_exact:
        return ret + n
    val = max_exact + int(math.log(n / max_exact) / math.log(max_distance / max_exact)
                          * (num_buckets - max_exact))
    return ret + min(val, num_buckets - 1)


def check_order(o, compared, where):
    """An evaluation cell's "order" object (model/order.hpp): compared positions, sensitivity in [0, 1]
    (a trained model's is above 0), and the metrics in order and shuffled."""
    check(isinstance(o, dict), f"order: want an object, got {o!r} in {where}")
    check(o["compared_tokens"] == compared, f"order: {o['compared_tokens']} compared tokens, want {compared}")
    check(finite(o["sensitivity"]) and 0 < o["sensitivity"] <= 1, f"order sensitivity {o}")
    for k in ("loss", "shuffled_loss"):
        check(finite(o[k]) and o[k] > 0, f"order {k} {o}")
    for k in ("accuracy", "shuffled_accuracy"):
        check(finite(o[k]) and 0 <= o[k] <= 1, f"order {k} {o}")


def expect_fail(cli, args, names, where=None, timeout=60):
    """posenc args must fail with exit status 1..127 (never a signal or a crash), one line
    'posenc: error: ...' naming every string of names as the last line of stderr, and leave `where`
    (a directory) unchanged. Returns stderr."""
    where = where or cli.scratch
    before = sorted(os.listdir(where))
    rc, out, err = cli.run(*args, expect_ok=False, timeout=timeout)
    shown = "posenc " + " ".join(map(str, args))
    check(rc != 0, f"{shown}: exit status 0, want an error\n{out.decode(errors='replace')}")
    check(1 <= rc <= 127, f"{shown}: exit status {rc}\n{err}")
    for bad in ("terminate called", "Traceback", "Exception raised from", "frame #", "Segmentation",
                "Aborted", "what():"):
        check(bad not in err, f"{shown}: stderr looks like a crash ({bad!r}): {err!r}")
    lines = [l for l in err.splitlines() if l.strip()]
    errs = [l for l in lines if "posenc: error:" in l]
    check(len(errs) == 1, f"{shown}: want exactly one 'posenc: error:' line, got {errs}: {err!r}")
    check(errs[0].startswith("posenc: error: "), f"{shown}: error line {errs[0]!r}")
    # After the error line: nothing, or CLI11's "Run 'posenc ... --help'" hint.
    tail = lines[lines.index(errs[0]) + 1:]
    check(all(l.startswith("Run ") for l in tail), f"{shown}: stderr after the error line: {tail}")
    for name in names:
        check(name in errs[0], f"{shown}: error message does not name {name!r}: {errs[0]!r}")
    after = sorted(os.listdir(where))
    check(after == before, f"{shown}: left {set(after) - set(before)} in {where}")
    return errs[0]


def sections(text):
    """The demo's numbered sections: {number: [lines]}; checks they come in order 1, 2, 3, ..."""
    out, order, cur = {}, [], None
    for line in text.splitlines():
        m = re.match(r"^(\d+)\. ", line)
        if m:
            cur = int(m.group(1))
            order.append(cur)
            out[cur] = [line]
        elif cur is not None:
            out[cur].append(line)
    check(order == sorted(order) and len(set(order)) == len(order), f"demo sections out of order: {order}")
    return out


def vec_rows(lines, key_re):
    """Rows like '   The        [ -0.012  0.998 ... ]' -> [(key, [floats])]."""
    rows = []
    for line in lines:
        m = re.match(r"^\s+(" + key_re + r")\s+\[([^\]]*)\]", line)
        if m:
            vals = [float(v) for v in m.group(2).replace("...", " ").split()]
            rows.append((m.group(1).strip(), vals))
    return rows


def order_distances(sec6, pe_name):
    text = "\n".join(sec6)
    m0 = re.search(r"bidirectional encoder, no PE:\s+(\S+)\s+\((\S+)\)", text)
    m1 = re.search(r"bidirectional encoder, " + re.escape(pe_name) + r":\s+(\S+)\s+\((\S+)\)", text)
    m2 = re.search(r"causal decoder, no PE:\s+(\S+)\s+\((\S+)\)", text)
    check(m0 and m1 and m2, f"section 6 lacks the three distance lines for {pe_name}:\n{text}")
    return float(m0.group(1)), float(m1.group(1)), float(m2.group(1))


def demo_tokens(sec1):
    rows = [re.match(r"^\s+(\d+)\s+(\S+)\s+(\d+)\s*$", l) for l in sec1[2:]]
    rows = [m for m in rows if m]
    return [(int(m.group(1)), m.group(2), int(m.group(3))) for m in rows]


SENTENCE_TOKENS = ["The", "quick", "brown", "fox", "jumps", "."]


def check_demo_common(text, pe_name, order_name):
    """What every random-weights demo of the default sentence prints."""
    sec = sections(text)
    for k in range(1, 7):
        check(k in sec, f"demo --pe {pe_name}: no section {k}:\n{text}")
    toks = demo_tokens(sec[1])
    check([t[1] for t in toks] == SENTENCE_TOKENS, f"demo --pe {pe_name}: tokens {toks}")
    check([t[0] for t in toks] == list(range(6)), f"demo --pe {pe_name}: positions {toks}")
    # Word tokenizer built from the sentence: ids in order of first appearance.
    check([t[2] for t in toks] == list(range(6)), f"demo --pe {pe_name}: ids {toks}")
    check(f"({pe_name})" in sec[3][0], f"demo --pe {pe_name}: section 3 header {sec[3][0]!r}")
    d0, d1, d2 = order_distances(sec[6], order_name)
    check(d0 < 1e-5, f"demo --pe {pe_name}: no-PE encoder distance {d0} (want < 1e-5: equivariant)")
    check(d1 > 1e-2, f"demo --pe {pe_name}: {order_name} encoder distance {d1} (want > 1e-2)")
    check(d2 > 1e-2, f"demo --pe {pe_name}: causal no-PE distance {d2} (want > 1e-2)")
    # The sum for an additive PE; E alone (said so) for the encodings that act inside attention.
    additive = pe_name in ("sinusoidal", "learned")
    pat = r"max \|fused - \(E \+ PE\) computed separately\| = (\S+)" if additive else \
        r"max \|fused - E computed separately\| = (\S+) \(no PE is added"
    m = re.search(pat, "\n".join(sec[4]))
    check(m and float(m.group(1)) == 0.0, f"demo --pe {pe_name}: fused vs separate: {sec[4]}")
    return sec


# ---- 1. demo_default ------------------------------------------------------------------------------------

def case_demo_default(cli):
    out_dir = cli.path("demo")
    rc, out, err = cli.run("demo", "--out", out_dir)
    text = out.decode()
    sec = check_demo_common(text, "sinusoidal", "sinusoidal")
    check(7 in sec, f"no section 7:\n{text}")
    # the tokens, in order, in the printed text
    pos = 0
    for tok in SENTENCE_TOKENS:
        i = text.find(tok, pos)
        check(i >= 0, f"token {tok!r} missing or out of order in stdout")
        pos = i + len(tok)
    dim = 16  # the demo's default width
    # 2: E rows; 3: PE rows against the float64 formula; 4: their sum, to the printed precision.
    E = vec_rows(sec[2], r"\S+")
    PE = vec_rows(sec[3], r"pos \d+")
    X = vec_rows(sec[4], r"\S+")
    check(len(E) == 6 and len(PE) == 6 and len(X) == 6, f"rows: E {len(E)}, PE {len(PE)}, X {len(X)}")
    check([k for k, _ in E] == SENTENCE_TOKENS and [k for k, _ in X] == SENTENCE_TOKENS, "row labels")
    pe = np.array([v for _, v in PE])
    check(pe.shape == (6, 6), f"PE rows print 6 values each: {pe.shape}")
    ref = vaswani_reference(range(6), dim)[:, :6]
    check(np.abs(pe - ref).max() <= 6e-4, f"section 3 PE vs formula: max err {np.abs(pe - ref).max()}")
    e, x = np.array([v for _, v in E]), np.array([v for _, v in X])
    check(np.abs(x - (e + ref)).max() <= 1.6e-3, f"section 4 != E + PE: {np.abs(x - (e + ref)).max()}")
    check("max |fused - (E + PE) computed separately| = 0\n" in text, "fused line")
    files = sorted(os.listdir(out_dir))
    check(files == ["attention.png", "pe_heatmap.png", "pe_similarity.png"], f"--out files: {files}")
    for f in files:
        check_png(os.path.join(out_dir, f))
        check(os.path.join(out_dir, f) in "\n".join(sec[7]), f"section 7 does not list {f}")


# ---- 2. demo_every_pe -----------------------------------------------------------------------------------

def case_demo_every_pe(cli):
    plots = {"none": ["attention.png"], "alibi": ["attention.png", "pe_heatmap.png"],
             "t5": ["attention.png", "pe_heatmap.png"]}
    for pe in ("none", "learned", "rope", "alibi", "t5"):
        out_dir = cli.path("out_" + pe)
        args = ["demo", "--pe", pe, "--out", out_dir]
        if pe not in plots:
            args.append("--no-plots")
        rc, out, err = cli.run(*args)
        text = out.decode()
        sec = check_demo_common(text, pe, "sinusoidal" if pe == "none" else pe)
        s3 = "\n".join(sec[3])
        pe_rows = vec_rows(sec[3], r"pos \d+")
        if pe == "none":
            check(not pe_rows and "NoPE" in s3, f"none: section 3 {s3!r}")
            check("+ PE" not in sec[4][0], f"none: section 4 header {sec[4][0]!r}")
        elif pe == "learned":
            check(len(pe_rows) == 6 and "[64 x 16]" in s3, f"learned: section 3 {s3!r}")
            vals = np.array([v for _, v in pe_rows])
            # N(0, 0.02^2) initialisation: small, not all equal, not zero
            check(np.abs(vals).max() < 0.2 and np.abs(vals).max() > 0, f"learned rows {vals}")
            check("+ PE(pos)" in sec[4][0], f"learned: section 4 header {sec[4][0]!r}")
        elif pe == "rope":
            rows = [re.match(r"^\s+pos (\d+)\s+(.*?)\s+\.\.\.\s*$", l) for l in sec[3]]
            rows = [(int(m.group(1)), [float(v) for v in m.group(2).split()]) for m in rows if m]
            check([p for p, _ in rows] == list(range(6)), f"rope: angle rows {rows}")
            head_dim = 16 // 4
            w = 10000.0 ** (-2.0 * np.arange(head_dim // 2) / head_dim)
            for p, vals in rows:
                check(len(vals) == len(w), f"rope: pos {p}: {vals}")
                check(np.abs(np.array(vals) - p * w).max() <= 6e-5, f"rope: pos {p}: {vals} vs {p * w}")
        elif pe == "alibi":
            m = re.search(r"slopes per head:\s*(.*)", s3)
            got = np.array([float(v) for v in m.group(1).split()]) if m else None
            want = 2.0 ** (-8.0 * np.arange(1, 5) / 4)
            check(got is not None and got.shape == want.shape and np.allclose(got, want, rtol=1e-3),
                  f"alibi slopes {got} vs {want}")
        elif pe == "t5":
            m = re.search(r"distances -3\.\.3:\s*(.*)", s3)
            got = [int(v) for v in m.group(1).split()] if m else None
            want = [t5_bucket(d) for d in range(-3, 4)]
            check(got == want, f"t5 buckets {got} vs {want}")
        if pe in plots:
            files = sorted(os.listdir(out_dir))
            check(files == plots[pe], f"demo --pe {pe} --out: files {files}, want {plots[pe]}")
            for f in files:
                check_png(os.path.join(out_dir, f))
                check(os.path.join(out_dir, f) in "\n".join(sec.get(7, [])), f"section 7 omits {f}")
            check("pe_similarity.png" not in text, f"demo --pe {pe}: mentions a similarity matrix")
        else:
            check(7 not in sec, f"demo --pe {pe} --no-plots printed section 7")
            check(not os.path.exists(out_dir), f"demo --pe {pe} --no-plots created {out_dir}")


# ---- 3. train_eval --------------------------------------------------------------------------------------

def case_train_eval(cli):
    ck, mcsv, mjson, ejson = (cli.path(n) for n in ("copy.pt", "m.csv", "m.json", "e.json"))
    rc, out, err = cli.run("train", "--task", "copy", "--steps", 30, *SMALL, "--checkpoint", ck,
                           "--metrics-csv", mcsv, "--metrics-json", mjson, "--eval-every", 10)
    check(os.path.isfile(ck), "no checkpoint")
    rows = read_csv(mcsv)
    check(len(rows) == 30, f"CSV has {len(rows)} rows, want 30")
    check([int(r["step"]) for r in rows] == list(range(1, 31)), "CSV steps are not 1..30")
    want_cols = ["step", "lr", "loss", "grad_norm", "tokens_per_s", "elapsed_s", "eval_loss", "eval_accuracy"]
    check(list(rows[0].keys()) == want_cols, f"CSV columns {list(rows[0].keys())}")
    for r in rows:
        step = int(r["step"])
        filled = r["eval_loss"] != "" and r["eval_accuracy"] != ""
        check(filled == (step % 10 == 0), f"step {step}: eval columns {r['eval_loss']!r} {r['eval_accuracy']!r}")
        check(math.isfinite(float(r["loss"])) and float(r["loss"]) > 0, f"step {step}: loss {r['loss']}")
        check(0 < float(r["lr"]) <= 3e-3 * (1 + 1e-12), f"step {step}: lr {r['lr']} outside (0, 3e-3]")
        if filled:
            check(0 <= float(r["eval_accuracy"]) <= 1, f"step {step}: accuracy {r['eval_accuracy']}")
    check(math.isclose(float(rows[-1]["lr"]), 3e-4, rel_tol=1e-6),
          f"final lr {rows[-1]['lr']}, want the cosine floor 10% of 3e-3")
    elapsed = [float(r["elapsed_s"]) for r in rows]
    check(elapsed == sorted(elapsed), "elapsed_s is not non-decreasing")
    doc = read_json(mjson)
    hist = doc["history"]
    check(len(hist) == 30, f"JSON history has {len(hist)} entries")
    for r, h in zip(rows, hist):
        check(set(h.keys()) == set(want_cols), f"JSON history keys {sorted(h.keys())}")
        for col in want_cols:
            c, j = r[col], h[col]
            if c == "":
                check(j is None, f"step {r['step']}: {col} empty in CSV but {j!r} in JSON")
            else:
                check(j is not None and math.isclose(float(c), float(j), rel_tol=2e-8, abs_tol=1e-12),
                      f"step {r['step']}: {col} CSV {c} vs JSON {j}")
    check(doc["model"]["dim"] == 32 and doc["train"]["steps"] == 30 and doc["train"]["train_len"] == 4
          and doc["train"]["eval_every"] == 10, f"JSON config {doc['model']} {doc['train']}")

    rc, out, err = cli.run("eval", "--checkpoint", ck, "--lens", "4,8", "--json", ejson)
    res = read_json(ejson)["results"]
    check([r["eval_len"] for r in res] == [4, 8], f"eval results {res}")
    for r in res:
        check(r["status"] == "ok", f"eval {r}")
        check(finite(r["accuracy"]) and 0 <= r["accuracy"] <= 1, f"accuracy {r}")
        check(finite(r["loss"]) and r["loss"] > 0, f"loss {r}")
        check_order(r["order"], 256 * r["eval_len"], r)
    # Same held-out batches as training's final evaluation: the same loss and accuracy.
    check(math.isclose(res[0]["loss"], float(rows[-1]["eval_loss"]), rel_tol=1e-6),
          f"eval at 4: loss {res[0]['loss']} vs training's final eval {rows[-1]['eval_loss']}")
    check(math.isclose(res[0]["accuracy"], float(rows[-1]["eval_accuracy"]), rel_tol=1e-9),
          f"eval at 4: accuracy {res[0]['accuracy']} vs {rows[-1]['eval_accuracy']}")
    check("(step 30)" in out.decode(), f"eval does not show step 30: {out.decode()}")

    # learned: length 8 needs 17 positions, the table has 9: not applicable, never a number.
    ck2, ej2 = cli.path("learned.pt"), cli.path("e_learned.json")
    cli.run("train", "--task", "copy", "--pe", "learned", "--steps", 20, *SMALL, "--checkpoint", ck2)
    rc, out, err = cli.run("eval", "--checkpoint", ck2, "--lens", "4,8", "--json", ej2)
    res = read_json(ej2)["results"]
    check([r["eval_len"] for r in res] == [4, 8], f"learned eval results {res}")
    check(res[0]["status"] == "ok" and finite(res[0]["accuracy"]), f"learned at 4: {res[0]}")
    r8 = res[1]
    check(r8["status"] == "not_applicable", f"learned at 8: {r8}")
    check(isinstance(r8.get("reason"), str) and "learned" in r8["reason"], f"learned at 8 reason: {r8}")
    check(not finite(r8.get("accuracy")) and not finite(r8.get("loss")), f"learned at 8 has a number: {r8}")
    line8 = [l for l in out.decode().splitlines() if l.split()[:1] == ["8"]]
    check(len(line8) == 1 and "n/a" in line8[0], f"eval table row for length 8: {line8}")
    # Like extrapolate's results.json: the metric keys are present with null values.
    check("accuracy" in r8 and r8["accuracy"] is None and "loss" in r8 and r8["loss"] is None,
          f"learned at 8: want \"accuracy\": null and \"loss\": null (as in extrapolate), got {r8}")
    check("order" in r8 and r8["order"] is None, f"learned at 8: want \"order\": null, got {r8}")


# ---- 4. resume_equality ---------------------------------------------------------------------------------

def case_resume_equality(cli):
    flags = ("train", "--task", "copy", "--steps", 30, *SMALL, "--threads", 1, "--dropout", 0.1,
             "--eval-every", 10)
    u_ck, u_csv, u_json = cli.path("u.pt"), cli.path("u.csv"), cli.path("u.json")
    r_ck, r_csv, r_json = cli.path("r.pt"), cli.path("r.csv"), cli.path("r.json")
    cli.run(*flags, "--checkpoint", u_ck, "--metrics-csv", u_csv, "--metrics-json", u_json)
    rc, out, err = cli.run(*flags, "--checkpoint", r_ck, "--metrics-csv", r_csv, "--metrics-json", r_json,
                           "--stop-after", 12)
    check("stopped at step 12" in out.decode(), f"--stop-after 12: {out.decode()!r}")
    check(os.path.isfile(r_ck), "--stop-after wrote no checkpoint")
    part = read_csv(r_csv)
    check([int(r["step"]) for r in part] == list(range(1, 13)), f"interrupted CSV steps {len(part)}")
    cli.run(*flags, "--checkpoint", r_ck, "--metrics-csv", r_csv, "--metrics-json", r_json, "--resume")
    u, r = read_csv(u_csv), read_csv(r_csv)
    check([x["step"] for x in r] == [str(i) for i in range(1, 31)], "resumed CSV steps are not 1..30")
    check(len(u) == 30, f"uninterrupted CSV: {len(u)} rows")
    for col in ("loss", "lr", "grad_norm", "eval_loss", "eval_accuracy"):
        a, b = [x[col] for x in u], [x[col] for x in r]
        diff = [i + 1 for i, (p, q) in enumerate(zip(a, b)) if p != q]
        check(not diff, f"resumed run: {col} differs from the uninterrupted run at steps {diff}: "
                        f"{[(a[i - 1], b[i - 1]) for i in diff[:3]]}")
    uj, rj = read_json(u_json)["history"], read_json(r_json)["history"]
    check([h["loss"] for h in uj] == [h["loss"] for h in rj], "JSON losses differ after resume")
    # dropout is really on: a run without it takes other steps
    d_csv = cli.path("d0.csv")
    cli.run("train", "--task", "copy", "--steps", 3, *SMALL, "--threads", 1, "--metrics-csv", d_csv)
    check([x["loss"] for x in read_csv(d_csv)][1:3] != [x["loss"] for x in u][1:3],
          "losses with --dropout 0.1 equal those without dropout")
    # --min-lr-ratio: the cosine decay ends at lr * ratio (no warm-up here: step k of n has p = k / n).
    s_csv = cli.path("sched.csv")
    cli.run("train", "--task", "copy", "--steps", 6, *SMALL, "--threads", 1, "--warmup", 0, "--lr", 0.01,
            "--min-lr-ratio", 0.25, "--metrics-csv", s_csv)
    lo = 0.01 * 0.25
    want = [lo + 0.5 * (0.01 - lo) * (1 + math.cos(math.pi * k / 6)) for k in range(1, 7)]
    got = [float(x["lr"]) for x in read_csv(s_csv)]
    check(len(got) == 6 and all(abs(g - w) <= 1e-8 * w for g, w in zip(got, want)),
          f"--min-lr-ratio 0.25: learning rates {got}, want {want}")


# ---- 5. kill_never_half_written -------------------------------------------------------------------------

def case_kill_never_half_written(cli):
    ck = cli.path("k.pt")
    base = [cli.binary, "train", "--task", "copy", "--steps", 2000, *SMALL, "--checkpoint-every", 1,
            "--checkpoint", ck]
    base = [str(a) for a in base]
    rng = random.Random(20240611)
    last_step, kills_with_file = -1, 0
    for i in range(4):
        resume = os.path.exists(ck)
        start = time.monotonic()
        mtime0 = os.stat(ck).st_mtime_ns if resume else None
        proc = subprocess.Popen(base + (["--resume"] if resume else []), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        if i == 0:
            time.sleep(rng.uniform(0.3, 1.5))  # may well be before the first checkpoint
        else:
            # wait until this run is writing checkpoints, then kill at a random moment
            deadline = start + 30
            while time.monotonic() < deadline and proc.poll() is None:
                if os.path.exists(ck) and os.stat(ck).st_mtime_ns != mtime0:
                    break
                time.sleep(0.02)
            time.sleep(rng.uniform(0.3, 1.5))
        if proc.poll() is not None:
            fail(f"train run {i} ended by itself (status {proc.returncode}) before the kill: "
                 f"{proc.stderr.read().decode(errors='replace')}")
        # The last run gets SIGTERM, whose handler removes the checkpoint's temporary (a write may be
        # in progress); SIGKILL cannot be handled and may leave one behind.
        temps_before = {f for f in os.listdir(cli.scratch) if f.startswith("k.pt.tmp.")}
        sig = signal.SIGTERM if i == 3 else signal.SIGKILL
        proc.send_signal(sig)
        proc.wait()
        proc.stderr.close()
        check(proc.returncode == -sig, f"run {i}: exit status {proc.returncode} after signal {int(sig)}")
        temps = sorted(f for f in os.listdir(cli.scratch) if f.startswith("k.pt.tmp."))
        print(f"kill {i} ({sig.name}) after {time.monotonic() - start:.2f}s: checkpoint "
              f"{'present' if os.path.exists(ck) else 'absent'}, temporaries {temps}")
        for t in temps:
            check(re.fullmatch(r"k\.pt\.tmp\.\d+\.[0-9a-f]{16}", t), f"unexpected temporary name {t}")
        if sig == signal.SIGTERM:
            check(set(temps) <= temps_before, f"SIGTERM left temporaries {set(temps) - temps_before}")
        if i > 0:
            check(os.path.exists(ck), f"kill {i}: no checkpoint although the run was writing them")
        if os.path.exists(ck):
            kills_with_file += 1
            rc, out, err = cli.run("eval", "--checkpoint", ck, "--eval-sequences", 32, expect_ok=False)
            check(rc == 0, f"kill {i}: the checkpoint does not load (exit {rc}): {err}")
            m = re.search(r"\(step (\d+)\)", out.decode())
            check(m, f"kill {i}: eval does not show the step: {out.decode()!r}")
            step = int(m.group(1))
            check(1 <= step < 2000 and step >= last_step, f"kill {i}: checkpoint step {step} after {last_step}")
            if i > 0:
                check(step > last_step, f"kill {i}: the resumed run made no progress (step {step})")
            last_step = step
    check(kills_with_file >= 3, f"only {kills_with_file} kills found a checkpoint")


# ---- 6. lm_tokenizers -----------------------------------------------------------------------------------

def english_text(seed=1234, size=6000):
    r = random.Random(seed)
    subj = ["the cat", "a dog", "my friend", "the old man", "a young girl", "the teacher", "our neighbor",
            "the bird"]
    verb = ["sees", "likes", "finds", "watches", "follows", "helps", "calls", "meets"]
    obj = ["the ball", "a house", "the river", "a small tree", "the garden", "a red car", "the moon",
           "an apple"]
    adv = ["today", "slowly", "again", "at night", "in the morning", "with care"]
    lines, n = [], 0
    while n < size:
        s = f"{r.choice(subj).capitalize()} {r.choice(verb)} {r.choice(obj)} {r.choice(adv)}."
        lines.append(s)
        n += len(s) + 1
    return "\n".join(lines) + "\n"


def case_lm_tokenizers(cli):
    text = english_text()
    data = cli.path("text.txt")
    with open(data, "w") as f:
        f.write(text)
    cks = {}
    for tok in ("char", "word", "sentencepiece"):
        ck, ej = cli.path(f"lm_{tok}.pt"), cli.path(f"eval_{tok}.json")
        cli.run("train", "--task", "lm", "--data", data, "--tokenizer", tok, "--spm-vocab", 64, "--len", 16,
                "--steps", 20, "--dim", 32, "--checkpoint", ck, "-q")
        cks[tok] = ck
        cli.run("eval", "--checkpoint", ck, "--data", data, "--json", ej, "--eval-sequences", 64)
        res = read_json(ej)["results"]
        check(len(res) == 1 and res[0]["eval_len"] == 16 and res[0]["status"] == "ok", f"{tok}: {res}")
        ppl, loss = res[0].get("ppl"), res[0].get("loss")
        check(finite(ppl) and ppl > 1, f"{tok}: perplexity {ppl}")
        check(finite(loss) and math.isclose(ppl, math.exp(loss), rel_tol=1e-9), f"{tok}: ppl {ppl} loss {loss}")
        # lm: the first half of each 16-token window shuffled, the second half compared.
        windows = res[0]["order"]["compared_tokens"] // 8 if res[0]["order"] else 0
        check(1 <= windows <= 64, f"{tok}: order {res[0]['order']}")
        check_order(res[0]["order"], windows * 8, res[0])
    # A character outside the char vocabulary; a word outside the word vocabulary.
    where = cli.path("bad")
    os.makedirs(where)
    at = text.index("\n", 2000) + 1
    g_char = os.path.join(where, "g_char.txt")
    with open(g_char, "w", encoding="utf-8") as f:
        f.write(text[:at] + "caf\u00e9 " + text[at:])  # c, a, f are in the vocabulary
    byte = len((text[:at] + "caf").encode())
    err = expect_fail(cli, ("eval", "--checkpoint", cks["char"], "--data", g_char), ["'\u00e9'", "byte"],
                      where=where)
    check(f"byte {byte}" in err, f"char OOV: want the offset 'byte {byte}': {err!r}")
    g_word = os.path.join(where, "g_word.txt")
    with open(g_word, "w") as f:
        f.write(text[:at] + "The zebra sees a dog. " + text[at:])
    byte = len((text[:at] + "The ").encode())
    err = expect_fail(cli, ("eval", "--checkpoint", cks["word"], "--data", g_word), ["'zebra'", "byte"],
                      where=where)
    check(f"byte {byte}" in err, f"word OOV: want the offset 'byte {byte}': {err!r}")
    # SentencePiece maps unknown text to <unk>: no error.
    cli.run("eval", "--checkpoint", cks["sentencepiece"], "--data", g_char, "--eval-sequences", 16)


# ---- 7. extrapolate_small -------------------------------------------------------------------------------

def case_extrapolate_small(cli):
    out_dir = cli.path("ex")
    pes = ["none", "learned", "rope"]
    cli.run("extrapolate", "--pes", ",".join(pes), "--steps", 20, "--train-len", 4, "--eval-lens", "4,8",
            "--dim", 32, "--out", out_dir, "-q")
    check(sorted(os.listdir(out_dir)) == ["extrapolation.png", "order.png", "results.json", "results.md"],
          f"--out files {sorted(os.listdir(out_dir))}")
    doc = read_json(os.path.join(out_dir, "results.json"))
    cfg = doc["config"]
    for k, v in {"task": "copy", "train_len": 4, "eval_lens": [4, 8], "pes": pes, "dim": 32, "steps": 20}.items():
        check(cfg.get(k) == v, f"config {k} = {cfg.get(k)!r}, want {v!r}")
    res = doc["results"]
    check(len(res) == 6, f"{len(res)} results, want 6")
    check([(r["pe"], r["eval_len"]) for r in res] == [(p, n) for p in pes for n in (4, 8)],
          f"results order {[(r['pe'], r['eval_len']) for r in res]}")
    for r in res:
        keys = {"pe", "eval_len", "loss", "accuracy", "status", "order"}
        check(keys <= set(r.keys()) and set(r.keys()) - keys <= {"reason"}, f"result keys {sorted(r)}")
        if r["pe"] == "learned" and r["eval_len"] == 8:
            check(r["status"] == "not_applicable" and r["loss"] is None and r["accuracy"] is None,
                  f"learned at 8: {r}")
            check(isinstance(r.get("reason"), str) and r["reason"], f"learned at 8: no reason {r}")
            check(r["order"] is None, f"learned at 8: order {r}")
        else:
            check_order(r["order"], cfg["eval_sequences"] * r["eval_len"], r)
            check(r["status"] == "ok", f"{r}")
            check(finite(r["loss"]) and r["loss"] > 0, f"loss {r}")
            check(finite(r["accuracy"]) and 0 <= r["accuracy"] <= 1, f"accuracy {r}")
    # results.md: a table row per pe; cells = accuracy to 3 decimals, n/a for learned at 8.
    with open(os.path.join(out_dir, "results.md")) as f:
        md = f.read()
    # Then the order-sensitivity table: "sensitivity (shuffled accuracy)".
    check(md.count("Order sensitivity") == 1, f"results.md has no order-sensitivity table:\n{md}")
    tables = []
    for part in md.split("Order sensitivity"):
        table = {}
        for line in part.splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if line.startswith("|") and cells[0] in pes:
                table[cells[0]] = cells[1:]
        check(sorted(table) == sorted(pes), f"results.md rows {sorted(table)}:\n{md}")
        tables.append(table)
    for r in res:
        cell, ocell = (t[r["pe"]][[4, 8].index(r["eval_len"])] for t in tables)
        if r["status"] == "ok":
            check(cell == f"{r['accuracy']:.3f}", f"results.md {r['pe']} at {r['eval_len']}: {cell!r} vs {r}")
            o = r["order"]
            want = f"{o['sensitivity']:.3f} ({o['shuffled_accuracy']:.3f})"
            check(ocell == want, f"results.md order {r['pe']} at {r['eval_len']}: {ocell!r}, want {want!r}")
        else:
            check(cell == "n/a" and ocell == "n/a", f"results.md learned at 8: {cell!r} {ocell!r}")
    check_png(os.path.join(out_dir, "extrapolation.png"))
    check_png(os.path.join(out_dir, "order.png"))


# ---- 8. errors --------------------------------------------------------------------------------------------

def case_errors(cli):
    work = cli.path("work")
    bad = cli.path("bad")
    os.makedirs(work)
    os.makedirs(bad)
    copy_ck = os.path.join(work, "copy.pt")
    cli.run("train", "--task", "copy", "--steps", 5, *SMALL, "--checkpoint", copy_ck)
    data = os.path.join(work, "text.txt")
    with open(data, "w") as f:
        f.write(english_text(size=3000))
    word_ck = os.path.join(work, "word.pt")
    cli.run("train", "--task", "lm", "--data", data, "--tokenizer", "word", "--len", 8, "--steps", 5,
            "--dim", 32, "--checkpoint", word_ck, "-q")
    empty = os.path.join(work, "empty.txt")
    open(empty, "w").close()
    missing = os.path.join(work, "missing.txt")
    trunc = os.path.join(work, "trunc.pt")
    with open(copy_ck, "rb") as f:
        raw = f.read()
    with open(trunc, "wb") as f:
        f.write(raw[:len(raw) // 2])

    ck_out = ("--checkpoint", os.path.join(bad, "x.pt"))
    T = ("train", "--task", "copy", "--steps", 5, "-q", *ck_out)
    cases = [
        (("train", "--task", "lm", "--data", empty, "--steps", 5, "-q", *ck_out), ["--data", empty, "empty"]),
        (("train", "--task", "lm", "--data", missing, "--steps", 5, "-q", *ck_out),
         ["--data", missing, "No such file"]),
        ((*T, "--len", 4, "--dim", 32, "--pe", "xpos"), ["xpos", "rope"]),
        ((*T, "--len", 4, "--dim", 32, "--layers", 0), ["--layers", "0"]),
        ((*T, "--len", 4, "--dim", -1), ["--dim", "-1"]),
        ((*T, "--len", 4, "--dim", 0), ["--dim", "0"]),
        ((*T, "--len", 4, "--dim", 32, "--heads", 0), ["--heads", "0"]),
        ((*T, "--len", 4, "--dim", 32, "--batch", 0), ["--batch", "0"]),
        (("train", "--task", "copy", "--len", 4, "--dim", 32, "--steps", 0, "-q", *ck_out), ["--steps", "0"]),
        ((*T, "--dim", 32, "--len", 0), ["--len", "0"]),
        ((*T, "--dim", 32, "--len", 4, "--pe", "learned", "--ctx", 64, "--max-positions", 32),
         ["--ctx", "64", "--max-positions", "32"]),
        (("eval", "--checkpoint", trunc), [trunc, "truncated"]),
        (("demo", "--checkpoint", trunc, "--no-plots"), [trunc, "truncated"]),
        (("eval", "--checkpoint", missing), [missing]),
        (("demo", "--checkpoint", copy_ck, "--no-plots"), ["--checkpoint", "copy", "tokenizer"]),
        (("demo", "zebra", "--checkpoint", word_ck, "--no-plots"), ["'zebra'"]),
        # A directory is not an empty file: the message should say what it is (strerror EISDIR).
        (("train", "--task", "lm", "--data", work, "--steps", 5, "-q", *ck_out),
         ["--data", work, "directory"]),
        # Training options out of range, and an interruption with nowhere to save it (CLI audit).
        # An empty path (an unset shell variable) is an error: train --checkpoint "" trained without saving.
        (("train", "--task", "copy", "--steps", 5, "-q", "--checkpoint", ""), ["--checkpoint", "the path is empty"]),
        ((*T, "--metrics-csv", ""), ["--metrics-csv", "the path is empty"]),
        (("demo", "--out", "", "--no-plots"), ["--out", "the path is empty"]),
        ((*T, *SMALL, "--warmup", -5), ["--warmup", "-5"]),
        ((*T, *SMALL, "--weight-decay", -1), ["--weight-decay", "-1"]),
        ((*T, *SMALL, "--clip", "inf"), ["--clip", "inf"]),
        ((*T, *SMALL, "--checkpoint-every", -1), ["--checkpoint-every", "-1"]),
        ((*T, *SMALL, "--stop-after", -1), ["--stop-after", "-1"]),
        ((*T, *SMALL, "--min-lr-ratio", 1.5), ["--min-lr-ratio", "1.5", "0 .. 1"]),
        ((*T, *SMALL, "--lr", 0), ["--lr", "0", "> 0"]),
        ((*T, *SMALL, "--batch", 0), ["--batch", "0", ">= 1"]),
        # CLI audit: eval's sizes (--batch 0 crashed, --eval-sequences 0 reported a loss of 0), its
        # outputs over its inputs, lengths that overflowed, devices that never end.
        (("eval", "--checkpoint", copy_ck, "--batch", 0), ["--batch", "0", ">= 1"]),
        (("eval", "--checkpoint", copy_ck, "--eval-sequences", 0), ["--eval-sequences", "0", ">= 1"]),
        (("eval", "--checkpoint", copy_ck, "--threads", -1), ["--threads", "-1", "0 .. 1024"]),
        (("eval", "--checkpoint", copy_ck, "--json", copy_ck), ["--json", "--checkpoint", copy_ck]),
        (("eval", "--checkpoint", word_ck, "--data", data, "--json", data), ["--json", "--data", data]),
        (("eval", "--checkpoint", copy_ck, "--lens", "8,8"), ["--lens", "8", "twice"]),
        (("eval", "--checkpoint", copy_ck, "--lens", ""), ["--lens", "empty"]),
        (("eval", "--checkpoint", copy_ck, "--lens", 2 ** 63 - 1), ["--lens", str(2 ** 63 - 1), "1 .. 1073741824"]),
        (("eval", "--checkpoint", "/dev/zero"), ["/dev/zero", "device"]),
        ((*T, *SMALL, "--threads", 100000), ["--threads", "100000", "0 .. 1024"]),
        # Sizes that cannot fit the machine: said before LibTorch's allocator fails (or the run swaps).
        (("train", "--task", "copy", "--steps", 1, "-q", "--dim", 32, "--len", 10 ** 8), ["--len", "--batch", "memory"]),
        (("train", "--task", "copy", "--steps", 1, "-q", "--dim", 32, "--len", 4, "--symbols", 10 ** 9),
         ["--dim", "parameters", "memory"]),
        (("demo", "--layers", 2 ** 31 - 1, "--no-plots"), ["--layers", str(2 ** 31 - 1), "memory"]),
        # Evaluation lengths too, before anything runs (eval --lens 1000000 allocated for minutes; extrapolate
        # trained every model first).
        (("eval", "--checkpoint", copy_ck, "--lens", "8,1000000"), ["--lens", "2000001 tokens", "memory"]),
        (("extrapolate", "--steps", 2, "--eval-lens", "8,100000", "--out", os.path.join(bad, "never")),
         ["--eval-lens", "200001 tokens", "memory"]),
        (("train", "--task", "lm", "--data", data, "--tokenizer", "sentencepiece", "--spm-vocab", 1, "--steps", 1,
          "-q"), ["--spm-vocab", "1", ">= 4"]),
        ((*T, *SMALL, "--pe", "sinusoidal", "--rope-scaling", "yarn"), ["--rope-scaling", "yarn", "--pe rope"]),
        (("train", "--task", "copy", "--steps", 2, *SMALL, "--checkpoint-every", 1), ["--checkpoint-every", "1"]),
        (("extrapolate", "--steps", 2, "--pe", "rope"), ["--pe", "not used by extrapolate", "--pes"]),
        (("extrapolate", "--steps", 2, "--metrics-csv", os.path.join(bad, "m.csv")),
         ["--metrics-csv", "not used by extrapolate"]),
        (("extrapolate", "--steps", 2, "--pes", "none,rope,none"), ["--pes", "none", "twice"]),
        # Both lists follow one rule: no empty items (--pes skipped them, --lens refused only a last one).
        (("extrapolate", "--steps", 2, "--pes", "rope,,alibi"), ["--pes", "rope,,alibi", "empty item"]),
        (("extrapolate", "--steps", 2, "--pes", "rope,"), ["--pes", "empty item"]),
        (("eval", "--checkpoint", copy_ck, "--lens", "8,,16"), ["--lens", "8,,16", "empty item"]),
        (("extrapolate", "--steps", 2, "--train-len", 0), ["--train-len", "0"]),
        # Integers are decimal and in range (CLI11 read "0x10" as 16 and wrapped -1 to 2^64 - 1).
        ((*T, *SMALL, "--seed", -1), ["--seed", "-1", "out of range", "18446744073709551615"]),
        ((*T, *SMALL, "--seed", "0x10"), ["--seed", "0x10", "decimal"]),
        ((*T, *SMALL, "--threads", "0x2"), ["--threads", "0x2", "decimal"]),
        ((*T, *SMALL, "--warmup", "1e3"), ["--warmup", "1e3", "decimal"]),
        (("demo", "--seed", -3, "--no-plots"), ["--seed", "-3", "out of range"]),
        (("demo", "--out", copy_ck), ["--out", copy_ck]),
        # The training options are checked before the text is read (a missing --data is not reported).
        (("train", "--task", "lm", "--data", missing, "--steps", 5, "-q", "--threads", -1), ["--threads", "-1"]),
        (("extrapolate", "--task", "lm", "--data", missing, "--steps", 5, "--eval-sequences", 0),
         ["--eval-sequences", "0"]),
        (("extrapolate", "--task", "copy", "--steps", 5, "--checkpoint", os.path.join(bad, "nodir", "x.pt")),
         ["--checkpoint", "not used by extrapolate"]),
        (("train", "--task", "copy", "--steps", 5, *SMALL, "--stop-after", 2), ["--stop-after", "--checkpoint"]),
        # Two outputs on one file, or an output over the training text, would destroy one of them.
        ((*T, *SMALL, "--metrics-csv", ck_out[1]), ["--metrics-csv", "--checkpoint", ck_out[1]]),
        (("train", "--task", "lm", "--data", data, "--tokenizer", "char", "--len", 8, "--steps", 5, "-q",
          "--metrics-json", data), ["--metrics-json", "--data", data]),
        # --resume continues the checkpoint's run: its training config, up to at least its step.
        (("train", "--task", "copy", "--steps", 5, *SMALL, "--lr", 0.1, "--checkpoint", copy_ck, "--resume"),
         ["lr", "0.1", copy_ck]),
        (("train", "--task", "copy", "--steps", 3, *SMALL, "--checkpoint", copy_ck, "--resume"),
         ["steps", "3", ">= 5"]),
        # In the options' words (it named max_positions, a field the user never set).
        (("train", "--task", "copy", "--steps", 5, "--len", 8, "--dim", 32, "-q", "--checkpoint", copy_ck,
          "--resume"), ["--max-positions (or --ctx, or --len", "17", "9", copy_ck]),
        (("train", "--task", "copy", "--steps", 5, *SMALL, "--batch", 7, "--checkpoint", copy_ck, "--resume"),
         ["--batch: 7 is invalid", copy_ck]),
    ]
    # The trainer's message in the option's words, without the library's "posenc::model::train: lr =".
    msg = expect_fail(cli, (*T, *SMALL, "--lr", "nan"), [], where=bad)
    check(msg == "posenc: error: --lr: nan is invalid (allowed: a finite number > 0)", f"--lr nan: {msg!r}")
    failed = []
    for args, names in cases:
        try:
            expect_fail(cli, args, names, where=bad)
        except SystemExit:  # the FAIL line is on stderr already; check the other cases too
            failed.append(" ".join(map(str, args)))
    check(not failed, f"{len(failed)} error case(s) failed: {failed}")
    for d in (work, bad):
        for f in os.listdir(d):
            check(".tmp." not in f, f"a failed run left the temporary {f}")

    with open(data) as f:
        check(f.read() == english_text(size=3000), "a refused run changed its --data file")
    with open(copy_ck, "rb") as f:
        check(f.read() == raw, "a refused run changed its --checkpoint file")
    # --resume with other options names every field that differs, not only the first.
    msg = expect_fail(cli, ("train", "--task", "copy", "--steps", 10, "--len", 4, "--dim", 48, "--layers", 3, "-q",
                            "--checkpoint", copy_ck, "--resume"), ["--dim: 48 is invalid", "also differ", "--layers = 3"],
                      where=bad)

    # Outputs that cannot be renamed over (CLI audit: a checkpoint to /dev/full replaced the device
    # node with a file): a FIFO stays a FIFO and receives the bytes; a symlink stays a link and the file
    # it names gets the checkpoint.
    fifo = os.path.join(work, "metrics.fifo")
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        cli.run("train", "--task", "copy", "--steps", 3, *SMALL, "--metrics-csv", fifo)
        got = os.read(reader, 1 << 20)
    finally:
        os.close(reader)
    check(stat.S_ISFIFO(os.lstat(fifo).st_mode), "--metrics-csv replaced a FIFO by a file")
    check(got.startswith(b"step,"), f"the FIFO got {got[:40]!r}")
    target = os.path.join(work, "target.pt")
    link = os.path.join(work, "link.pt")
    os.symlink(target, link)
    cli.run("train", "--task", "copy", "--steps", 3, *SMALL, "--checkpoint", link)
    check(os.path.islink(link) and os.path.isfile(target), "--checkpoint through a symlink replaced the link")
    cli.run("eval", "--checkpoint", target, "--lens", 4)

    # --resume with another --dim: names dim and both values, leaves the checkpoint as it was.
    resumed = os.path.join(bad, "resume.pt")
    with open(resumed, "wb") as f:
        f.write(raw)
    expect_fail(cli, ("train", "--task", "copy", "--steps", 10, "--len", 4, "--dim", 64, "-q",
                      "--checkpoint", resumed, "--resume"), ["--dim: 64 is invalid", "32", resumed], where=bad)
    with open(resumed, "rb") as f:
        check(f.read() == raw, "a refused --resume changed the checkpoint")


# ---- seed_flag (found while writing these tests) ---------------------------------------------------------

def case_seed_flag(cli):
    """--seed is documented as the seed of the weights, the data order and dropout: training's own seed
    (stored in the checkpoint's and metrics' "train" config, used for data order, dropout and the held-out
    batches) must follow it."""
    mj = cli.path("m.json")
    cli.run("train", "--task", "copy", "--steps", 2, *SMALL, "--seed", 5, "--metrics-json", mj)
    doc = read_json(mj)
    check(doc["model"]["seed"] == 5, f"model seed {doc['model']['seed']}")
    check(doc["train"]["seed"] == 5, f"--seed 5 did not reach training: train.seed = {doc['train']['seed']}")


CASES = {name[len("case_"):]: fn for name, fn in globals().items() if name.startswith("case_")}

if __name__ == "__main__":
    main(CASES, sys.argv)
