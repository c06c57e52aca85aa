#!/usr/bin/python3
"""posenc bench: the table and the JSON from the real benchmark binaries (short runs), the pairing of
rows checked exactly against fake binaries, and the errors for missing or failing binaries.

usage: test_bench_cli.py POSENC_BINARY SCRATCH_DIR CASE

The real-run cases (rope_json, threads_scaling, table_hf, bias_json) need posenc_bench_rope /
posenc_bench_embed / posenc_bench_bias next to POSENC_BINARY; tests/cli/CMakeLists.txt registers them only when those targets exist. They check
structure and arithmetic (ratios = posenc / copy and posenc / torch), never speeds.
"""
import json
import math
import os
import stat
import sys

from cli_common import check, main

GQA = "T4096_Hq32_Hk8_D128"
ROW_KEYS = {"op", "shape", "dtype", "threads", "posenc_GBps", "copy_GBps", "torch_eager_GBps",
            "ratio_vs_copy", "ratio_vs_torch"}
# The smallest real runs: one repetition of >= 0.01 s per row.
TINY = ("--quick", "--repetitions", 1, "--min-time", 0.01)


def close(a, b):
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0)


def load_rows(path):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    check(isinstance(doc, dict) and set(doc) >= {"machine", "rows"}, f"{path}: top-level keys {list(doc)}")
    m = doc["machine"]
    check(isinstance(m, dict), f"machine is {type(m).__name__}, want an object")
    for key in ("cpu", "logical_cpus", "threads", "simd", "torch", "summary"):
        check(key in m, f"machine has no {key!r}: {m}")
    check(isinstance(m["cpu"], str) and m["cpu"], f"machine.cpu {m['cpu']!r}")
    rows = doc["rows"]
    check(isinstance(rows, list) and rows, "rows is empty")
    for r in rows:
        check(set(r) == ROW_KEYS, f"row keys {sorted(r)} != {sorted(ROW_KEYS)}")
        check_ratios(r)
    return doc, rows


def check_ratios(r):
    """Every number positive or null; each ratio is posenc / baseline exactly, null when either is."""
    what = f"{r['op']}/{r['shape']}/{r['dtype']}"
    for key in ("posenc_GBps", "copy_GBps", "torch_eager_GBps", "ratio_vs_copy", "ratio_vs_torch"):
        v = r[key]
        check(v is None or (isinstance(v, (int, float)) and v > 0 and math.isfinite(v)),
              f"{what}: {key} = {v!r}")
    for base, rkey in (("copy_GBps", "ratio_vs_copy"), ("torch_eager_GBps", "ratio_vs_torch")):
        if r["posenc_GBps"] is None or r[base] is None:
            check(r[rkey] is None, f"{what}: {rkey} = {r[rkey]!r} with a missing GB/s")
        else:
            want = r["posenc_GBps"] / r[base]
            check(r[rkey] is not None and close(r[rkey], want),
                  f"{what}: {rkey} = {r[rkey]!r}, posenc / {base} = {want!r}")


def check_table(out, rows):
    text = out.decode()
    check(text.startswith("machine: "), f"stdout does not start with the machine line: {text[:200]!r}")
    for h in ("op", "shape", "dtype", "posenc GB/s", "copy GB/s", "torch GB/s", "posenc/copy", "posenc/torch"):
        check(h in text, f"table header has no {h!r}:\n{text}")
    for r in rows:
        check(any(r["op"] in line and r["shape"] in line and f" {r['dtype']} " in line
                  for line in text.splitlines()), f"no table line for {r['op']} {r['shape']} {r['dtype']}:\n{text}")
    return text


# ---- real runs ----------------------------------------------------------------------------------------

def case_rope_json(cli):
    out_json = cli.path("out.json")
    _, out, _ = cli.run("bench", *TINY, "--ops", "rope_fwd", "--dtype", "f32", "--json", out_json,
                        timeout=150)
    doc, rows = load_rows(out_json)
    # The per-call row and the row with a RopeCache built before timing (--ops rope_fwd names both).
    check([(r["op"], r["shape"], r["dtype"]) for r in rows] == [("rope_fwd", GQA, "f32"),
                                                                ("rope_fwd+cache", GQA, "f32")],
          f"rows {[(r['op'], r['shape'], r['dtype']) for r in rows]}")
    for r in rows:
        check(r["posenc_GBps"] is not None and r["copy_GBps"] is not None, f"posenc or copy missing: {r}")
        check(isinstance(r["threads"], int) and r["threads"] >= 1, f"threads {r['threads']!r}")
        if r["torch_eager_GBps"] is None:  # a build without LibTorch: said so under the table
            check(any("torch" in n for n in doc.get("notes", [])), f"torch is null without a note: {doc}")
    check_table(out, rows)
    check(doc["machine"]["precision"] == "exact", f"precision {doc['machine']['precision']!r}")


