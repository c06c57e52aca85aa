#!/usr/bin/python3
"""posenc table: help, bad input and failed output, which must never crash or leave files behind.

usage: test_errors.py POSENC_BINARY SCRATCH_DIR CASE
"""
import os
import stat
import subprocess
import sys

import numpy as np

from cli_common import check, main, read_npy

SIN = ("table", "--kind", "sinusoidal")
LEARNED = ("table", "--kind", "learned")
BASE = ("--dim", 8, "--max-positions", 4, "--format", "json")


def files_in(path):
    return sorted(os.listdir(path))


def expect_error(cli, args, names, where=None):
    """posenc args must exit non-zero (not by a signal) with 'posenc: error:' and every string in names on
    stderr, and leave the directory `where` (default: the scratch dir) as it was."""
    where = where or cli.scratch
    before = files_in(where)
    rc, out, err = cli.run(*args, expect_ok=False)
    shown = " ".join(map(str, args))
    check(rc != 0, f"posenc {shown}: exit status 0, want an error")
    check(1 <= rc <= 127, f"posenc {shown}: exit status {rc}")
    check("posenc: error:" in err, f"posenc {shown}: no 'posenc: error:' on stderr: {err!r}")
    for name in names:
        check(name in err, f"posenc {shown}: error message does not name {name!r}: {err!r}")
    check(files_in(where) == before, f"posenc {shown}: left {set(files_in(where)) - set(before)} "
                                     f"in {where}")
    return err


def case_help(cli):
    rc, out, err = cli.run("--help")
    check("table" in out.decode(), "posenc --help does not list the table command")
    rc, out, err = cli.run("table", "--help")
    text = out.decode()
    for word in ["--kind", "--preset", "--dim", "--max-positions", "--positions", "--base",
                 "--padding-idx", "--dtype", "--precision", "--format", "--out", "--plot", "--init",
                 "--seed", "--std", "--quiet",
                 # allowed values and defaults
                 "sinusoidal", "learned", "vaswani", "fairseq", "tensor2tensor", "marian", "f32",
                 "f16", "bf16", "exact", "hf_compat", "json", "csv", "npy", "safetensors", "normal",
                 "zeros", "10000", "0.02"]:
        check(word in text, f"posenc table --help does not mention {word!r}")
    rc, out, err = cli.run("--version")
    check(out.decode().strip() != "", "posenc --version printed nothing")
    expect_error(cli, [], ["subcommand"])


