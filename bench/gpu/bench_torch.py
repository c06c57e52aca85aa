#!/usr/bin/env python3
"""bench/gpu/bench_torch.py — HF eager and torch.compile on the shapes of posenc_bench_gpu, merged with
posenc's JSON into one table (op, shape, dtype, impl/variant, time, GB/s, x copy, vs compile, vs eager).

  RoPE: transformers.models.llama.modeling_llama.apply_rotary_pos_emb on q, k [8, 32, 4096, 128] with HF's
        cos/sin [8, 4096, 128] (computed once, outside the timing, as HF's rotary module does per forward);
        forward, and backward (torch.autograd.grad of both outputs, graph retained).
  Embed: F.embedding(ids, E) + F.embedding(pos, P), bf16 [8, 4096, 4096], V = 32000 (GPT-2's wte + wpe).
Timing as posenc_bench_gpu: CUDA events around groups of back-to-back calls, median per call. Bytes and the
copy time come from posenc's JSON (the same bytes for every implementation of a row).

Usage: bench_torch.py --posenc posenc_bench.json [--out bench_gpu.json] [--quick]
"""
import argparse
import json
import math
import statistics
import sys
import time

torch = None  # imported by main(): merge_table() and check_targets() run without torch (tests/cli)
F = None


def time_ms(fn, groups=15, per_group=10, warmup=3):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(groups):
        a = torch.cuda.Event(enable_timing=True)
        b = torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(per_group):
            fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b) / per_group)
    return statistics.median(times)


