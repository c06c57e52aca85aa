#!/usr/bin/python3
"""posenc alibi and posenc t5-bucket against HF's golden vectors, and their bad input.

usage: test_bias_cli.py POSENC_BINARY SCRATCH_DIR CASE

ALiBi: BLOOM computes its slopes in float32, posenc in double; each posenc slope rounded to float32 must
be within one float32 ulp of BLOOM's. T5 buckets are integers and must be identical. The same through
--config: a BLOOM config.json with the case's head count, a T5 config.json whose is_decoder selects the
case's direction (or --bidirectional / --causal overriding it).
"""
import json
import os
import sys

import numpy as np

from cli_common import check, main
from hf_cli_common import expect_error, golden_cases, ulp32


def case_alibi(cli):
    for case in golden_cases("alibi"):
        rc, out, err = cli.run("alibi", "--heads", case["num_heads"], "--format", "json")
        doc = json.loads(out)
        got = np.asarray(doc["slopes"], dtype=np.float64)
        want = np.asarray(case["slopes"], dtype=np.float64)
        check(doc["num_heads"] == case["num_heads"] and got.shape == want.shape,
              f"{case['name']}: {doc}")
        diff = np.abs(got.astype(np.float32).astype(np.float64) - want)
        check((diff <= ulp32(want)).all(), f"{case['name']}: slopes {got} vs HF {want}")
        check("posenc: wrote 1" in err or f"wrote {case['num_heads']}" in err, f"summary: {err!r}")
    # max_bias: the paper's formula for a power of two.
    rc, out, err = cli.run("alibi", "--heads", 4, "--max-bias", 4, "--quiet")
    check(json.loads(out)["slopes"] == [2.0 ** -1, 2.0 ** -2, 2.0 ** -3, 2.0 ** -4],
          f"--max-bias 4: {out!r}")
    out_path = cli.path("slopes.json")
    cli.run("alibi", "--heads", 3, "--out", out_path, "--quiet")
    with open(out_path) as f:
        check(len(json.load(f)["slopes"]) == 3, "--out file")


def case_t5(cli):
    for case in golden_cases("t5_bucket"):
        mode = "--bidirectional" if case["bidirectional"] else "--causal"
        rel = ",".join(map(str, case["relative_position"]))
        rc, out, err = cli.run("t5-bucket", "--num-buckets", case["num_buckets"], "--max-distance",
                               case["max_distance"], mode, f"--relative={rel}", "--format", "json",
                               "--quiet")
        doc = json.loads(out)
        check(doc["relative_position"] == case["relative_position"], f"{case['name']}: positions")
        check(doc["bucket"] == case["bucket"],
              f"{case['name']}: buckets differ at "
              f"{[r for r, a, b in zip(case['relative_position'], doc['bucket'], case['bucket']) if a != b][:5]}")
        check(doc["bidirectional"] == case["bidirectional"], f"{case['name']}: bidirectional flag")
    # The synopsis' spelling: a list starting with a minus, without '='.
    rc, out, err = cli.run("t5-bucket", "--num-buckets", 32, "--max-distance", 128, "--causal",
                           "--relative", "-200,-1,0,3", "--quiet")
    check(json.loads(out)["bucket"] == [31, 1, 0, 0], f"causal buckets: {out!r}")


def write_config(cli, name, doc):
    path = cli.path(name)
    with open(path, "w") as f:
        json.dump(doc, f)
    return path


def case_config(cli):
    for case in golden_cases("alibi"):
        path = write_config(cli, "bloom.json", {"model_type": "bloom", "n_head": case["num_heads"]})
        rc, out, err = cli.run("alibi", "--config", path)
        doc = json.loads(out)
        check(doc["model_type"] == "bloom" and doc["num_heads"] == case["num_heads"], f"{case['name']}: {doc}")
        check(doc["form"] == "key_position" and doc["mask"] == "causal" and doc["max_bias"] == 8,
              f"{case['name']}: {doc}")
        want = np.asarray(case["slopes"], dtype=np.float64)
        got = np.asarray(doc["slopes"], dtype=np.float64).astype(np.float32).astype(np.float64)
        check((np.abs(got - want) <= ulp32(want)).all(), f"{case['name']}: slopes {got} vs HF {want}")
        check("posenc: warning" not in err, f"BLOOM: no warning expected: {err!r}")
    path = write_config(cli, "mpt.json", {"model_type": "mpt", "n_heads": 4, "attn_config": {"alibi_bias_max": 4}})
    rc, out, err = cli.run("alibi", "--config", path, "--quiet")
    doc = json.loads(out)
    check(doc["slopes"] == [2.0 ** -1, 2.0 ** -2, 2.0 ** -3, 2.0 ** -4] and doc["form"] == "relative",
          f"MPT alibi_bias_max 4: {doc}")
    check("posenc: warning: attn_config.alibi_bias_max = 4" in err, f"MPT warning: {err!r}")
    for case in golden_cases("t5_bucket"):
        rel = ",".join(map(str, case["relative_position"]))
        cfg = {"model_type": "t5", "num_heads": 6, "relative_attention_num_buckets": case["num_buckets"],
               "relative_attention_max_distance": case["max_distance"]}
        runs = [({**cfg, "is_decoder": not case["bidirectional"]}, ()),
                ({**cfg, "is_decoder": case["bidirectional"]},
                 ("--bidirectional",) if case["bidirectional"] else ("--causal",))]
        for doc_in, flags in runs:
            path = write_config(cli, "t5.json", doc_in)
            rc, out, err = cli.run("t5-bucket", "--config", path, *flags, f"--relative={rel}", "--quiet")
            doc = json.loads(out)
            check(doc["bucket"] == case["bucket"] and doc["bidirectional"] == case["bidirectional"],
                  f"{case['name']} is_decoder={doc_in['is_decoder']} {flags}: {doc['bidirectional']}")
            check(doc["num_heads"] == 6 and doc["model_type"] == "t5", f"{case['name']}: {doc}")
    # An encoder-decoder config without a choice: the encoder, with a warning naming --causal.
    path = write_config(cli, "t5.json", {"model_type": "t5", "is_encoder_decoder": True})
    rc, out, err = cli.run("t5-bucket", "--config", path, "--relative", "-1,1", "--quiet")
    check(json.loads(out)["bidirectional"] is True, f"t5 default stack: {out!r}")
    check("posenc: warning:" in err and "--causal" in err, f"t5 stack warning: {err!r}")