def case_threads_scaling(cli):
    out_json = cli.path("out.json")
    _, out, _ = cli.run("bench", *TINY, "--ops", "rope_fwd", "--dtype", "f32", "--threads", "1,2",
                        "--json", out_json, timeout=150)
    doc, rows = load_rows(out_json)
    check([(r["op"], r["threads"]) for r in rows] == [("rope_fwd", 1), ("rope_fwd+cache", 1), ("rope_fwd", 2),
                                                      ("rope_fwd+cache", 2)],
          f"(op, threads) per row {[(r['op'], r['threads']) for r in rows]}")
    check(doc["machine"]["threads"] == [1, 2], f"machine.threads {doc['machine']['threads']}")
    text = check_table(out, rows)
    check("scaling" in text and "posenc@1" in text and "posenc@2" in text, f"no scaling table:\n{text}")


def case_bias_json(cli):
    out_json = cli.path("bias.json")
    _, out, _ = cli.run("bench", *TINY, "--ops", "bias", "--json", out_json, "--threads", "2")
    doc, rows = load_rows(out_json)
    # The binaries report the Highway target they dispatch to (posenc::cpu_simd_target), not a CPU flag.
    check("CPU flags" not in doc["machine"]["simd"] and doc["machine"]["simd"], f"machine.simd {doc['machine']['simd']!r}")
    check([(r["op"], r["shape"], r["dtype"]) for r in rows] ==
          [("alibi_bias", "H32_T1024", "f32"), ("t5_fwd", "H32_T1024", "f32"), ("t5_bwd", "H32_T1024", "f32")],
          f"rows {[(r['op'], r['shape'], r['dtype']) for r in rows]}")
    for r in rows:
        check(r["posenc_GBps"] is not None and r["copy_GBps"] is not None, f"{r}")
        # The torch baselines check their output against posenc's before timing: a skipped one
        # (null) would mean they disagree, which is an error here when the build has LibTorch.
        if doc["machine"]["torch"] and "not built" not in doc["machine"]["torch"]:
            check(r["torch_eager_GBps"] is not None, f"torch baseline missing or skipped: {r} {doc['notes']}")
    check_table(out, rows)


def case_table_hf(cli):
    out_json = cli.path("out.json")
    _, out, _ = cli.run("bench", *TINY, "--ops", "table", "--precision", "hf_compat", "--json", out_json,
                        timeout=150)
    doc, rows = load_rows(out_json)
    check([(r["op"], r["shape"], r["dtype"]) for r in rows] == [("sin_table_hf", "N131072_d128", "f32")],
          f"rows {[(r['op'], r['shape'], r['dtype']) for r in rows]}")
    check(rows[0]["posenc_GBps"] is not None and rows[0]["copy_GBps"] is not None, f"{rows[0]}")
    check_table(out, rows)


# ---- fake binaries: exact pairing, errors -------------------------------------------------------------

