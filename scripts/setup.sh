#!/usr/bin/env bash
# Installs, from Debian's packages, whatever posenc needs that this machine lacks. Idempotent: when all is
# present it installs nothing and does not touch the network. Run as root (or with sudo).
set -euo pipefail
packages=(
  cmake ninja-build g++ pkg-config git
  libhwy-dev                           # Highway: SIMD of the CPU kernels (run-time dispatch)
  libgtest-dev libbenchmark-dev        # tests, benchmarks
  libcli11-dev nlohmann-json3-dev      # the posenc command
  libplplot-dev plplot-driver-cairo    # heatmaps (PNG through cairo)
  libmpfr-dev libgmp-dev               # high-precision references in the tests
  python3 python3-numpy                # tests load the .npy output with NumPy
  libtorch-dev libopenblas0-pthread    # LibTorch: adapter, model, trainer, benchmarks (OpenBLAS for matmuls)
  libsentencepiece-dev                 # SentencePiece tokenizer (train and load .model files)
  zlib1g-dev                           # CRC-32 of checkpoint files
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" > /tmp/posenc-apt.log ||
    { cat /tmp/posenc-apt.log; exit 1; }
else
  echo "setup: all packages present"
fi
