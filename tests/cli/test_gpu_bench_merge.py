#!/usr/bin/python3
"""bench/gpu/bench_torch.py's table and targets, without a GPU: the merge of posenc's rows with torch's and
the issue's target checks run on every machine, so that the GPU run (minutes of lent time) does not find a
Python mistake. torch is not needed (the script imports it only to measure).

usage: test_gpu_bench_merge.py PATH/TO/bench_torch.py
"""
import contextlib
import importlib.util
import io
import math
import sys


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def close(a, b):
    return a is not None and math.isclose(a, b, rel_tol=1e-12)


def main():
    spec = importlib.util.spec_from_file_location("bench_torch", sys.argv[1])
    bt = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bt)
    check("torch" not in sys.modules, "importing bench_torch.py imported torch")

    rope_shape, embed_shape = "[8, 32, 4096, 128] q+k", "[8, 4096, 4096] V=32000"

    def prow(op, dtype, variant, ms, nbytes, copy, shape):
        return {"impl": "posenc", "op": op, "shape": shape, "dtype": dtype, "variant": variant, "ms": ms,
                "bytes": nbytes, "copy_ms": copy}

    pz = {"device": "Test GPU", "rows": [
        prow("rope_fwd", "bf16", "exact", 0.30, 1.0e9, 0.27, rope_shape),
        prow("rope_fwd", "bf16", "exact,in_place", 0.32, 1.0e9, 0.27, rope_shape),
        prow("rope_bwd", "bf16", "exact", 0.40, 1.0e9, 0.27, rope_shape),
        prow("rope_fwd", "f32", "exact", 0.50, 2.0e9, 0.48, rope_shape),
        prow("embed_fwd", "bf16", "table,ids_checked", 0.20, 0.8e9, 0.19, embed_shape),
        prow("embed_fwd", "bf16", "table,ids_checked,pe_beyond_l2", 0.25, 0.8e9, 0.19, embed_shape),
        prow("embed_bwd", "bf16", "dE+dPE", 0.38, 1.1e9, 0.19, embed_shape),
    ]}
    trows = [
        {"impl": "hf_eager", "op": "rope_fwd", "dtype": "bf16", "ms": 3.0},
        {"impl": "torch_compile", "op": "rope_fwd", "dtype": "bf16", "ms": 0.35},
        {"impl": "hf_eager", "op": "rope_bwd", "dtype": "bf16", "ms": 3.5, "note": "autograd.grad"},
        {"impl": "torch_compile", "op": "rope_bwd", "dtype": "bf16", "ms": 0.30, "note": "autograd.grad"},
        {"impl": "eager", "op": "embed_fwd", "dtype": "bf16", "ms": 0.50},
        {"impl": "torch_compile", "op": "embed_fwd", "dtype": "bf16", "ms": 0.31},
        {"impl": "hf_eager", "op": "rope_fwd", "dtype": "f16", "ms": 1.0},  # no posenc row: left out
    ]
    table = bt.merge_table(pz, trows)
    check(len(table) == len(pz["rows"]) + len(trows) - 1, f"{len(table)} rows")

    def row(impl, op, dtype, variant):
        hits = [r for r in table if (r["impl"], r["op"], r["dtype"], r["variant"]) == (impl, op, dtype, variant)]
        check(len(hits) == 1, f"{impl} {op} {dtype} {variant!r}: {len(hits)} rows")
        return hits[0]

    r = row("posenc", "rope_fwd", "bf16", "exact")
    check(close(r["x_copy"], 0.27 / 0.30), f"x copy {r['x_copy']}")
    check(close(r["gbps"], 1.0e9 / 0.30e-3 / 1e9), f"GB/s {r['gbps']}")
    check(close(r["vs_compile"], 0.35 / 0.30) and close(r["vs_eager"], 3.0 / 0.30), f"ratios {r}")
    check(r["shape"] == rope_shape, r["shape"])
    r = row("torch_compile", "rope_bwd", "bf16", "autograd.grad")
    check(close(r["vs_compile"], 1.0) and close(r["x_copy"], 0.27 / 0.30), f"torch row {r}")
    r = row("posenc", "rope_fwd", "f32", "exact")
    check(r["vs_compile"] is None and r["vs_eager"] is None, f"f32 without torch rows: {r}")
    # The PE-beyond-L2 row is another workload: no ratio against torch's rows.
    r = row("posenc", "embed_fwd", "bf16", "table,ids_checked,pe_beyond_l2")
    check(r["vs_compile"] is None and r["vs_eager"] is None, f"pe_beyond_l2 compared with torch: {r}")
    check(close(r["x_copy"], 0.19 / 0.25), f"pe_beyond_l2 x copy {r['x_copy']}")
    r = row("posenc", "embed_fwd", "bf16", "table,ids_checked")
    check(close(r["vs_compile"], 0.31 / 0.20) and close(r["vs_eager"], 0.50 / 0.20), f"embed ratios {r}")

    checks = {name: (met, value) for name, met, value in bt.check_targets(table)}
    want = {
        "rope_fwd bf16 >= 0.9x copy": (True, 0.9),
        "rope_fwd bf16 >= 10x HF eager": (True, 10.0),
        "rope_fwd bf16 >= 1.2x torch.compile": (False, 0.35 / 0.30),
        "rope_bwd bf16 >= 0.9x copy": (False, 0.27 / 0.40),
        "rope_bwd bf16 >= 10x HF eager": (False, 3.5 / 0.40),
        "rope_bwd bf16 >= 1.2x torch.compile": (False, 0.30 / 0.40),
        "rope_fwd f32 >= 0.9x copy": (True, 0.48 / 0.50),
        "rope_fwd f32 >= 10x HF eager": (False, None),
        "rope_fwd f32 >= 1.0x torch.compile": (False, None),
        "embed_fwd bf16 >= 0.85x copy (PE beyond L2)": (False, 0.19 / 0.25),
        "embed_fwd bf16 >= 1.5x torch.compile": (True, 0.31 / 0.20),
    }
    check(set(checks) == set(want), f"targets {sorted(checks)}")
    for name, (met, value) in want.items():
        got_met, got_value = checks[name]
        check(got_met == met, f"{name}: met {got_met}, want {met}")
        check((value is None and got_value is None) or close(got_value, value), f"{name}: {got_value}, want {value}")

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        bt.print_table(pz, table)
    text = out.getvalue()
    check("Test GPU" in text and "pe_beyond_l2" in text and text.count("\n") >= len(table) + 3, text)
    print("ok")


if __name__ == "__main__":
    main()
