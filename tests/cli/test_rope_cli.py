#!/usr/bin/python3
"""posenc rope: frequencies, cos/sin and --apply from HF config.json files, against HF's golden vectors.

usage: test_rope_cli.py POSENC_BINARY SCRATCH_DIR CASE

Tolerances (golden README): in hf_compat mode posenc replays HF's float32 recipe, where the only freedom
is torch's float32 pow (an ulp of omega either way), so cos/sin agree within 2e-6 + pos * ulp_f32(omega)
(times attention_scaling); inv_freq within 1e-6 relative. Exact mode differs from HF's float32 angles
by up to about ulp_f32(pos * omega) more.
"""
import json
import os
import sys

import numpy as np

from cli_common import check, main
from hf_cli_common import (expect_error, golden_cases, hf_config, ulp32, write_json, write_npy)

STYLES = ["5.x", "4.x", "phi3"]


def rope_json(cli, config, positions, *extra):
    rc, out, err = cli.run("rope", "--config", config, "--positions",
                           ",".join(map(str, positions)), "--format", "json", *extra)
    return json.loads(out), err


def cos_sin_tolerance(case, doc, exact):
    """Per element bound [N, r]: 2e-6 + pos * ulp(omega_i) (+ ulp(angle) in exact mode), scaled."""
    pos = np.asarray(case["positions"], dtype=np.float64)[:, None]
    inv = np.asarray(case["inv_freq"], dtype=np.float64)
    omega = np.concatenate([inv, inv])  # half_split: frequency list twice
    tol = 2e-6 + pos * ulp32(omega)[None, :]
    if exact:
        tol = tol + 2 * ulp32(pos * omega[None, :])
    return tol * max(1.0, case["attention_scaling"])


def check_case(cli, case, style, precision):
    cfg = write_json(cli.path(f"{case['name']}_{style}.json"), hf_config(case, style))
    doc, err = rope_json(cli, cfg, case["positions"], "--precision", precision, "--quiet")
    what = f"{case['name']} ({style}, {precision})"
    check(doc["rotary_dim"] == len(case["inv_freq"]) * 2, f"{what}: rotary_dim {doc['rotary_dim']}")
    check(doc["layout"] == "half_split", f"{what}: layout {doc['layout']}")
    inv, ref = np.asarray(doc["inv_freq"]), np.asarray(case["inv_freq"])
    check(inv.shape == ref.shape, f"{what}: inv_freq shape {inv.shape} vs {ref.shape}")
    rel = np.abs(inv - ref) / np.abs(ref)
    check(rel.max() <= 1e-6, f"{what}: inv_freq off by {rel.max():.3g} relative at {rel.argmax()}")
    check(abs(doc["attention_scaling"] - case["attention_scaling"]) <= 1e-7 * case["attention_scaling"],
          f"{what}: attention_scaling {doc['attention_scaling']} vs {case['attention_scaling']}")
    tol = cos_sin_tolerance(case, doc, precision == "exact")
    for key in ("cos", "sin"):
        got, want = np.asarray(doc[key]), np.asarray(case[key])
        check(got.shape == want.shape, f"{what}: {key} shape {got.shape} vs {want.shape}")
        excess = np.abs(got - want) - tol
        worst = np.unravel_index(np.argmax(excess), excess.shape)
        check(excess.max() <= 0, f"{what}: {key}[{worst}] = {got[worst]!r}, HF {want[worst]!r}, "
                                 f"|diff| {abs(got[worst] - want[worst]):.3g} > {tol[worst]:.3g} "
                                 f"(position {case['positions'][worst[0]]})")
    return doc, err


def case_golden_hf_compat(cli):
    for k, case in enumerate(golden_cases("rope", "half_split")):
        check_case(cli, case, STYLES[k % len(STYLES)], "hf_compat")


def case_golden_exact(cli):
    for k, case in enumerate(golden_cases("rope", "half_split")):
        check_case(cli, case, STYLES[(k + 1) % len(STYLES)], "exact")


def case_warnings_on_stderr(cli):
    for case in golden_cases("rope", "half_split"):
        rope_type = case["hf_rope_parameters"]["rope_type"]
        cfg = write_json(cli.path(f"{case['name']}.json"), hf_config(case, "5.x"))
        rc, out, err = cli.run("rope", "--config", cfg, "--positions", "0,1", "--quiet")
        json.loads(out)  # stdout stays pure JSON
        want = {"longrope": "switches frequencies", "dynamic": "KV cache"}.get(rope_type)
        if want:
            check(f"posenc: warning: " in err and want in err,
                  f"{case['name']}: no warning about {want!r} on stderr: {err!r}")
        else:
            check(err == "", f"{case['name']}: unexpected stderr {err!r}")


