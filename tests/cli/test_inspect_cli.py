#!/usr/bin/python3
"""posenc inspect: the explanation of a config's RoPE (checked against an independent float64 reading of
HF's llama3 and yarn rules), the wavelength plot, and bad input.

usage: test_inspect_cli.py POSENC_BINARY SCRATCH_DIR CASE
"""
import math
import os
import re
import sys

from cli_common import check, main
from hf_cli_common import expect_error, files_in, golden_cases, hf_config, write_json

ROW = re.compile(r"^\s*(\d+)\s+(\d+), (\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(unchanged|interpolated|"
                 r"blended|rescaled)")


def inspect(cli, config, *extra):
    rc, out, err = cli.run("inspect", "--config", config, *extra)
    text = out.decode()
    rows = [ROW.match(line) for line in text.splitlines()]
    rows = [(int(m[1]), int(m[2]), int(m[3]), float(m[4]), float(m[5]), m[7]) for m in rows if m]
    return text, rows, err


def golden(name):
    return next(c for c in golden_cases("rope", "half_split") if c["name"] == name)


def check_rows(rows, expected, what):
    check(len(rows) == len(expected), f"{what}: {len(rows)} table rows, want {len(expected)}")
    for (i, a, b, before, after, kind), want in zip(rows, expected):
        check(kind == want, f"{what}: frequency {i} is {kind}, want {want}")


