#!/usr/bin/python3
"""posenc table --config: a model's sinusoidal table from its config.json, against HF's golden table (and
Whisper's formula; --stack for the models whose two stacks differ).

usage: test_table_config_cli.py POSENC_BINARY SCRATCH_DIR CASE

The golden `sinusoidal_concat` case is HF's fairseq get_embedding(num_embeddings, dim, padding_idx), which
is M2M100's buffer for max_position_embeddings = num_embeddings - 2. With --precision hf_compat each
value must lie within 2^-22 of it (two float32 sin/cos implementations, 1 ulp each; see
tests/test_golden_fairseq.cpp); with the default exact precision within HF's own float32 error, bounded
here loosely by 2e-6 (the rows are short).
"""
import json
import os
import sys

import numpy as np

from cli_common import check, main, read_npy
from hf_cli_common import expect_error, golden_cases, write_json


def m2m100_config(cli, case):
    path = cli.path("m2m100.json")
    write_json(path, {"model_type": "m2m_100", "d_model": case["dim"],
                      "max_position_embeddings": case["num_embeddings"] - 2,
                      "pad_token_id": case["padding_idx"], "scale_embedding": True})
    return path


def case_golden(cli):
    for case in golden_cases("sinusoidal_concat"):
        want = np.asarray(case["table"], dtype=np.float64)
        path = m2m100_config(cli, case)
        rc, out, err = cli.run("table", "--config", path, "--format", "json")
        doc = json.loads(out)
        got = np.asarray(doc["table"], dtype=np.float64)
        check(got.shape == want.shape, f"{case['name']}: shape {got.shape} vs HF {want.shape}")
        check(doc["positions"] == list(range(case["num_embeddings"])), "rows: HF's whole buffer")
        check(doc["model_type"] == "m2m_100" and doc["first_row"] == case["padding_idx"] + 1
              and doc["preset"] == "fairseq" and doc["padding_idx"] == case["padding_idx"]
              and doc["embed_scale"] == case["dim"] ** 0.5, f"fields: {doc}")
        check(np.abs(got - want).max() <= 2e-6, f"{case['name']} exact: max diff {np.abs(got - want).max()}")
        check("posenc: warning" not in err, f"no warning expected: {err!r}")
        npy = cli.path("pe.npy")
        cli.run("table", "--config", path, "--precision", "hf_compat", "--format", "npy", "--out", npy,
                "--quiet")
        got = read_npy(npy)[0].astype(np.float64)
        check(np.abs(got - want).max() <= 2.0 ** -22,
              f"{case['name']} hf_compat: max diff {np.abs(got - want).max()}")
        # Some rows only: the same values.
        rc, out, err = cli.run("table", "--config", path, "--positions", "2,5", "--format", "json", "--quiet")
        rows = np.asarray(json.loads(out)["table"], dtype=np.float64)
        check(np.abs(rows - want[[2, 5]]).max() <= 2e-6, "--positions with --config")


