#!/usr/bin/env python3
"""Summarise posenc_bench_embed's JSON output (--benchmark_format=json or --benchmark_out=...json).

Rows are paired by benchmark name, <op>/<impl>/<shape>/<dtype>[/min_time:...][/repeats:...][/real_time]:
for each (op, shape, dtype) the posenc, copy and torch impls go into one line of the main table, with
posenc's bandwidth as a fraction of the copy's and a multiple of torch's. Every other impl (torch_out,
proto_nt, ...) goes into a second table, against the same copy and posenc.

RoPE rows (posenc_bench_rope: ops rope_fwd, rope_bwd, rope_table; the copy ceiling under op "rope") get
their own tables: one line per precision (impls posenc_exact, posenc_hf) against the shared copy and the
torch impls (rope_fwd: torch = cos/sin computed in the call, torch_pre = precomputed; rope_bwd: torch =
autograd, torch_explicit = the explicit formula), then the prototypes, then rope_table in ms per call.

With repetitions, the median of the repetitions is used (the *_cv aggregate gives the spread). GB/s is
10^9 bytes per second of wall time (Google Benchmark's console prints 2^30, "G/s").

usage: python3 bench/summarize.py results.json     (or: ... | python3 bench/summarize.py -)
"""
import json
import sys

MAIN = ("posenc", "copy", "torch")
TO_MS = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}
ROPE_PRECISIONS = (("posenc_exact", "exact"), ("posenc_hf", "hf"))
ROPE_MAIN = ("posenc_exact", "posenc_hf", "copy", "torch", "torch_pre", "torch_explicit")


def load(path):
    if path == "-":
        return json.load(sys.stdin)
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def parse(doc):
    """{(op, shape, dtype): {impl: {"gbs": float, "cv": float or None}}} and the keys in the order the
    binary registered them (family_index; random interleaving shuffles the run order)."""
    rows, first = {}, {}
    for b in doc.get("benchmarks", []):
        if b.get("error_occurred"):
            continue
        run_type = b.get("run_type", "iteration")
        agg = b.get("aggregate_name", "")
        if run_type == "aggregate" and agg not in ("median", "cv"):
            continue
        parts = b.get("run_name", b["name"]).split("/")
        if len(parts) < 4 or "bytes_per_second" not in b:
            continue
        op, impl, shape, dtype = parts[:4]
        key = (op, shape, dtype)
        rows.setdefault(key, {})
        first[key] = min(first.get(key, 1 << 30), b.get("family_index", len(first)))
        cell = rows[key].setdefault(impl, {"gbs": None, "cv": None, "n": 0, "ms": None})
        ms = b.get("real_time", 0.0) * TO_MS.get(b.get("time_unit", "ns"), 1e-6)
        if agg == "cv":
            cell["cv"] = b["bytes_per_second"]
        elif agg == "median":
            cell["gbs"] = b["bytes_per_second"] / 1e9
            cell["ms"] = ms
        else:  # single runs, no aggregates: average them
            cell["n"] += 1
            gbs = b["bytes_per_second"] / 1e9
            cell["gbs"] = gbs if cell["gbs"] is None else cell["gbs"] + (gbs - cell["gbs"]) / cell["n"]
            cell["ms"] = ms if cell["ms"] is None else cell["ms"] + (ms - cell["ms"]) / cell["n"]
    return rows, sorted(rows, key=lambda k: first[k])


def fmt_gbs(cell):
    if cell is None or cell["gbs"] is None:
        return "-"
    s = f"{cell['gbs']:.3f}" if cell["gbs"] < 1 else f"{cell['gbs']:.2f}"
    if cell.get("cv") is not None:
        s += f" ±{100 * cell['cv']:.0f}%"
    return s


def ratio(a, b):
    if a is None or b is None or a["gbs"] is None or not b["gbs"]:
        return "-"
    return f"{a['gbs'] / b['gbs']:.2f}x"


def fmt_ms(cell):
    if cell is None or cell.get("ms") is None:
        return "-"
    return f"{cell['ms']:.2f}" if cell["ms"] < 100 else f"{cell['ms']:.0f}"