def case_llama3(cli):
    case = golden("rope_llama3_f8_d128")
    cfg = write_json(cli.path("llama3.json"), hf_config(case, "4.x"))
    text, rows, err = inspect(cli, cfg)
    p = case["hf_rope_parameters"]
    r, base, lorig = case["head_dim"], p["rope_theta"], p["original_max_position_embeddings"]
    expected = []
    for i in range(r // 2):
        wl = 2 * math.pi * base ** (2 * i / r)
        expected.append("unchanged" if wl < lorig / p["high_freq_factor"] else
                        "interpolated" if wl > lorig / p["low_freq_factor"] else "blended")
    check_rows(rows, expected, "llama3")
    for i, a, b, before, after, kind in rows:
        check((a, b) == (i, i + r // 2), f"llama3: frequency {i} rotates dims {a}, {b}")
        check(math.isclose(before, 2 * math.pi * base ** (2 * i / r), rel_tol=1e-5),
              f"llama3: wavelength before of {i}: {before}")
        if kind == "interpolated":
            check(math.isclose(after, before * p["factor"], rel_tol=1e-5), f"llama3: after of {i}")
    for phrase in ["rope_type: llama3", "original (pretraining) context 8192", "factor 8",
                   "low_freq_factor 1", "high_freq_factor 4", "below original / high_freq_factor = "
                   "2048", "above original / low_freq_factor = 8192", "attention scaling: 1",
                   "layout: half_split", "rotary dim: 128", "base (rope_theta): 500000",
                   f"{expected.count('unchanged')} unchanged (extrapolated), "
                   f"{expected.count('interpolated')} interpolated, "
                   f"{expected.count('blended')} blended"]:
        check(phrase in text, f"llama3: report lacks {phrase!r}:\n{text}")
    check(err == "", f"llama3: stderr {err!r}")


def case_yarn(cli):
    case = golden("rope_yarn_f4_d128")
    cfg = write_json(cli.path("yarn.json"), hf_config(case, "5.x"))
    text, rows, err = inspect(cli, cfg)
    p = case["hf_rope_parameters"]
    r, base, lorig = case["head_dim"], p["rope_theta"], p["original_max_position_embeddings"]
    corr = lambda rot: r * math.log(lorig / (rot * 2 * math.pi)) / (2 * math.log(base))
    low, high = max(math.floor(corr(32)), 0), min(math.ceil(corr(1)), r - 1)
    expected = []
    for i in range(r // 2):
        ramp = min(max((i - low) / (high - low), 0.0), 1.0)
        expected.append("unchanged" if ramp == 0 else "interpolated" if ramp == 1 else "blended")
    check_rows(rows, expected, "yarn")
    for phrase in ["rope_type: yarn [rope_parameters.rope_type]", "YaRN, factor 4",
                   "beta_fast 32", "beta_slow 1", "original context 4096",
                   f"frequency indices {low} .. {high}",
                   f"attention scaling: {0.1 * math.log(4) + 1:.6g}"]:
        check(phrase in text, f"yarn: report lacks {phrase!r}:\n{text}")


def case_every_golden_type(cli):
    want = {"default": {"unchanged"}, "linear": {"interpolated"},
            "dynamic": {"unchanged", "rescaled"}, "longrope": {"unchanged", "rescaled"},
            "yarn": {"unchanged", "blended", "interpolated"},
            "llama3": {"unchanged", "blended", "interpolated"}}
    for case in golden_cases("rope", "half_split"):
        rope_type = case["hf_rope_parameters"]["rope_type"]
        cfg = write_json(cli.path(case["name"] + ".json"), hf_config(case, "phi3"))
        text, rows, err = inspect(cli, cfg)
        kinds = {row[5] for row in rows}
        check(kinds == want[rope_type], f"{case['name']}: treatments {kinds}")
        check(len(rows) == len(case["inv_freq"]), f"{case['name']}: {len(rows)} rows")
        if rope_type == "longrope":
            check("switches frequencies" in text and "the long factors" in text, text)
            text2, rows2, _ = inspect(cli, cfg, "--seq-len", 100)
            check("the short factors" in text2, f"longrope --seq-len 100:\n{text2}")


def case_plot(cli):
    case = golden("rope_yarn_f4_d128")
    cfg = write_json(cli.path("yarn.json"), hf_config(case, "5.x"))
    png = cli.path("wl.png")
    with open(png, "wb") as f:
        f.write(b"old")
    text, rows, err = inspect(cli, cfg, "--plot", png)
    with open(png, "rb") as f:
        data = f.read()
    check(data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, f"--plot wrote {len(data)} bytes")
    check("wavelength plot" in err, f"summary: {err!r}")
    check(files_in(cli.scratch) == ["wl.png", "yarn.json"], f"files: {files_in(cli.scratch)}")
    # Failure leaves the old plot alone.
    bad = write_json(cli.path("bad.json"), {"head_dim": 64, "rope_scaling": {"type": "?"}})
    expect_error(cli, ["inspect", "--config", bad, "--plot", png], ["rope_scaling.type"])
    with open(png, "rb") as f:
        check(f.read() == data, "a failed inspect changed the plot")


def case_bad_input(cli):
    bad = cli.path("bad")
    os.makedirs(bad)
    per_layer = write_json(os.path.join(bad, "gemma.json"), {
        "hidden_size": 1024, "num_attention_heads": 4, "head_dim": 256,
        "max_position_embeddings": 131072, "layer_types": ["sliding_attention", "full_attention"],
        "rope_parameters": {"sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                            "full_attention": {"rope_type": "linear", "factor": 8.0,
                                               "rope_theta": 1000000.0}}})
    with open(os.path.join(bad, "trunc.json"), "w") as f:
        f.write('{"head_dim": 64, "rope_scaling": {"type": "linear", "fac')
    png = os.path.join(bad, "p.png")
    cases = [
        (("inspect", "--config", os.path.join(bad, "none.json"), "--plot", png), ["none.json"]),
        (("inspect", "--config", os.path.join(bad, "trunc.json"), "--plot", png),
         ["truncated JSON", "byte offset 56"]),
        (("inspect", "--config", per_layer, "--plot", png),
         ["rope_parameters", "full_attention", "--layer-type"]),
        (("inspect", "--config", per_layer, "--layer-type", "global", "--plot", png),
         ["no entry 'global'"]),
        (("inspect", "--config", per_layer, "--layer-type", "full_attention", "--seq-len=-1",
          "--plot", png), ["--seq-len"]),
        (("inspect", "--config", per_layer, "--layer-type", "full_attention", "--plot",
          os.path.join(bad, "no", "dir", "p.png")), ["no/dir/p.png"]),
        (("inspect", "--plot", png), ["--config"]),
    ]
    for args, names in cases:
        expect_error(cli, args, names, where=bad)
    text, rows, err = inspect(cli, per_layer, "--layer-type", "full_attention")
    check({row[5] for row in rows} == {"interpolated"} and "base (rope_theta): 1e+06" in text, text)


CASES = {name[len("case_"):]: fn for name, fn in globals().items() if name.startswith("case_")}

if __name__ == "__main__":
    main(CASES, sys.argv)