def case_bad_input(cli):
    bad = cli.path("bad")
    os.makedirs(bad)
    out = ("--out", os.path.join(bad, "x.json"), "--plot", os.path.join(bad, "x.png"))
    dim_pos = ("--dim", 8, "--max-positions", 4)
    cases = [
        # dimension
        ((*SIN, "--dim", 0, "--max-positions", 4, "--format", "json"), ["--dim"]),
        ((*SIN, "--dim=-4", "--max-positions", 4, "--format", "json"), ["--dim"]),
        ((*SIN, "--dim", -4, "--max-positions", 4, "--format", "json"), ["--dim"]),
        ((*SIN, "--dim", "0x10", "--max-positions", 4, "--format", "json"), ["--dim"]),
        ((*SIN, "--dim", 7, "--max-positions", 4, "--format", "json"), ["--dim"]),
        ((*SIN, "--dim", "abc", "--max-positions", 4, "--format", "json"), ["--dim"]),
        # an option given twice (CLI11 said "At Most 1 required but received 2")
        ((*SIN, "--dim", 8, "--dim", 4, "--max-positions", 4, "--format", "json"), ["--dim", "given 2 times", "once"]),
        ((*SIN, "--dim", "99999999999999999999", "--max-positions", 4, "--format", "json"),
         ["--dim"]),
        ((*SIN, "--max-positions", 4, "--format", "json"), ["--dim"]),
        ((*LEARNED, "--dim", 0, "--max-positions", 4, "--format", "json"), ["--dim"]),
        # positions
        ((*SIN, "--dim", 8, "--positions", "0,-5", "--format", "json"), ["--positions", "-5"]),
        ((*SIN, "--dim", 8, "--positions", -5, "--format", "json"), ["--positions", "-5"]),
        ((*SIN, "--dim", 8, "--positions", "0,,5", "--format", "json"), ["--positions", "empty"]),
        ((*SIN, "--dim", 8, "--positions", "a", "--format", "json"), ["--positions", "a"]),
        ((*SIN, "--dim", 8, "--positions", "1.5", "--format", "json"), ["--positions"]),
        ((*SIN, "--dim", 8, "--positions", "99999999999999999999", "--format", "json"),
         ["--positions", "range"]),
        ((*SIN, "--dim", 8, "--positions", "0,2147483648", "--format", "json"), ["--positions"]),
        ((*SIN, "--dim", 8, "--positions", "", "--format", "json"), ["--positions"]),
        ((*SIN, "--dim", 8, "--positions", "0,", "--format", "json"), ["--positions"]),
        ((*SIN, "--dim", 8, "--max-positions", 0, "--format", "json"), ["--max-positions"]),
        ((*SIN, "--dim", 8, "--max-positions=-3", "--format", "json"), ["--max-positions"]),
        ((*SIN, "--dim", 8, "--max-positions", 2147483649, "--format", "json"),
         ["--max-positions"]),
        ((*SIN, "--dim", 8, "--format", "json"), ["--max-positions", "--positions"]),
        ((*SIN, "--dim", 8, "--max-positions", 4, "--positions", "1", "--format", "json"),
         ["--max-positions", "--positions"]),
        ((*SIN, "--dim", 1 << 20, "--max-positions", 1 << 31, "--format", "json"),
         ["--max-positions", "--dim"]),
        ((*LEARNED, "--dim", 8, "--positions", "0,1", "--format", "json"), ["--positions"]),
        # names
        ((*SIN, "--preset", "bogus", *BASE), ["--preset", "bogus"]),
        ((*SIN, "--dtype", "f64", *BASE), ["--dtype", "f64"]),
        ((*SIN, *dim_pos, "--format", "xml"), ["--format", "xml"]),
        ((*SIN, *dim_pos), ["--format"]),
        (("table", "--kind", "rope", *BASE), ["--kind", "rope"]),
        ((*SIN, *BASE, "--precision", "fast"), ["--precision", "fast"]),
        ((*SIN, *BASE, "--bogus", 1), ["--bogus"]),
        (("tabel", *BASE), ["tabel"]),
        # library checks of the config
        ((*SIN, "--padding-idx", 1, *BASE), ["--padding-idx"]),
        ((*SIN, "--preset", "marian", "--padding-idx", 1, *BASE), ["--padding-idx"]),
        ((*SIN, "--preset", "fairseq", "--padding-idx", -5, *BASE), ["--padding-idx"]),
        ((*SIN, "--base", 1, *BASE), ["--base"]),
        ((*SIN, "--base", "nan", *BASE), ["--base"]),
        ((*SIN, "--base", "-inf", *BASE), ["--base"]),
        ((*SIN, "--base", "ten", *BASE), ["--base"]),
        # options that do not apply
        ((*SIN, "--seed", 3, *BASE), ["--seed"]),
        ((*SIN, "--init", "zeros", *BASE), ["--init"]),
        ((*LEARNED, "--init", "zeros", "--std", 0.1, *BASE), ["--std"]),
        ((*LEARNED, "--preset", "fairseq", *BASE), ["--preset"]),
        ((*LEARNED, "--std", -1, *BASE), ["--std"]),
        ((*LEARNED, "--std", "inf", *BASE), ["--std"]),
        # a std past the dtype's range would make (nearly) every value infinite (CLI audit)
        ((*LEARNED, "--std", "1e30", "--dtype", "f16", *BASE), ["--std", "1e+30", "65504"]),
        ((*LEARNED, "--std", "1e308", *BASE), ["--std", "1e+308"]),
        ((*LEARNED, "--seed", -1, *BASE), ["--seed"]),
        ((*LEARNED, "--init", "uniform", *BASE), ["--init", "uniform"]),
        # formats
        ((*SIN, *dim_pos, "--dtype", "bf16", "--format", "npy"), ["bf16", "npy", "safetensors"]),
    ]
    for args, names in cases:
        expect_error(cli, [*args, *out], names, where=bad)
    # npy and safetensors need a file.
    for fmt in ("npy", "safetensors"):
        expect_error(cli, [*SIN, *dim_pos, "--format", fmt], ["--out"], where=bad)
    # An empty path (an unset shell variable) is an error, not "not given" (it wrote to stdout).
    for option in ("--out", "--plot"):
        expect_error(cli, [*SIN, *dim_pos, "--format", "json", option, ""], [option, "the path is empty"], where=bad)