def case_bad_input(cli):
    bad = cli.path("bad")
    os.makedirs(bad)
    o = ("--out", os.path.join(bad, "x.json"))
    T5 = ("t5-bucket", "--max-distance", 128, "--relative", "1,2")
    cases = [
        (("alibi", "--heads", 0, *o), ["--heads", "0"]),
        (("alibi", "--heads", -3, *o), ["--heads"]),
        (("alibi", "--heads", "x", *o), ["--heads"]),
        (("alibi", *o), ["--heads"]),
        (("alibi", "--heads", 8, "--max-bias", 0, *o), ["--max-bias"]),
        (("alibi", "--heads", 8, "--max-bias", "nan", *o), ["--max-bias"]),
        (("alibi", "--heads", 8, "--format", "csv", *o), ["--format"]),
        ((*T5, "--num-buckets", 1, "--causal", *o), ["--num-buckets", "1"]),
        ((*T5, "--num-buckets", 2, "--bidirectional", *o), ["--num-buckets", "2"]),
        ((*T5, "--num-buckets", 32, *o), ["--bidirectional", "--causal"]),
        ((*T5, "--num-buckets", 32, "--causal", "--bidirectional", *o), ["--causal"]),
        (("t5-bucket", "--num-buckets", 32, "--max-distance", 8, "--causal", "--relative", 1, *o),
         ["--max-distance"]),
        (("t5-bucket", "--num-buckets", 32, "--max-distance", 128, "--causal", "--relative",
          "1,,2", *o), ["--relative", "empty"]),
        (("t5-bucket", "--num-buckets", 32, "--max-distance", 128, "--causal", "--relative",
          "1,x", *o), ["--relative", "x"]),
        (("t5-bucket", "--num-buckets", 32, "--max-distance", 128, "--causal",
          "--relative=-3000000000", *o), ["--relative", "out of range"]),
    ]
    t5 = write_config(cli, "t5_bad.json", {"model_type": "t5", "relative_attention_num_buckets": 3})
    llama = write_config(cli, "llama.json", {"model_type": "llama", "num_attention_heads": 32})
    broken = cli.path("broken.json")
    with open(broken, "w") as f:
        f.write('{"model_type": "bloom", "n_head": ')
    missing = os.path.join(bad, "missing.json")
    cases += [
        (("alibi", "--config", missing, *o), ["missing.json", "no such file"]),
        (("alibi", "--config", llama, *o), ["model_type", "llama", "bloom"]),
        (("alibi", "--config", broken, *o), ["broken.json", "offset"]),
        (("alibi", "--config", llama, "--heads", 4, *o), ["--heads", "--config"]),
        (("t5-bucket", "--config", t5, "--relative", 1, *o), ["relative_attention_num_buckets", "3"]),
        (("t5-bucket", "--config", llama, "--relative", 1, *o), ["model_type", "llama"]),
        (("t5-bucket", "--config", t5, "--num-buckets", 8, "--relative", 1, *o), ["--num-buckets", "--config"]),
        (("t5-bucket", "--causal", "--relative", 1, *o), ["--num-buckets", "--config"]),
    ]
    # CLI audit: --out over --config replaced the model's config.
    bloom = write_config(cli, os.path.join("bad", "bloom.json"), {"model_type": "bloom", "n_head": 8})
    t5ok = write_config(cli, os.path.join("bad", "t5.json"), {"model_type": "t5", "num_heads": 8})
    cases += [
        (("alibi", "--config", bloom, "--out", bloom), ["--out", "--config", "bloom.json"]),
        (("t5-bucket", "--config", t5ok, "--relative", 1, "--out", t5ok), ["--out", "--config", "t5.json"]),
    ]
    for args, names in cases:
        expect_error(cli, args, names, where=bad)
    with open(bloom) as f:
        check(json.load(f)["model_type"] == "bloom", "alibi --out over --config changed the config")


CASES = {name[len("case_"):]: fn for name, fn in globals().items() if name.startswith("case_")}

if __name__ == "__main__":
    main(CASES, sys.argv)