def apply_and_compare(cli, cfg, q_thd, positions, want_thd, sin_cos_tol, what, *extra):
    src = write_npy(cli.path("q.npy"), np.ascontiguousarray(q_thd, dtype="<f4"))
    out = cli.path("q_rot.npy")
    cli.run("rope", "--config", cfg, "--positions", ",".join(map(str, positions)), "--apply", src,
            "--out", out, "--quiet", *extra)
    got = np.load(out)
    check(got.dtype == np.dtype("<f4") and got.shape == q_thd.shape,
          f"{what}: output {got.dtype} {got.shape}, want <f4 {q_thd.shape}")
    # out = x cos + rotate(x) sin: each output mixes two inputs, each with its cos/sin error.
    bound = sin_cos_tol * (np.abs(q_thd) + np.abs(q_thd[..., ::-1]).max(axis=-1, keepdims=True)) \
        + 4 * ulp32(want_thd)
    excess = np.abs(got - want_thd) - bound
    worst = np.unravel_index(np.argmax(excess), excess.shape)
    check(excess.max() <= 0, f"{what}: q_embed{list(worst)} = {got[worst]!r}, HF "
                             f"{want_thd[worst]!r} (bound {bound[worst]:.3g})")


def case_apply_half_split(cli):
    for k, case in enumerate(golden_cases("rope", "half_split")):
        cfg = write_json(cli.path(f"{case['name']}.json"), hf_config(case, STYLES[k % 3]))
        q = np.transpose(np.asarray(case["q"], dtype=np.float32), (1, 0, 2))  # [H,T,D] -> [T,H,D]
        want = np.transpose(np.asarray(case["q_embed"], dtype=np.float64), (1, 0, 2))
        pos = np.asarray(case["positions"], dtype=np.float64)
        inv = np.asarray(case["inv_freq"], dtype=np.float64)
        tol = (2e-6 + pos[:, None, None] * ulp32(inv).max()) * max(1.0, case["attention_scaling"])
        apply_and_compare(cli, cfg, q, case["positions"], want, tol, case["name"],
                          "--precision", "hf_compat")


def case_apply_gptj(cli):
    for case in golden_cases("rope", "interleaved"):
        q = np.asarray(case["q"], dtype=np.float32)  # [T, H, D]
        T, H, D = q.shape
        cfg = write_json(cli.path("gptj.json"), {
            "model_type": "gptj", "n_embd": H * D, "n_head": H, "rotary_dim": case["rotary_dim"],
            "n_positions": 2048})
        want = np.asarray(case["q_embed"], dtype=np.float64)
        pos = np.asarray(case["positions"], dtype=np.float64)
        # GPT-J's own float32 table: 1 / 10000^(2i/r) and angles in float32.
        tol = 2e-6 + pos[:, None, None] * 2 * ulp32(1.0) + 2 * ulp32(pos[:, None, None])
        for precision in ("hf_compat", "exact"):
            apply_and_compare(cli, cfg, q, case["positions"], want, tol,
                              f"{case['name']} {precision}", "--precision", precision)
        check(np.array_equal(np.load(cli.path("q_rot.npy"))[..., case["rotary_dim"]:],
                             q[..., case["rotary_dim"]:]), "GPT-J: dims past rotary_dim changed")