FAKE = r'''#!/usr/bin/python3
import json, sys
with open(sys.argv[0] + ".argv", "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\n")
MODE = {mode!r}
if MODE == "fail":
    print("check something: fine", file=sys.stderr)
    print("posenc_bench_rope: the fake fails on purpose", file=sys.stderr)
    sys.exit(3)
def it(name, gbs, rep=0):
    return {{"name": name + "/real_time", "run_name": name + "/real_time", "run_type": "iteration",
            "repetitions": 3, "repetition_index": rep, "real_time": 1.0, "time_unit": "ms",
            "bytes_per_second": gbs * 1e9}}
def med(name, gbs):
    return {{"name": name + "/real_time_median", "run_name": name + "/real_time", "run_type": "aggregate",
            "aggregate_name": "median", "real_time": 1.0, "time_unit": "ms", "bytes_per_second": gbs * 1e9}}
G = "T4096_Hq32_Hk8_D128/f32"
rows = [
    it("rope_fwd/posenc_exact/" + G, 1.0, 0), it("rope_fwd/posenc_exact/" + G, 9.0, 1),
    it("rope_fwd/posenc_exact/" + G, 2.0, 2), med("rope_fwd/posenc_exact/" + G, 2.0),
    {{"name": "rope_fwd/posenc_exact/" + G + "/real_time_mean", "run_name": "rope_fwd/posenc_exact/" + G +
      "/real_time", "run_type": "aggregate", "aggregate_name": "mean", "bytes_per_second": 4e9}},
    it("rope/copy/" + G, 7.0, 0), it("rope/copy/" + G, 9.0, 1),
    it("rope_fwd/torch/" + G, 0.25),
    it("rope_bwd/posenc_exact/" + G, 1.5),
    it("rope_fwd/posenc_cached/" + G, 12.0), it("rope_fwd/torch_pre/" + G, 0.5),
    it("rope_bwd/posenc_cached/" + G, 10.0), it("rope_bwd/torch_explicit/" + G, 2.0),
    {{"name": "rope_bwd/torch/" + G + "/real_time", "run_name": "rope_bwd/torch/" + G + "/real_time",
      "run_type": "iteration", "error_occurred": True, "error_message": "torch output differs on purpose"}},
]
print(json.dumps({{"context": {{"num_cpus": 2, "posenc_threads": "2", "torch": "fake torch 0.0",
                               "load_avg": [0.5, 0.25, 0.125], "posenc_simd_target": "FAKE512"}},
                  "benchmarks": rows}}))
'''


def fake_dir(cli, mode):
    d = cli.path("fake")
    os.makedirs(d, exist_ok=True)
    for name in ("posenc_bench_rope", "posenc_bench_embed", "posenc_bench_bias"):
        p = os.path.join(d, name)
        with open(p, "w", encoding="utf-8") as f:
            f.write(FAKE.format(mode=mode))
        os.chmod(p, os.stat(p).st_mode | stat.S_IXUSR)
    return d


def case_fake_rows(cli):
    d = fake_dir(cli, "rows")
    out_json = cli.path("out.json")
    _, out, _ = cli.run("bench", "--bench-dir", d, "--quick", "--ops", "rope", "--dtype", "f32",
                        "--threads", "2", "--json", out_json)
    doc, rows = load_rows(out_json)
    by_op = {r["op"]: r for r in rows}
    check(sorted(by_op) == ["rope_bwd", "rope_bwd+cache", "rope_fwd", "rope_fwd+cache"] and
          all(r["shape"] == GQA for r in rows), f"rows {rows}")
    # The cached rows pair posenc_cached with HF given cos/sin (torch_pre) and the explicit backward.
    fc, bc = by_op["rope_fwd+cache"], by_op["rope_bwd+cache"]
    check(close(fc["posenc_GBps"], 12.0) and close(fc["torch_eager_GBps"], 0.5) and
          close(fc["ratio_vs_copy"], 1.5) and close(fc["ratio_vs_torch"], 24.0), f"rope_fwd+cache {fc}")
    check(close(bc["posenc_GBps"], 10.0) and close(bc["torch_eager_GBps"], 2.0) and
          close(bc["ratio_vs_torch"], 5.0), f"rope_bwd+cache {bc}")
    fwd, bwd = by_op["rope_fwd"], by_op["rope_bwd"]
    # The median aggregate wins over the repetitions and the mean; single runs are averaged.
    check(close(fwd["posenc_GBps"], 2.0), f"rope_fwd posenc {fwd['posenc_GBps']} (median 2.0)")
    check(close(fwd["copy_GBps"], 8.0), f"rope_fwd copy {fwd['copy_GBps']} (mean of 7 and 9)")
    check(close(fwd["torch_eager_GBps"], 0.25), f"rope_fwd torch {fwd['torch_eager_GBps']}")
    check(close(fwd["ratio_vs_copy"], 0.25) and close(fwd["ratio_vs_torch"], 8.0), f"rope_fwd ratios {fwd}")
    check(close(bwd["posenc_GBps"], 1.5) and close(bwd["copy_GBps"], 8.0), f"rope_bwd {bwd}")
    check(bwd["torch_eager_GBps"] is None and bwd["ratio_vs_torch"] is None, f"rope_bwd torch {bwd}")
    check(any("torch output differs on purpose" in n for n in doc["notes"]), f"notes {doc['notes']}")
    check(doc["machine"]["simd"] == "FAKE512", f"machine.simd {doc['machine']['simd']!r}")
    check(doc["machine"]["threads"] == [2], f"machine.threads {doc['machine']['threads']!r}")
    text = check_table(out, rows)
    check("n/a" in text and "torch output differs on purpose" in text, f"no n/a with its reason:\n{text}")
    # Only the RoPE binary ran, once, with the JSON format, a filter naming every row, the thread count.
    check(not os.path.exists(os.path.join(d, "posenc_bench_embed.argv")), "posenc_bench_embed ran")
    with open(os.path.join(d, "posenc_bench_rope.argv"), encoding="utf-8") as f:
        runs = [json.loads(line) for line in f]
    check(len(runs) == 1, f"posenc_bench_rope ran {len(runs)} times")
    argv = runs[0]
    check("--benchmark_format=json" in argv and "--posenc_threads=2" in argv, f"argv {argv}")
    filt = [a for a in argv if a.startswith("--benchmark_filter=")]
    check(len(filt) == 1, f"argv {argv}")
    for name in ("rope_fwd/posenc_exact/" + GQA + "/f32", "rope/copy/" + GQA + "/f32",
                 "rope_fwd/torch/" + GQA + "/f32", "rope_bwd/posenc_exact/" + GQA + "/f32",
                 "rope_bwd/torch/" + GQA + "/f32", "rope_fwd/posenc_cached/" + GQA + "/f32",
                 "rope_fwd/torch_pre/" + GQA + "/f32", "rope_bwd/torch_explicit/" + GQA + "/f32"):
        check(name in filt[0], f"filter {filt[0]} does not name {name}")
    check("bf16" not in filt[0] and "T4096_H32_D128" not in filt[0], f"filter {filt[0]} asks for more")


