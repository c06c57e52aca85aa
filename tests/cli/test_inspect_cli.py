#!/usr/bin/python3
"""posenc inspect: the explanation of a config's RoPE (checked against an independent float64 reading of
HF's llama3 and yarn rules), the wavelength plot, and bad input; for models without RoPE, the ALiBi slopes
and T5 buckets it prints against HF's golden vectors, the absolute table's rows and offsets, and the
RoPE-only options refused.

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


SLOPE = re.compile(r"^\s*(\d+)\s+(\S+)\s+(\S+)\s*$")
BUCKET = re.compile(r"^\s*(\d+)  (.+)$")


def report(cli, config, *extra):
    rc, out, err = cli.run("inspect", "--config", config, *extra)
    return out.decode()


def case_alibi(cli):
    """BLOOM configs: the slope printed for each head is HF's (golden; h12 is not a power of two), with
    1 / slope beside it."""
    for case in golden_cases("alibi"):
        heads = case["num_heads"]
        text = report(cli, write_json(cli.path("bloom.json"), {"model_type": "bloom", "n_head": heads}))
        for phrase in ["encoding: ALiBi", f"heads: {heads} [n_head]", "form: key_position", "mask: causal"]:
            check(phrase in text, f"{case['name']}: report lacks {phrase!r}:\n{text}")
        rows = [m for m in map(SLOPE.match, text.split("per head:")[1].splitlines()) if m]
        check(len(rows) == heads, f"{case['name']}: {len(rows)} head rows:\n{text}")
        # HF's slopes are float32 (within 2^-24 of the exact value posenc prints) and the report has 8
        # significant digits (within 5e-8): 2e-7 relative covers both, one float32 step is 1.2e-7.
        for h, (m, want) in enumerate(zip(rows, case["slopes"])):
            check(int(m[1]) == h, f"{case['name']}: row {h} is head {m[1]}")
            check(abs(float(m[2]) - want) <= 2e-7 * want, f"{case['name']}: head {h} slope {m[2]}, want {want}")
            check(abs(float(m[3]) * want - 1) <= 2e-7, f"{case['name']}: head {h} 1 / slope {m[3]}")


def bucket_holds(desc, r):
    for pattern, test in [(r"every r", lambda: True), (r"r <= (-?\d+)", lambda v: r <= v),
                          (r"r >= (-?\d+)", lambda v: r >= v),
                          (r"(-?\d+) \.\. (-?\d+)", lambda a, b: a <= r <= b), (r"(-?\d+)", lambda v: r == v)]:
        m = re.fullmatch(pattern, desc)
        if m:
            return test(*map(int, m.groups()))
    check(False, f"unreadable bucket description {desc!r}")


def case_t5(cli):
    """T5 configs whose is_decoder picks the direction: every golden relative position lies in exactly one
    printed bucket, HF's."""
    for case in golden_cases("t5_bucket"):
        cfg = write_json(cli.path("t5.json"), {
            "model_type": "t5", "num_heads": 6, "relative_attention_num_buckets": case["num_buckets"],
            "relative_attention_max_distance": case["max_distance"], "is_decoder": not case["bidirectional"],
            "is_encoder_decoder": False})
        text = report(cli, cfg)
        direction = "bidirectional" if case["bidirectional"] else "causal"
        for phrase in ["encoding: T5 relative attention bias", f"buckets: {case['num_buckets']}",
                       f"max_distance: {case['max_distance']}", "heads: 6 [num_heads]", f"direction: {direction}",
                       f"table: [{case['num_buckets']}, 6]"]:
            check(phrase in text, f"{case['name']}: report lacks {phrase!r}:\n{text}")
        table = {}
        for line in text.split("per bucket:")[1].splitlines()[2:]:
            m = BUCKET.match(line)
            if not m:
                break
            table[int(m[1])] = m[2]
        check(len(table) >= case["num_buckets"] - 1, f"{case['name']}: {len(table)} buckets listed")
        for r, want in zip(case["relative_position"], case["bucket"]):
            holders = [b for b, desc in table.items() if bucket_holds(desc, r)]
            check(holders == [want], f"{case['name']}: r = {r} listed in buckets {holders}, HF: {want}")