def case_bad_input(cli):
    good = write_json(cli.path("good.json"), {
        "hidden_size": 256, "num_attention_heads": 4, "rope_theta": 10000,
        "max_position_embeddings": 4096})
    bad = cli.path("bad")
    os.makedirs(bad)
    with open(os.path.join(bad, "trunc.json"), "w") as f:
        f.write('{"hidden_size": 256, "num_attention_heads": 4, "rope_sc')
    with open(os.path.join(bad, "malformed.json"), "w") as f:
        f.write('{"hidden_size": 256 "num_attention_heads": 4}')
    write_json(os.path.join(bad, "unknown.json"), {
        "head_dim": 64, "rope_scaling": {"type": "ntk-by-parts", "factor": 2}})
    write_json(os.path.join(bad, "odd.json"), {"head_dim": 96, "partial_rotary_factor": 0.33})
    write_json(os.path.join(bad, "nofactor.json"), {"head_dim": 64, "max_position_embeddings": 8,
                                                    "rope_parameters": {
        "rope_type": "longrope", "long_factor": [1.0] * 32}})
    P = ("--positions", "0,1,2")
    B = lambda name: os.path.join(bad, name)
    out = ("--out", B("o.json"))
    cases = [
        (("rope", "--config", B("missing.json"), *P, *out), ["missing.json", "no such file"]),
        (("rope", "--config", B("trunc.json"), *P, *out), ["truncated JSON", "byte offset"]),
        (("rope", "--config", B("malformed.json"), *P, *out), ["malformed JSON", "byte offset 40"]),
        (("rope", "--config", B("unknown.json"), *P, *out), ["rope_scaling.type", "ntk-by-parts"]),
        (("rope", "--config", B("odd.json"), *P, *out), ["partial_rotary_factor", "31"]),
        (("rope", "--config", B("nofactor.json"), *P, *out), ["rope_parameters.short_factor"]),
        (("rope", "--config", bad, *P, *out), ["directory"]),
        (("rope", "--config", good, "--positions", "0,-5", *out), ["--positions", "-5"]),
        (("rope", "--config", good, "--positions=-5", *out), ["--positions", "-5"]),
        (("rope", "--config", good, "--positions", "0,,1", *out), ["--positions", "empty"]),
        (("rope", "--config", good, *P, "--seq-len", 2, *out), ["--seq-len", "3"]),
        (("rope", "--config", good, *P, "--precision", "fp64", *out), ["--precision"]),
        (("rope", "--config", good, *P, "--format", "npy", *out), ["--apply"]),
        (("rope", *P, *out), ["--config"]),
        (("rope", "--config", good, *out), ["--positions"]),
        # CLI audit: --out over --config replaced the model's config.
        (("rope", "--config", B("odd.json"), *P, "--out", B("odd.json")), ["--out", "--config", "odd.json"]),
        (("rope", "--config", B("odd.json"), *P, "--out", B("./odd.json")), ["--out", "--config"]),
    ]
    for args, names in cases:
        expect_error(cli, args, names, where=bad)

    # --apply: shape, dtype and file-format mismatches; nothing written.
    q = np.zeros((3, 2, 64), dtype="<f4")
    npys = {
        "ok.npy": q, "f64.npy": q.astype("<f8"), "f16.npy": q.astype("<f2"),
        "be.npy": q.astype(">f4"), "fortran.npy": np.asfortranarray(q),
        "t4.npy": np.zeros((4, 2, 64), "<f4"), "d32.npy": np.zeros((3, 2, 32), "<f4"),
        "rank2.npy": np.zeros((3, 64), "<f4"),
    }
    for name, arr in npys.items():
        write_npy(B(name), arr)
    with open(B("ok.npy"), "rb") as f:
        raw = f.read()
    with open(B("short.npy"), "wb") as f:
        f.write(raw[:-10])
    with open(B("long.npy"), "wb") as f:
        f.write(raw + b"\0\0\0\0")
    with open(B("text.npy"), "wb") as f:
        f.write(b"hello")
    with open(B("v3.npy"), "wb") as f:
        f.write(raw[:6] + b"\x03\x00" + raw[8:])
    # Headers numpy would read otherwise (CLI audit): a key given twice (numpy takes the last), a key
    # numpy refuses; and a directory.
    data = raw[10 + int.from_bytes(raw[8:10], "little"):]

    def with_header(name, header):
        header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
        with open(B(name), "wb") as f:
            f.write(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + data)

    with_header("dup.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2, 64), 'shape': (3, 1, 128), }")
    with_header("extra.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2, 64), 'x': 1, }")
    with_header("noshape.npy", "{'descr': '<f4', 'fortran_order': False, }")
    os.makedirs(B("adir.npy"))
    o = ("--out", B("r.npy"))
    apply_cases = [
        ("dup.npy", ["'shape' twice"]), ("extra.npy", ["'x': 1", "allowed"]), ("noshape.npy", ["no 'shape'"]),
        ("adir.npy", ["directory"]),
        ("f64.npy", ["<f8", "astype"]), ("f16.npy", ["<f2"]), ("be.npy", [">f4"]),
        ("fortran.npy", ["Fortran"]), ("t4.npy", ["T = 4", "3"]), ("d32.npy", ["D = 32", "64"]),
        ("rank2.npy", ["[T, H, D]"]), ("short.npy", ["truncated"]), ("long.npy", ["bytes after"]),
        ("text.npy", ["not a .npy"]), ("v3.npy", ["version 3"]), ("nothere.npy", ["nothere.npy"]),
    ]
    for name, names in apply_cases:
        expect_error(cli, ["rope", "--config", good, *P, "--apply", B(name), *o],
                     ["--apply", *names], where=bad)
    expect_error(cli, ["rope", "--config", good, *P, "--apply", B("ok.npy")], ["--out"], where=bad)
    expect_error(cli, ["rope", "--config", good, *P, "--apply", B("ok.npy"), "--format", "json", *o],
                 ["npy"], where=bad)
    # The good file works, and writes exactly one file.
    cli.run("rope", "--config", good, *P, "--apply", B("ok.npy"), *o, "--quiet")
    check(np.array_equal(np.load(B("r.npy")), q), "rotating zeros did not give zeros")


CASES = {name[len("case_"):]: fn for name, fn in globals().items() if name.startswith("case_")}

if __name__ == "__main__":
    main(CASES, sys.argv)