def case_unwritable_output(cli):
    table = (*SIN, "--dim", 8, "--max-positions", 4, "--format", "json", "--quiet")
    afile = cli.path("afile")
    with open(afile, "w") as f:
        f.write("not a directory\n")
    adir = cli.path("adir")
    os.makedirs(adir)
    ok = cli.path("ok.json")
    for target, reason in [("/nonexistent_dir/x.json", "No such file or directory"),
                           (os.path.join(afile, "x.json"), "Not a directory"),
                           ("/proc/version/x.json", ""),
                           (adir, "directory")]:
        expect_error(cli, [*table, "--out", target], [target, reason])
        expect_error(cli, [*table, "--plot", target], [target, reason])
        # Output and heatmap succeed or fail together: a good --out is not written if --plot fails.
        expect_error(cli, [*table, "--out", ok, "--plot", target], [target])
        expect_error(cli, [*table, "--out", target, "--plot", cli.path("ok.png")], [target])
    check(files_in(adir) == [], f"files left in {adir}: {files_in(adir)}")
    check(files_in(cli.scratch) == ["adir", "afile"], f"scratch holds {files_in(cli.scratch)}")
    # A write error on a device: /dev/full is written in place (never renamed over) and fails.
    if os.path.exists("/dev/full"):
        expect_error(cli, [*table, "--out", "/dev/full"], ["/dev/full", "No space left"])
        check(stat.S_ISCHR(os.stat("/dev/full").st_mode), "/dev/full is no longer a device")
        check(not [n for n in os.listdir("/dev") if ".tmp." in n], "temporaries left in /dev")
        # PLplot ignores write errors: a plot to a device is staged and copied in with checked writes
        # (the CLI audit found --plot /dev/full exiting 0); the staging file does not stay behind.
        staging_dir = cli.path("staging")
        os.makedirs(staging_dir)
        proc = subprocess.run([cli.binary, *map(str, table), "--out", "/dev/null", "--plot", "/dev/full"],
                              capture_output=True, timeout=60, env={**os.environ, "TMPDIR": staging_dir})
        rc, err = proc.returncode, proc.stderr.decode("utf-8", "replace")
        check(rc > 0 and "/dev/full" in err and "No space left" in err, f"--plot /dev/full: rc {rc}, {err!r}")
        check(os.listdir(staging_dir) == [], f"staging files left: {os.listdir(staging_dir)}")
        os.rmdir(staging_dir)
    # Devices are written in place, not replaced: /dev/null stays a device.
    cli.run(*table, "--out", "/dev/null", "--plot", "/dev/null")
    check(stat.S_ISCHR(os.stat("/dev/null").st_mode), "/dev/null is no longer a device")
    # A read-only directory; as root chmod does not stop writes, so this only bites for other users.
    ro = cli.path("readonly")
    os.makedirs(ro)
    os.chmod(ro, 0o555)
    try:
        if os.geteuid() != 0:
            expect_error(cli, [*table, "--out", os.path.join(ro, "x.json")], ["readonly"], where=ro)
    finally:
        os.chmod(ro, 0o755)


def case_failure_keeps_old_file(cli):
    target = cli.path("x.json")
    with open(target, "w") as f:
        f.write("OLD\n")
    expect_error(cli, [*SIN, "--dim", 7, "--max-positions", 4, "--format", "json", "--out", target],
                 ["--dim"])
    expect_error(cli, [*SIN, *BASE, "--out", target, "--plot", "/nonexistent_dir/x.png"],
                 ["/nonexistent_dir/x.png"])
    with open(target) as f:
        check(f.read() == "OLD\n", "a failed run changed the existing output file")
    # A successful run replaces it; through a symlink, the link stays and its target is replaced.
    os.symlink("x.json", cli.path("link.json"))
    cli.run(*SIN, *BASE, "--out", cli.path("link.json"))
    check(os.path.islink(cli.path("link.json")), "the symlink was replaced by a file")
    with open(target) as f:
        check(f.read().startswith("{"), "writing through the symlink did not replace its target")
    check(files_in(cli.scratch) == ["link.json", "x.json"], f"scratch holds {files_in(cli.scratch)}")


def case_midwrite_failure(cli):
    """A learned table stored as f16 with a huge std holds a few infinities, which JSON cannot represent:
    the writer fails part-way through a multi-megabyte file. Nothing may remain of it."""
    rows, dim, std = 1024, 1024, 14000.0
    args = (*LEARNED, "--dim", dim, "--max-positions", rows, "--std", std)
    # Pick a seed whose first f16 overflow (|v| >= 65520) lies well past the writer's 1 MiB buffer.
    for seed in range(1, 40):
        f32, _ = read_npy(cli.table(*args, "--seed", seed, fmt="npy", name="probe.npy"))
        over = np.flatnonzero(np.abs(f32) >= 65520.0)
        if over.size and 300_000 <= over[0] <= 900_000:
            break
    else:
        check(False, "no seed in 1..39 puts the first f16 overflow mid-table")
    os.remove(cli.path("probe.npy"))
    err = expect_error(cli, [*args, "--seed", seed, "--dtype", "f16", "--format", "json", "--out",
                             cli.path("t.json")], ["finite"])
    check(files_in(cli.scratch) == [], f"scratch holds {files_in(cli.scratch)}")
    # csv can say inf: the same table is written there.
    out = cli.table(*args, "--seed", seed, "--dtype", "f16", fmt="csv", extra=("--quiet",))
    with open(out) as f:
        check("inf" in f.read(), f"no inf in the f16 csv ({err})")


CASES = {name[len("case_"):]: fn for name, fn in globals().items() if name.startswith("case_")}

if __name__ == "__main__":
    main(CASES, sys.argv)
