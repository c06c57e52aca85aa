#!/usr/bin/env bash
# bench/gpu/run.sh — one script for a machine with an NVIDIA GPU (H100/H200), CUDA 13, PyTorch (+ transformers)
# in the system python3, cmake and ninja, and no network. Builds posenc with its CUDA kernels, runs the GPU
# tests, benchmarks posenc against HF eager, torch.compile and a device-to-device copy, and (time
# permitting) builds the LibTorch adapter and runs a training step of the model on the GPU against the CPU.
# Budget: 7.5 minutes (POSENC_GPU_BUDGET_S, default 450 s, counted from the start; steps that
# would not fit are skipped and say so). POSENC_GPU_NCU=1 adds an Nsight Compute profile (step 4b).
#
#   bash bench/gpu/prepare.sh      # beforehand, on a Debian 12 machine with network: .gpu-deps/*.deb
#   bash bench/gpu/run.sh          # on the GPU machine, from anywhere; carry .gpu-deps along
#
# The -dev packages the build needs (Highway, GoogleTest, MPFR/GMP, nlohmann-json, SentencePiece, pkgconf)
# come from .gpu-deps/*.deb, unpacked into .gpu-deps/prefix (never into /) with dpkg -x, or with python3
# when dpkg is missing; packages the system already has are used from there instead only if .gpu-deps is
# absent. Logs of every step, posenc_bench.json, bench_gpu.json (the merged table), sincos_cost.json
# (bench_sincos.cu), test XML and summary.txt go to out/gpu (emptied first). With $OUT set (the device tool
# returns at most 8 files), $OUT gets five: summary.txt, bench_gpu.json, posenc_bench.json,
# sincos_cost.json and gpu_logs.tgz (all of out/gpu). The last lines printed say which steps passed.
# Exit status: 0 every step passed, 1 a step failed or timed out, 2 none failed but some were skipped for
# lack of time or of a CUDA LibTorch (their results are missing).
# Every step's time limit is clamped to what is left of the budget; a step that would not get its minimum
# is skipped (the summary says so).
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ret=${OUT:-}
out=$root/out/gpu
rm -rf "$out"
mkdir -p "$out"
budget=${POSENC_GPU_BUDGET_S:-450}
start=$(date +%s)
jobs=$(nproc 2> /dev/null || echo 8)
build=$root/build-gpu
build_torch=$root/build-gpu-torch
deps=$root/.gpu-deps
prefix=$deps/prefix
summary=()
failed=0      # a step failed or timed out
incomplete=0  # a step was skipped for time (or LibTorch is missing)
reserve=15    # seconds kept for the summary and the packing of the outputs

elapsed() { echo $(($(date +%s) - start)); }
left() { echo $((budget - $(elapsed))); }
note() { echo "[run.sh $(elapsed)s] $*"; }