def hf_apply_rotary():
    try:
        from transformers.models.llama.modeling_llama import apply_rotary_pos_emb
        import transformers
        return apply_rotary_pos_emb, "transformers " + transformers.__version__
    except Exception as e:  # noqa: BLE001 - any import problem: fall back to HF's formula, said loudly
        print(f"bench_torch.py: cannot import HF apply_rotary_pos_emb ({e}); using a copy of its formula",
              file=sys.stderr)

        def rotate_half(x):
            x1 = x[..., : x.shape[-1] // 2]
            x2 = x[..., x.shape[-1] // 2:]
            return torch.cat((-x2, x1), dim=-1)

        def apply_rotary_pos_emb(q, k, cos, sin, unsqueeze_dim=1):
            cos = cos.unsqueeze(unsqueeze_dim)
            sin = sin.unsqueeze(unsqueeze_dim)
            return (q * cos) + (rotate_half(q) * sin), (k * cos) + (rotate_half(k) * sin)

        return apply_rotary_pos_emb, "formula copy"


def hf_cos_sin(B, T, D, dtype, base=10000.0):
    # LlamaRotaryEmbedding: inv_freq in float32, freqs = pos * inv_freq, emb = cat(freqs, freqs), cast to x's dtype.
    inv_freq = 1.0 / (base ** (torch.arange(0, D, 2, dtype=torch.int64, device="cuda").float() / D))
    pos = torch.arange(T, device="cuda").float()[None, :].expand(B, T)
    freqs = pos[..., None] * inv_freq[None, None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def bench_rope(rows, opts, apply_rotary):
    B, H, T, D = 8, 32, 4096, 128
    for dtype, dname in ((torch.bfloat16, "bf16"), (torch.float32, "f32")):
        q0 = torch.randn(B, H, T, D, device="cuda", dtype=dtype)
        k0 = torch.randn(B, H, T, D, device="cuda", dtype=dtype)
        cos, sin = hf_cos_sin(B, T, D, dtype)
        compiled = torch.compile(apply_rotary)
        for impl, fn in (("hf_eager", apply_rotary), ("torch_compile", compiled)):
            t0 = time.time()
            ms_f = time_ms(lambda: fn(q0, k0, cos, sin), **opts)
            rows.append({"impl": impl, "op": "rope_fwd", "dtype": dname, "ms": ms_f})
            q = q0.clone().requires_grad_(True)
            k = k0.clone().requires_grad_(True)
            qe, ke = fn(q, k, cos, sin)
            gq, gk = torch.randn_like(qe), torch.randn_like(ke)
            try:
                ms_b = time_ms(lambda: torch.autograd.grad((qe, ke), (q, k), (gq, gk), retain_graph=True), **opts)
                how = "autograd.grad"
            except RuntimeError as e:
                # A compiled backward that cannot run twice: time forward+backward, subtract the forward.
                print(f"bench_torch.py: {impl} backward with retain_graph failed ({e}); timing fwd+bwd - fwd",
                      file=sys.stderr)

                def step():
                    a, b = fn(q, k, cos, sin)
                    torch.autograd.grad((a, b), (q, k), (gq, gk))

                ms_b = max(time_ms(step, **opts) - ms_f, 1e-6)
                how = "fwd+bwd - fwd"
            rows.append({"impl": impl, "op": "rope_bwd", "dtype": dname, "ms": ms_b, "note": how})
            del q, k, qe, ke, gq, gk
            print(f"  {impl} rope {dname}: fwd {ms_f:.4f} ms, bwd {ms_b:.4f} ms ({time.time() - t0:.0f} s)",
                  flush=True)
        del q0, k0, cos, sin
        torch.cuda.empty_cache()


def bench_embed(rows, opts):
    B, T, C, V = 8, 4096, 4096, 32000
    E = torch.randn(V, C, device="cuda", dtype=torch.bfloat16)
    P = torch.randn(T, C, device="cuda", dtype=torch.bfloat16)
    ids = torch.randint(0, V, (B, T), device="cuda")
    pos = torch.arange(T, device="cuda")[None, :]

    def embed(ids, pos, E, P):
        return F.embedding(ids, E) + F.embedding(pos, P)

    compiled = torch.compile(embed)
    for impl, fn in (("eager", embed), ("torch_compile", compiled)):
        t0 = time.time()
        ms = time_ms(lambda: fn(ids, pos, E, P), **opts)
        rows.append({"impl": impl, "op": "embed_fwd", "dtype": "bf16", "ms": ms})
        print(f"  {impl} embed bf16: fwd {ms:.4f} ms ({time.time() - t0:.0f} s)", flush=True)


def merge_table(pz, trows):
    """posenc's rows (posenc_bench_gpu --json) and torch's into one table: GB/s and x copy from the bytes and
    copy time of posenc's first row of the same (op, dtype); vs compile / vs eager from torch's rows of the
    same (op, dtype), except for rows of another workload (variant pe_beyond_l2), which get None."""
    ref = {}
    for r in pz["rows"]:
        ref.setdefault((r["op"], r["dtype"]), r)
    tm = {(r["impl"], r["op"], r["dtype"]): r["ms"] for r in trows}
    table = []
    for r in pz["rows"] + trows:
        key = (r["op"], r["dtype"])
        if key not in ref:
            continue
        base = ref[key]
        ms = r["ms"]
        row = {
            "op": r["op"], "shape": base["shape"], "dtype": r["dtype"],
            "impl": r.get("impl", "posenc"), "variant": r.get("variant", r.get("note", "")),
            "ms": ms, "gbps": base["bytes"] / (ms * 1e-3) / 1e9,
            "x_copy": base["copy_ms"] / ms, "copy_ms": base["copy_ms"],
        }
        comp = tm.get(("torch_compile", r["op"], r["dtype"]))
        eag = tm.get(("hf_eager", r["op"], r["dtype"])) or tm.get(("eager", r["op"], r["dtype"]))
        if "pe_beyond_l2" in r.get("variant", ""):  # another workload than torch's rows (bench_gpu.cpp)
            comp = eag = None
        row["vs_compile"] = comp / ms if comp else None
        row["vs_eager"] = eag / ms if eag else None
        table.append(row)
    return table


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def print_table(pz, table):
    hdr = (f"{'op':<10} {'shape':<24} {'dtype':<5} {'impl / variant':<40} {'ms':>9} {'GB/s':>8} {'x copy':>7} "
           f"{'vs compile':>10} {'vs eager':>9}")
    print("\n" + f"device: {pz.get('device', '?')}   (x copy = copy time of the same bytes / time; vs = their "
          "time / this time)")
    print(hdr)
    print("-" * len(hdr))
    for r in table:
        name = r["impl"] + (f" ({r['variant']})" if r["variant"] else "")
        print(f"{r['op']:<10} {r['shape']:<24} {r['dtype']:<5} {name:<40} {r['ms']:>9.4f} {r['gbps']:>8.1f} "
              f"{r['x_copy']:>7.2f} {fmt(r['vs_compile'], '>10.2f'):>10} {fmt(r['vs_eager'], '>9.2f'):>9}")


def check_targets(table):
    """The issue's targets, for the main posenc variants (exact angles, out of place, ids checked): a list of
    (name, met, value)."""
    def posenc_row(op, dtype, variant):
        for r in table:
            if r["impl"] == "posenc" and r["op"] == op and r["dtype"] == dtype and r["variant"] == variant:
                return r
        return None

    checks = []
    for op in ("rope_fwd", "rope_bwd"):
        for dt in ("bf16", "f32"):
            r = posenc_row(op, dt, "exact")
            if r is None:
                continue
            checks.append((f"{op} {dt} >= 0.9x copy", r["x_copy"] >= 0.9, r["x_copy"]))
            checks.append((f"{op} {dt} >= 10x HF eager", (r["vs_eager"] or 0) >= 10, r["vs_eager"]))
            need = 1.2 if dt == "bf16" else 1.0
            checks.append((f"{op} {dt} >= {need}x torch.compile", (r["vs_compile"] or 0) >= need, r["vs_compile"]))
    # x copy from the row whose PE rows come from DRAM (in the issue's shape the 32 MiB PE table stays in L2,
    # which flatters the ratio); vs torch.compile from the issue's shape, which torch ran.
    r = posenc_row("embed_fwd", "bf16", "table,ids_checked,pe_beyond_l2")
    if r is not None:
        checks.append(("embed_fwd bf16 >= 0.85x copy (PE beyond L2)", r["x_copy"] >= 0.85, r["x_copy"]))
    r = posenc_row("embed_fwd", "bf16", "table,ids_checked")
    if r is not None:
        checks.append(("embed_fwd bf16 >= 1.5x torch.compile", (r["vs_compile"] or 0) >= 1.5, r["vs_compile"]))
    return checks


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--posenc", required=True, help="posenc_bench_gpu --json output")
    ap.add_argument("--out", help="merged JSON")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    opts = {"groups": 5, "per_group": 3} if args.quick else {"groups": 15, "per_group": 10}
    with open(args.posenc) as f:
        pz = json.load(f)
    global torch, F
    import torch as _torch
    import torch.nn.functional as _F
    torch, F = _torch, _F
    apply_rotary, hf_src = hf_apply_rotary()
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}, HF apply_rotary_pos_emb from {hf_src}", flush=True)
    torch.manual_seed(0)
    trows = []
    bench_rope(trows, opts, apply_rotary)
    bench_embed(trows, opts)

    table = merge_table(pz, trows)
    print_table(pz, table)
    checks = check_targets(table)
    print("\ntargets (issue 6):")
    for name, ok, v in checks:
        print(f"  {'MET ' if ok else 'MISS'} {name}: {fmt(v, '.2f')}")

    if args.out:
        with open(args.out, "w") as fo:
            json.dump({"device": pz.get("device"), "torch": torch.__version__, "hf": hf_src, "rows": table,
                       "targets": [{"target": n, "met": bool(o), "value": v} for n, o, v in checks]}, fo, indent=2)
        print(f"\nwritten: {args.out}")


if __name__ == "__main__":
    main()