def rope_tables(rows, order):
    """The RoPE section: main table, prototypes, the cos/sin table alone."""
    main_lines, other_lines, table_lines = [], [], []
    for key in order:
        op, shape, dtype = key
        impls = rows[key]
        if op == "rope_table":
            table_lines += [[impl, shape, dtype, fmt_ms(cell)] for impl, cell in impls.items()]
            continue
        if op == "rope":  # ceilings: copy goes into the main table, any other one is listed
            cp = impls.get("copy")
            other_lines += [[op, impl, shape, dtype, fmt_gbs(cell), fmt_ms(cell), ratio(cell, cp), "-"]
                            for impl, cell in impls.items() if impl != "copy"]
            continue
        if op not in ("rope_fwd", "rope_bwd"):
            continue
        cp = rows.get(("rope", shape, dtype), {}).get("copy")
        th = impls.get("torch")
        alt = impls.get("torch_pre") or impls.get("torch_explicit")
        for impl, precision in ROPE_PRECISIONS:
            pe = impls.get(impl)
            if pe is None:
                continue
            main_lines.append([op, shape, dtype, precision, fmt_gbs(pe), fmt_ms(pe), fmt_gbs(cp),
                               fmt_gbs(th), fmt_gbs(alt), ratio(pe, cp), ratio(pe, th), ratio(pe, alt)])
        for impl, cell in impls.items():
            if impl not in ROPE_MAIN:
                other_lines.append([op, impl, shape, dtype, fmt_gbs(cell), fmt_ms(cell), ratio(cell, cp),
                                    ratio(cell, impls.get("posenc_exact"))])
    out = []
    if main_lines:
        out.append("torch = HF formula, rope_fwd: cos/sin computed in the call, rope_bwd: autograd; "
                   "torch alt = rope_fwd: cos/sin precomputed, rope_bwd: explicit formula.")
        out.append(table(["op", "shape", "dtype", "precision", "posenc GB/s", "posenc ms", "copy GB/s",
                          "torch GB/s", "torch alt GB/s", "posenc / copy", "posenc / torch",
                          "posenc / torch alt"], main_lines))
    if other_lines:
        out.append(table(["op", "impl", "shape", "dtype", "GB/s", "ms", "/ copy", "/ posenc_exact"],
                         other_lines))
    if table_lines:
        out.append(table(["rope_table impl", "shape", "dtype", "ms per call"], table_lines))
    return out


def table(header, lines):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    out += ["| " + " | ".join(line) + " |" for line in lines]
    return "\n".join(out)


def main(argv):
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    doc = load(argv[1])
    rows, order = parse(doc)
    ctx = doc.get("context", {})
    load_avg = ctx.get("load_avg")
    inv_freq = ctx.get("torch_inv_freq_vs_posenc_hf")
    print(f"date {ctx.get('date', '?')}, {ctx.get('num_cpus', '?')} CPUs, "
          f"posenc threads {ctx.get('posenc_threads', '?')}, torch: {ctx.get('torch', '?')}, "
          + (f"torch's inv_freq vs posenc HfCompat's: {inv_freq}, " if inv_freq else "")
          + f"load average {' '.join(f'{x:.2f}' for x in load_avg) if load_avg else '?'}")
    print("GB/s = 1e9 bytes/s, median of the repetitions (± coefficient of variation).\n")

    main_lines, other_lines = [], []
    for key in order:
        op, shape, dtype = key
        if op.startswith("rope"):
            continue
        impls = rows[key]
        pe, cp, th = (impls.get(i) for i in MAIN)
        main_lines.append([op, shape, dtype, fmt_gbs(pe), fmt_gbs(cp), fmt_gbs(th), ratio(pe, cp),
                           ratio(pe, th)])
        for impl, cell in impls.items():
            if impl not in MAIN:
                other_lines.append([op, impl, shape, dtype, fmt_gbs(cell), ratio(cell, cp),
                                    ratio(cell, pe)])
    blocks = []
    if main_lines:
        blocks.append(table(["op", "shape", "dtype", "posenc GB/s", "copy GB/s", "torch eager GB/s",
                             "posenc / copy", "posenc / torch"], main_lines))
    if other_lines:
        blocks.append(table(["op", "impl", "shape", "dtype", "GB/s", "/ copy", "/ posenc"], other_lines))
    blocks += rope_tables(rows, order)
    print("\n\n".join(blocks))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