def case_absolute(cli):
    """The rows, the row of position 0 and the scale as HF's modules use them (derived here by hand)."""
    cases = [
        ({"model_type": "m2m_100", "d_model": 16, "max_position_embeddings": 20, "pad_token_id": 3,
          "scale_embedding": True},
         ["sinusoidal absolute positions", "preset: fairseq", "padding row: 3 (all zeros) [pad_token_id]",
          "columns: 16 [d_model]", "rows: 22 [max_position_embeddings + 2]",
          "position 0: row 4 [pad_token_id + 1]", "embedding scale: 4 = sqrt(16)", "posenc table --config"]),
        ({"model_type": "bert", "hidden_size": 768, "max_position_embeddings": 512},
         ["learned absolute positions", "rows: 512 [max_position_embeddings]", "position 0: row 0",
          "longest sequence: 512 positions (0 .. 511)", "embedding scale: 1", "in the model's checkpoint"]),
        ({"model_type": "roberta", "hidden_size": 768, "max_position_embeddings": 514, "pad_token_id": 1},
         ["position 0: row 2 [pad_token_id + 1]", "longest sequence: 512 positions (0 .. 511)"]),
        ({"model_type": "opt", "hidden_size": 768, "max_position_embeddings": 2048},
         ["rows: 2050 [max_position_embeddings + 2]", "position 0: row 2",
          "longest sequence: 2048 positions"]),
    ]
    for cfg, phrases in cases:
        text = report(cli, write_json(cli.path("model.json"), cfg))
        for phrase in phrases:
            check(phrase in text, f"{cfg['model_type']}: report lacks {phrase!r}:\n{text}")


def case_stack(cli):
    """--stack chooses the table of an encoder-decoder model whose stacks differ (Whisper: a sinusoidal
    encoder table added to the frames, a learned decoder one; Speech2Text: fairseq tables of the source
    and target lengths) and T5's bucket direction; without it the encoder, with a warning. It is an
    error for RoPE and ALiBi configs. Fixed tables do not claim to grow as fairseq's buffers do."""
    whisper = write_json(cli.path("whisper.json"), {
        "model_type": "whisper", "d_model": 384, "encoder_attention_heads": 6, "max_source_positions": 1500,
        "max_target_positions": 448, "scale_embedding": False})
    s2t = write_json(cli.path("s2t.json"), {
        "model_type": "speech_to_text", "d_model": 256, "max_source_positions": 6000,
        "max_target_positions": 1024, "pad_token_id": 1, "scale_embedding": True})
    t5 = write_json(cli.path("t5.json"), {"model_type": "t5", "num_heads": 8})
    marian = write_json(cli.path("marian.json"), {"model_type": "marian", "d_model": 512,
                                                  "max_position_embeddings": 512})
    cases = [
        (whisper, [], ["sinusoidal absolute positions", "input frame at position p", "preset: tensor2tensor",
                       "stack: encoder [default", "rows: 1500 [max_source_positions]",
                       "1500 positions (0 .. 1499); a longer one has no row in HF's table",
                       "frames are added unscaled", "warnings:", "Stack::Decoder"], ["grows"]),
        (whisper, ["--stack", "decoder"], ["learned absolute positions", "stack: decoder [decoder (as requested)]",
                                           "rows: 448 [max_target_positions]", "embedding of the token"],
         ["warnings:", "frame"]),
        (s2t, ["--stack", "encoder"], ["preset: fairseq", "rows: 6002 [max_source_positions + 2]",
                                       "position 0: row 2", "frames are multiplied by it",
                                       "it grows for longer inputs"], ["warnings:"]),
        (s2t, ["--stack", "decoder"], ["rows: 1026 [max_target_positions + 2]",
                                       "token embeddings are multiplied by it"], ["warnings:"]),
        (t5, ["--stack", "decoder"], ["direction: causal"], []),
        (t5, ["--stack", "encoder"], ["direction: bidirectional"], []),
        (marian, [], ["rows: 512 [max_position_embeddings]", "a longer one has no row in HF's table"],
         ["grows", "stack:"]),
    ]
    for cfg, extra, want, unwanted in cases:
        text = report(cli, cfg, *extra)
        for phrase in want:
            check(phrase in text, f"{cfg} {extra}: report lacks {phrase!r}:\n{text}")
        for phrase in unwanted:
            check(phrase not in text, f"{cfg} {extra}: report has {phrase!r}:\n{text}")
    llama = write_json(cli.path("llama.json"), {"model_type": "llama", "hidden_size": 256,
                                                "num_attention_heads": 4})
    bloom = write_json(cli.path("bloom.json"), {"model_type": "bloom", "n_head": 8})
    expect_error(cli, ["inspect", "--config", llama, "--stack", "decoder"], ["--stack", "RoPE"])
    expect_error(cli, ["inspect", "--config", bloom, "--stack", "encoder"], ["--stack", "ALiBi"])
    expect_error(cli, ["inspect", "--config", whisper, "--stack", "middle"], ["--stack", "middle"])