def expect_error(cli, args, names, usage=False):
    """posenc args must fail with status 1 (CLI11's own non-zero status for a usage error) and a
    'posenc: error:' line naming every string in names."""
    rc, out, err = cli.run(*args, expect_ok=False)
    shown = " ".join(map(str, args))
    check(rc != 0 if usage else rc == 1, f"posenc {shown}: exit status {rc}\n{err}")
    check("posenc: error:" in err, f"posenc {shown}: no 'posenc: error:' on stderr: {err!r}")
    for name in names:
        check(name in err, f"posenc {shown}: error message does not name {name!r}: {err!r}")
    return err


def case_missing_binaries(cli):
    out_json = cli.path("out.json")
    expect_error(cli, ("bench", "--quick", "--bench-dir", "/nonexistent", "--json", out_json),
                 ["/nonexistent/posenc_bench_rope", "/nonexistent/posenc_bench_embed",
                  "/nonexistent/posenc_bench_bias", "cmake --build",
                  "--target posenc_bench_rope posenc_bench_embed posenc_bench_bias", "--bench-dir"])
    check(not os.path.exists(out_json), "a JSON file was written after the error")
    # Only the binaries the chosen ops need are looked for.
    err = expect_error(cli, ("bench", "--quick", "--ops", "table", "--bench-dir", "/nonexistent"),
                       ["/nonexistent/posenc_bench_embed"])
    check("posenc_bench_rope" not in err.split("(tried", 1)[1].split(")", 1)[0], f"{err!r}")


def case_failing_binary(cli):
    d = fake_dir(cli, "fail")
    out_json = cli.path("out.json")
    expect_error(cli, ("bench", "--bench-dir", d, "--ops", "rope_fwd", "--json", out_json),
                 ["posenc_bench_rope", "exited with status 3", "the fake fails on purpose"])
    check(not os.path.exists(out_json), "a JSON file was written after the error")
    expect_error(cli, ("bench", "--ops", "nosuchop"), ["--ops"], usage=True)
    expect_error(cli, ("bench", "--threads", "0", "--bench-dir", d), ["--threads"])


if __name__ == "__main__":
    main({"rope_json": case_rope_json, "threads_scaling": case_threads_scaling, "table_hf": case_table_hf,
          "bias_json": case_bias_json,
          "fake_rows": case_fake_rows, "missing_binaries": case_missing_binaries,
          "failing_binary": case_failing_binary}, sys.argv)
