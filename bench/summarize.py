#!/usr/bin/env python3
"""Summarise posenc_bench_embed's JSON output (--benchmark_format=json or --benchmark_out=...json).

Rows are paired by benchmark name, <op>/<impl>/<shape>/<dtype>[/min_time:...][/repeats:...][/real_time]:
for each (op, shape, dtype) the posenc, copy and torch impls go into one line of the main table, with
posenc's bandwidth as a fraction of the copy's and a multiple of torch's. Every other impl (torch_out,
proto_nt, ...) goes into a second table, against the same copy and posenc.

With repetitions, the median of the repetitions is used (the *_cv aggregate gives the spread). GB/s is
10^9 bytes per second of wall time (Google Benchmark's console prints 2^30, "G/s").

usage: python3 bench/summarize.py results.json     (or: ... | python3 bench/summarize.py -)
"""
import json
import sys

MAIN = ("posenc", "copy", "torch")


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
        cell = rows[key].setdefault(impl, {"gbs": None, "cv": None, "n": 0})
        if agg == "cv":
            cell["cv"] = b["bytes_per_second"]
        elif agg == "median":
            cell["gbs"] = b["bytes_per_second"] / 1e9
        else:  # single runs, no aggregates: average them
            cell["n"] += 1
            gbs = b["bytes_per_second"] / 1e9
            cell["gbs"] = gbs if cell["gbs"] is None else cell["gbs"] + (gbs - cell["gbs"]) / cell["n"]
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
    print(f"date {ctx.get('date', '?')}, {ctx.get('num_cpus', '?')} CPUs, "
          f"posenc threads {ctx.get('posenc_threads', '?')}, torch: {ctx.get('torch', '?')}, "
          f"load average {' '.join(f'{x:.2f}' for x in load_avg) if load_avg else '?'}")
    print("GB/s = 1e9 bytes/s, median of the repetitions (± coefficient of variation).\n")

    main_lines, other_lines = [], []
    for key in order:
        op, shape, dtype = key
        impls = rows[key]
        pe, cp, th = (impls.get(i) for i in MAIN)
        main_lines.append([op, shape, dtype, fmt_gbs(pe), fmt_gbs(cp), fmt_gbs(th), ratio(pe, cp),
                           ratio(pe, th)])
        for impl, cell in impls.items():
            if impl not in MAIN:
                other_lines.append([op, impl, shape, dtype, fmt_gbs(cell), ratio(cell, cp),
                                    ratio(cell, pe)])
    print(table(["op", "shape", "dtype", "posenc GB/s", "copy GB/s", "torch eager GB/s",
                 "posenc / copy", "posenc / torch"], main_lines))
    if other_lines:
        print()
        print(table(["op", "impl", "shape", "dtype", "GB/s", "/ copy", "/ posenc"], other_lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