# step NAME TIMEOUT_S CMD...: runs CMD with its output in $out/NAME.log (and on the console), records
# PASS/FAIL/TIMEOUT with the time it took.
step() {
  local name=$1 limit=$2
  shift 2
  local t0=$(date +%s) rc
  note "step $name (limit ${limit}s)"
  if declare -F "$1" > /dev/null; then
    "$@" > >(tee "$out/$name.log") 2>&1  # a function of this script (short steps): no timeout
  else
    timeout --kill-after=10 "$limit" "$@" > >(tee "$out/$name.log") 2>&1
  fi
  rc=$?
  local dt=$(($(date +%s) - t0))
  if [ $rc -eq 0 ]; then
    summary+=("PASS    $name (${dt}s)")
  elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    summary+=("TIMEOUT $name after ${dt}s (log: $name.log)")
    failed=1
  else
    summary+=("FAIL    $name (rc $rc, ${dt}s; log: $name.log)")
    failed=1
  fi
  return $rc
}
skip() { summary+=("SKIP    $1: $2"); note "skip $1: $2"; }
# timed NAME MAX MIN CMD...: step with a limit of MAX seconds, or what is left of the budget (less the
# reserve) when that is less; skipped (and the run incomplete) when that would be under MIN seconds.
timed() {
  local name=$1 max=$2 min=$3
  shift 3
  local lim=$(($(left) - reserve))
  [ "$lim" -gt "$max" ] && lim=$max
  if [ "$lim" -lt "$min" ]; then
    skip "$name" "$(left)s of the budget left, it needs at least ${min}s"
    incomplete=1
    return 1
  fi
  step "$name" "$lim" "$@"
}
finish() {
  local rc=${1:-0}
  if [ -n "${torch_pid:-}" ] && kill -0 "$torch_pid" 2> /dev/null; then  # the background build
    kill -TERM -- "-$torch_pid" 2> /dev/null
  fi
  [ "$rc" = 0 ] && [ "$failed" = 1 ] && rc=1
  [ "$rc" = 0 ] && [ "$incomplete" = 1 ] && rc=2
  {
    echo
    echo "================ bench/gpu/run.sh: $(elapsed)s, exit status $rc ================"
    for s in "${summary[@]}"; do echo "  $s"; done
    echo "  (0: every step passed; 1: a step failed or timed out; 2: none failed, some skipped)"
    echo "  outputs: $out${ret:+, and in $ret: summary.txt, the JSON files, gpu_logs.tgz}"
  } | tee "$out/summary.txt"
  if [ -n "$ret" ]; then
    mkdir -p "$ret"
    for f in summary.txt bench_gpu.json posenc_bench.json sincos_cost.json; do
      [ -f "$out/$f" ] && cp "$out/$f" "$ret/"
    done
    tar -czf "$ret/gpu_logs.tgz" -C "$out" . 2> /dev/null || echo "run.sh: packing the logs failed"
  fi
  exit "$rc"
}
# Stopped from outside (the device tool's limit): the summary and the outputs still come back.
trap 'summary+=("KILLED  by a signal at $(elapsed)s"); failed=1; finish 1' TERM INT

# ---- 0. the machine -------------------------------------------------------------------------------------------
if ! command -v nvcc > /dev/null 2>&1; then
  for d in /usr/local/cuda/bin /usr/local/cuda-13*/bin /opt/cuda/bin; do
    [ -x "$d/nvcc" ] && export PATH="$d:$PATH" && break
  done
fi
{
  echo "date: $(date -u)"
  nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv 2>&1
  command -v nvcc && nvcc --version | tail -2
  cmake --version | head -1
  ninja --version 2>&1 | head -1
  ${CXX:-c++} --version | head -1
  (cd "$out" && python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.is_available())') 2>&1
  (cd "$out" && python3 -c 'import transformers; print("transformers", transformers.__version__)') 2>&1
} | tee "$out/machine.log"
command -v nvcc > /dev/null 2>&1 || { summary+=("FAIL    machine: no nvcc"); finish 1; }
cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2> /dev/null | head -n 1 | tr -d ' .')
archs=${POSENC_CUDA_ARCHS:-${cap:-90}}
note "CUDA architectures: $archs"

