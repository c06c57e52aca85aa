"""Helpers of the rope / alibi / t5-bucket / inspect CLI tests: the HF golden vectors, config.json files
written from them, and error checks.

The golden file is ../shared/golden/hf_reference.json beside the checkout (POSENC_GOLDEN_DIR overrides);
its README states the precision rules used here.
"""
import json
import os

import numpy as np

from cli_common import check

GOLDEN_DIR = os.environ.get("POSENC_GOLDEN_DIR") or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "golden"))


def golden_cases(kind, layout=None):
    with open(os.path.join(GOLDEN_DIR, "hf_reference.json")) as f:
        cases = json.load(f)["cases"]
    out = [c for c in cases if c["kind"] == kind and (layout is None or c.get("layout") == layout)]
    check(out, f"no golden cases of kind {kind} {layout or ''}")
    return out


def hf_config(case, style):
    """A config.json dict for a golden half_split rope case, in one of three spellings of the same
    model: "5.x" (rope_parameters with rope_theta inside), "4.x" (rope_theta top-level, rope_scaling with
    the legacy `type` key) or "phi3" (4.x, with original_max_position_embeddings at the top level)."""
    rp = dict(case["hf_rope_parameters"])
    heads = 4
    cfg = {"model_type": "llama", "hidden_size": case["head_dim"] * heads,
           "num_attention_heads": heads, "max_position_embeddings": case["max_position_embeddings"]}
    if case.get("partial_rotary_factor") is not None:
        cfg["partial_rotary_factor"] = case["partial_rotary_factor"]
    if style == "5.x":
        cfg["rope_parameters"] = rp
        return cfg
    cfg["rope_theta"] = rp.pop("rope_theta")
    rope_type = rp.pop("rope_type")
    if style == "phi3" and "original_max_position_embeddings" in rp:
        cfg["original_max_position_embeddings"] = rp.pop("original_max_position_embeddings")
    cfg["rope_scaling"] = None if rope_type == "default" else {"type": rope_type, **rp}
    return cfg


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f)
    return path


def files_in(path):
    return sorted(os.listdir(path))


def expect_error(cli, args, names, where=None):
    """posenc args must fail (exit 1..127, not a signal) with 'posenc: error:' and every string of names
    on stderr, and leave the directory `where` (default: the scratch dir) unchanged."""
    where = where or cli.scratch
    before = files_in(where)
    rc, out, err = cli.run(*args, expect_ok=False)
    shown = " ".join(map(str, args))
    check(rc != 0, f"posenc {shown}: exit status 0, want an error")
    check(1 <= rc <= 127, f"posenc {shown}: exit status {rc}")
    check("posenc: error:" in err, f"posenc {shown}: no 'posenc: error:' on stderr: {err!r}")
    for name in names:
        check(name in err, f"posenc {shown}: error message does not name {name!r}: {err!r}")
    check(files_in(where) == before,
          f"posenc {shown}: left {set(files_in(where)) - set(before)} in {where}")
    return err


def write_npy(path, array, **kw):
    np.save(path, array, **kw)
    return path


def ulp32(x):
    return np.spacing(np.abs(np.asarray(x, dtype=np.float32))).astype(np.float64)