def case_not_rope(cli):
    """The RoPE-only options are errors for other models, and posenc rope refuses them (it used to
    describe a default RoPE from their head sizes)."""
    bert = write_json(cli.path("bert.json"), {"model_type": "bert", "hidden_size": 768,
                                              "num_attention_heads": 12, "max_position_embeddings": 512})
    bloom = write_json(cli.path("bloom.json"), {"model_type": "bloom", "n_head": 8, "hidden_size": 512})
    png = cli.path("wl.png")
    for extra in (["--plot", png], ["--seq-len", "100"], ["--layer-type", "full_attention"]):
        expect_error(cli, ["inspect", "--config", bert, *extra], [extra[0], "absolute position embeddings"])
    expect_error(cli, ["inspect", "--config", bloom, "--plot", png], ["--plot", "ALiBi"])
    expect_error(cli, ["rope", "--config", bert, "--positions", "0,1"],
                 ["model_type", "bert", "load_absolute_config"])
    expect_error(cli, ["rope", "--config", bloom, "--positions", "0,1"], ["model_type", "posenc alibi"])


def case_nope(cli):
    """Llama 4 Scout's text config: interleaved pairs, llama3 scaling with high_freq_factor ==
    low_freq_factor (a step at 8192, computed here from the formula), and the NoPE layers listed; Cohere
    2's full_attention layers have no RoPE to describe."""
    scout = write_json(cli.path("scout.json"), {"model_type": "llama4", "text_config": {
        "model_type": "llama4_text", "head_dim": 128, "hidden_size": 5120, "num_attention_heads": 40,
        "num_hidden_layers": 48, "max_position_embeddings": 10485760, "rope_theta": 500000.0,
        "no_rope_layers": [], "rope_scaling": {"factor": 16.0, "high_freq_factor": 1.0,
                                               "low_freq_factor": 1.0,
                                               "original_max_position_embeddings": 8192,
                                               "rope_type": "llama3"}}})
    text, rows, err = inspect(cli, scout)
    expected = ["interpolated" if 2 * math.pi * 500000.0 ** (2 * i / 128) > 8192 else "unchanged"
                for i in range(64)]
    check(0 < expected.count("interpolated") < 64, "control: the step lies inside the head")
    check_rows(rows, expected, "llama4")
    check(all(a == 2 * i and b == 2 * i + 1 for i, a, b, *_ in rows), "llama4: pairs are not (2i, 2i + 1)")
    nope = ", ".join(str(i) for i in range(3, 48, 4))
    for needle in ["layout: interleaved", "no band between (high_freq_factor = low_freq_factor: a step)",
                   f"layers without RoPE (NoPE, 0-based): {nope} [default (every no_rope_layer_interval = 4-th "
                   "layer)]", "attn_temperature_tuning"]:
        check(needle in text, f"llama4: {needle!r} not in the report:\n{text}")
    cohere2 = write_json(cli.path("cohere2.json"), {"model_type": "cohere2", "hidden_size": 4096,
                                                    "num_attention_heads": 32, "num_hidden_layers": 8})
    text, rows, err = inspect(cli, cohere2, "--layer-type", "sliding_attention")
    check("layers without RoPE (NoPE, 0-based): 3, 7 " in text and "layout: interleaved" in text, text)
    check("ignored" not in text, f"cohere2 --layer-type sliding_attention is its RoPE, not ignored: {text}")
    expect_error(cli, ["inspect", "--config", cohere2, "--layer-type", "full_attention"],
                 ["layer_type", "full_attention", "NoPE"])


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
        # a plot over the config.json it reads would destroy the config
        (("inspect", "--config", per_layer, "--layer-type", "full_attention", "--plot", per_layer),
         ["--plot", "--config", per_layer]),
    ]
    with open(per_layer, "rb") as f:
        config_bytes = f.read()
    for args, names in cases:
        expect_error(cli, args, names, where=bad)
    with open(per_layer, "rb") as f:
        check(f.read() == config_bytes, "the config.json was changed")
    text, rows, err = inspect(cli, per_layer, "--layer-type", "full_attention")
    check({row[5] for row in rows} == {"interpolated"} and "base (rope_theta): 1e+06" in text, text)


CASES = {name[len("case_"):]: fn for name, fn in globals().items() if name.startswith("case_")}

if __name__ == "__main__":
    main(CASES, sys.argv)