# ---- 1. the -dev packages, unpacked privately ---------------------------------------------------------------------
unpack_deb() {  # unpack_deb FILE DEST: dpkg -x, or ar + tar via python3 when dpkg is missing
  if command -v dpkg > /dev/null 2>&1; then
    dpkg -x "$1" "$2"
  else
    python3 - "$1" "$2" << 'PY'
import io, sys, tarfile
deb, dest = sys.argv[1], sys.argv[2]
data = open(deb, "rb").read()
assert data[:8] == b"!<arch>\n", "not a .deb"
at = 8
while at < len(data):
    name = data[at:at + 16].decode().strip().rstrip("/")
    size = int(data[at + 48:at + 58].decode().strip())
    body = data[at + 60:at + 60 + size]
    if name.startswith("data.tar"):
        if name.endswith(".zst"):
            import zstandard  # only if the .deb is zstd-compressed (Debian 12 uses xz)
            body = zstandard.ZstdDecompressor().decompress(body, max_output_size=1 << 30)
            mode = "r:"
        else:
            mode = "r:*"
        with tarfile.open(fileobj=io.BytesIO(body), mode=mode) as t:
            t.extractall(dest)
    at += 60 + size + (size & 1)
PY
  fi
}
deps_step() {
  if ! ls "$deps"/*.deb > /dev/null 2>&1; then
    echo "no $deps/*.deb: using the system's packages (run bench/gpu/prepare.sh and carry .gpu-deps if they are missing)"
    return 0
  fi
  rm -rf "$prefix" && mkdir -p "$prefix"
  for f in "$deps"/*.deb; do
    unpack_deb "$f" "$prefix" || return 1
  done
  ls "$prefix/usr/lib/x86_64-linux-gnu" | head -50
}
step deps 60 deps_step

cmake_deps=()
if [ -d "$prefix/usr" ]; then
  lib=$prefix/usr/lib/x86_64-linux-gnu
  cmake_deps=(
    "-DCMAKE_PREFIX_PATH=$prefix/usr;$lib/cmake;$prefix/usr/share/cmake"
    "-Dhwy_DIR=$lib/cmake/hwy"
    "-DGTest_DIR=$lib/cmake/GTest"
    "-Dnlohmann_json_DIR=$prefix/usr/share/cmake/nlohmann_json"
    "-DMPFR_LIBRARY=$lib/libmpfr.so" "-DGMP_LIBRARY=$lib/libgmp.so" "-DMPFR_INCLUDE_DIR=$prefix/usr/include"
    "-DCMAKE_BUILD_RPATH=$lib"
  )
  export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  # pkg-config for SentencePiece (LibTorch step): the system's, else the unpacked pkgconf; paths in the .pc
  # files are /usr/..., rebased onto the prefix by PKG_CONFIG_SYSROOT_DIR.
  export PKG_CONFIG_PATH="$lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  export PKG_CONFIG_SYSROOT_DIR="$prefix"
  if ! command -v pkg-config > /dev/null 2>&1 && [ -x "$prefix/usr/bin/pkgconf" ]; then
    ln -sf "$prefix/usr/bin/pkgconf" "$prefix/usr/bin/pkg-config"
    export PATH="$PATH:$prefix/usr/bin"
  fi
fi

# ---- 2. posenc with CUDA: core, GPU tests, GPU benchmark (no LibTorch) ------------------------------------------------
configure_core() {
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPOSENC_CORE_ONLY=ON -DPOSENC_CUDA=ON \
    -DPOSENC_BENCH=ON -DPOSENC_INSTALL=OFF "-DCMAKE_CUDA_ARCHITECTURES=$archs" "${cmake_deps[@]}"
}
timed configure 90 20 configure_core || finish 1

# ---- 2b. the LibTorch adapter + model, built in the background (it overlaps the core build and the tests;
# torch.h makes it the longest build); waited for (or stopped) before the benchmarks, which get a quiet machine.
torch_dir=${POSENC_TORCH_DIR:-$(cd "$out" && python3 -c 'import os, torch; print(os.path.join(torch.utils.cmake_prefix_path, "Torch"))' 2> /dev/null)}
torch_pid=""
if [ "${POSENC_SKIP_TORCH:-0}" = 1 ]; then
  skip libtorch "POSENC_SKIP_TORCH=1"
elif [ -z "$torch_dir" ] || [ ! -d "$torch_dir" ]; then
  skip libtorch "no LibTorch CMake package from python3 torch"
  incomplete=1
else
  note "building the LibTorch adapter and model in the background (log: $out/build_torch.log)"
  torch_cmd="cmake -S $(printf %q "$root") -B $(printf %q "$build_torch") -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DPOSENC_CUDA=ON -DPOSENC_CLI=OFF -DPOSENC_BENCH=OFF -DPOSENC_INSTALL=OFF -DTorch_DIR=$(printf %q "$torch_dir") \
    -DCMAKE_CUDA_ARCHITECTURES=$archs $(printf '%q ' "${cmake_deps[@]}") && \
    cmake --build $(printf %q "$build_torch") -j $jobs --target test_cuda_model"
  setsid nice -n 5 bash -c "$torch_cmd" > "$out/build_torch.log" 2>&1 &
  torch_pid=$!
  torch_t0=$(date +%s)
fi

timed build 300 60 cmake --build "$build" -j "$jobs" --target test_cuda_checks test_cuda_kernels test_errors \
  posenc_bench_gpu posenc_bench_sincos || finish 1

# Fresh random inputs for the GPU tests at every run (tests/cuda/gpu_test_util.hpp); the seed is printed
# in their logs and here, so a failure can be rerun with POSENC_GPU_SEED=<seed>.
export POSENC_GPU_SEED=${POSENC_GPU_SEED:-$(( $(date +%s) % 1000000007 ))}
note "POSENC_GPU_SEED=$POSENC_GPU_SEED"
# ---- 3. tests ------------------------------------------------------------------------------------------------------------
timed test_cuda_checks 60 10 "$build/tests/cuda/test_cuda_checks" "--gtest_output=xml:$out/test_cuda_checks.xml"
timed test_errors 60 10 "$build/tests/test_errors" "--gtest_output=xml:$out/test_errors.xml"
timed test_cuda_kernels 180 30 "$build/tests/cuda/test_cuda_kernels" "--gtest_output=xml:$out/test_cuda_kernels.xml"
grep -h "^\[ hf_compat \]\|^\[ exact \]" "$out/test_cuda_kernels.log" > "$out/exactness.txt" 2> /dev/null || true

# The background LibTorch build: wait while the benchmarks still fit (they need ~150 s), else stop it.
torch_built=0
if [ -n "$torch_pid" ]; then
  note "waiting for the LibTorch build"
  while kill -0 "$torch_pid" 2> /dev/null && [ "$(left)" -gt 170 ]; do sleep 2; done
  if kill -0 "$torch_pid" 2> /dev/null; then
    kill -TERM -- "-$torch_pid" 2> /dev/null
    sleep 1
    kill -KILL -- "-$torch_pid" 2> /dev/null
    summary+=("SKIP    build_torch: stopped after $(($(date +%s) - torch_t0))s to leave the benchmarks time (log: build_torch.log)")
    incomplete=1
  elif wait "$torch_pid"; then
    summary+=("PASS    build_torch (background, $(($(date +%s) - torch_t0))s)")
    torch_built=1
  else
    summary+=("FAIL    build_torch (log: build_torch.log)")
    failed=1
  fi
fi

# ---- 4. benchmarks -------------------------------------------------------------------------------------------------------
quick=()
[ "$(left)" -lt 150 ] && quick=(--quick) && note "little time left: quick benchmarks"
timed bench_posenc 120 20 "$build/posenc_bench_gpu" "${quick[@]}" --json "$out/posenc_bench.json"
if [ -s "$out/posenc_bench.json" ]; then
  # From $out: the repository's torch/ directory must not shadow the torch package.
  timed bench_torch 240 40 bash -c "cd '$out' && python3 '$root/bench/gpu/bench_torch.py' ${quick[*]} --posenc '$out/posenc_bench.json' --out '$out/bench_gpu.json'"
else
  skip bench_torch "no posenc_bench.json"
fi

# What exact angles cost against sincosf / __sincosf / a double angle, and how many values differ (~10 s).
timed bench_sincos 30 15 "$build/posenc_bench_sincos" --json "$out/sincos_cost.json"

# ---- 4b. a profile (optional: POSENC_GPU_NCU=1 and Nsight Compute's ncu on the PATH or in the CUDA
# toolkit): the RoPE and embed kernels of a quick benchmark run, their first launches only (ncu replays each
# profiled launch), Speed of Light + memory + compute sections as CSV in $out/ncu.csv. It says what bounds
# the bf16 RoPE kernel (issue 6: 0.79x copy on the H200).
ncu_bin=$(command -v ncu || ls /usr/local/cuda*/bin/ncu 2>/dev/null | head -1 || true)
if [ "${POSENC_GPU_NCU:-0}" = 1 ]; then
  if [ -z "$ncu_bin" ]; then
    skip ncu "ncu not found"
  elif [ "$(left)" -lt 100 ]; then
    skip ncu "$(left)s left"  # optional: not counted as incomplete
  else
    timed ncu 150 60 "$ncu_bin" --csv --log-file "$out/ncu.csv" \
      --kernel-name regex:'rope_kernel|combine_kernel' --launch-skip 4 --launch-count 6 \
      --section SpeedOfLight --section MemoryWorkloadAnalysis --section ComputeWorkloadAnalysis \
      "$build/posenc_bench_gpu" --quick
  fi
fi

# ---- 5. a training step of the model on the GPU against the CPU (LibTorch) --------------------------------------------------
if [ "$torch_built" = 1 ]; then
  timed test_cuda_model 60 15 "$build_torch/tests/cuda/test_cuda_model" "--gtest_output=xml:$out/test_cuda_model.xml"
fi

finish 0