def case_stack(cli):
    """Whisper's encoder table is HF's sinusoids(max_source_positions, d_model): [sin | cos] of
    p * exp(-i ln(10000) / (d/2 - 1)), from float64 here (exact: within float32 rounding, 1e-6 covers it
    for these short rows); Speech2Text's decoder table has max_target_positions + 2 rows; Whisper's
    decoder table is learned (an error naming the stack)."""
    whisper = write_json(cli.path("whisper.json"), {
        "model_type": "whisper", "d_model": 64, "max_source_positions": 40, "max_target_positions": 16})
    rc, out, err = cli.run("table", "--config", whisper, "--stack", "encoder", "--format", "json")
    doc = json.loads(out)
    got = np.asarray(doc["table"], dtype=np.float64)
    half = 32
    angle = np.arange(40)[:, None] * np.exp(-np.log(10000.0) / (half - 1) * np.arange(half))[None, :]
    want = np.concatenate([np.sin(angle), np.cos(angle)], axis=1)
    check(got.shape == (40, 64), f"whisper: shape {got.shape}")
    check(np.abs(got - want).max() <= 1e-6, f"whisper: max diff {np.abs(got - want).max()}")
    check(doc["stack"] == "encoder" and doc["first_row"] == 0 and doc["preset"] == "tensor2tensor"
          and doc["embed_scale"] == 1.0, f"whisper fields: {doc}")
    check("posenc: warning" not in err, f"no warning with --stack: {err!r}")
    rc, out, err = cli.run("table", "--config", whisper, "--format", "json", "--quiet")
    check(json.loads(out)["stack"] == "encoder" and "Stack::Decoder" in err,
          f"the encoder by default, with a warning: {err!r}")
    s2t = write_json(cli.path("s2t.json"), {
        "model_type": "speech_to_text", "d_model": 8, "max_source_positions": 30, "max_target_positions": 10})
    rc, out, err = cli.run("table", "--config", s2t, "--stack", "decoder", "--format", "json")
    doc = json.loads(out)
    check(len(doc["table"]) == 12 and doc["stack"] == "decoder" and doc["first_row"] == 2
          and doc["padding_idx"] == 1 and doc["embed_scale"] == float(np.float32(8 ** 0.5)),
          f"speech_to_text fields: {doc}")
    check(not any(doc["table"][1]), "the padding row 1 is zero")
    bad = cli.path("bad_stack")
    os.makedirs(bad)
    o = ("--format", "json", "--out", os.path.join(bad, "x.json"))
    for args, names in [
        (("table", "--config", whisper, "--stack", "decoder", *o), ["whisper decoder", "learned"]),
        (("table", "--kind", "sinusoidal", "--dim", 8, "--max-positions", 2, "--stack", "encoder", *o),
         ["--stack", "--config"]),
    ]:
        expect_error(cli, args, names, where=bad)


def case_bad_input(cli):
    bad = cli.path("bad")
    os.makedirs(bad)
    o = ("--format", "json", "--out", os.path.join(bad, "x.json"))
    gpt2 = cli.path("gpt2.json")
    write_json(gpt2, {"model_type": "gpt2", "n_embd": 8, "n_positions": 16})
    llama = cli.path("llama.json")
    write_json(llama, {"model_type": "llama", "hidden_size": 64})
    m2m = m2m100_config(cli, golden_cases("sinusoidal_concat")[0])
    cases = [
        (("table", "--config", gpt2, *o), ["--config", "gpt2", "learned", "posenc inspect"]),
        (("table", "--config", llama, *o), ["model_type", "llama"]),
        (("table", "--config", os.path.join(bad, "none.json"), *o), ["none.json", "no such file"]),
        (("table", "--config", m2m, "--dim", 8, *o), ["--dim", "--config"]),
        (("table", "--config", m2m, "--kind", "sinusoidal", *o), ["--kind", "--config"]),
        (("table", "--config", m2m, "--padding-idx", 0, *o), ["--padding-idx", "--config"]),
        (("table", "--dim", 8, "--max-positions", 2, *o), ["--kind", "--config"]),
    ]
    for args, names in cases:
        expect_error(cli, args, names, where=bad)
    # An output over the input config.json (by any spelling or link) would destroy it: refused, the
    # config is unchanged. --out and --plot on one file are two renames over it: refused too.
    with open(m2m, "rb") as f:
        config_bytes = f.read()
    link = cli.path("link.json")
    os.symlink(os.path.basename(m2m), link)
    dotted = os.path.join(os.path.dirname(m2m), ".", os.path.basename(m2m))
    for args, names in [(("--format", "json", "--out", m2m), ["--out", "--config", m2m]),
                        (("--format", "json", "--out", dotted), ["--out", "--config"]),
                        (("--format", "json", "--out", "/dev/null", "--plot", link), ["--plot", "--config", link]),
                        (("--format", "json", "--out", os.path.join(bad, "t.json"), "--plot",
                          os.path.join(bad, ".", "t.json")), ["--plot", "--out"])]:
        expect_error(cli, ("table", "--config", m2m, *args), names, where=bad)
        with open(m2m, "rb") as f:
            check(f.read() == config_bytes, f"table {args}: the config.json was changed")
    os.remove(link)


CASES = {name[len("case_"):]: fn for name, fn in globals().items() if name.startswith("case_")}

if __name__ == "__main__":
    main(CASES, sys.argv)
