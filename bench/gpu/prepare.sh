#!/usr/bin/env bash
# bench/gpu/prepare.sh — run on a Debian 12 machine with network (here), before a GPU session: downloads
# the Debian packages the GPU build needs into .gpu-deps/ (git-ignored, ~4.5 MB) for bench/gpu/run.sh,
# which unpacks them into a private prefix (.gpu-deps/prefix, never /) on the GPU machine, where the
# -dev packages are most likely missing and there is no network. Carry .gpu-deps to the GPU machine.
#   Highway (the core's SIMD), GoogleTest, MPFR/GMP (the test suite's CMake needs them), nlohmann-json
#   (posenc::hf), SentencePiece and pkgconf (the model's tokenizers, for the optional LibTorch step), zlib
#   (the model's checkpoint CRC, same step).
# Usage: bash bench/gpu/prepare.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dest="$root/.gpu-deps"
pkgs=(libhwy-dev libhwy1 libgtest-dev nlohmann-json3-dev libmpfr-dev libmpfr6 libgmp-dev libgmp10 libgmpxx4ldbl
      libsentencepiece-dev libsentencepiece0 pkgconf pkgconf-bin libpkgconf3 zlib1g-dev zlib1g)
mkdir -p "$dest"
rm -f "$dest"/*.deb
cd "$dest"
# apt-get download fetches the candidate version of each package into the current directory (no root
# needed; as root, apt warns that it cannot drop privileges for a directory _apt cannot write: harmless).
apt-get download "${pkgs[@]}" 2>&1 | grep -v "^W: Download is performed unsandboxed" || true
# Plain file names (<package>.deb: versions carry '+', epochs '%3a'): nothing odd to carry between machines.
missing=0
for p in "${pkgs[@]}"; do
  f=$(ls "$dest/${p}"_*.deb 2> /dev/null | head -n 1 || true)
  if [ -z "$f" ]; then
    echo "prepare.sh: $p was not downloaded" >&2
    missing=1
  else
    mv "$f" "$dest/$p.deb"
  fi
done
[ "$missing" = 0 ] || exit 1
echo "prepare.sh: $(ls "$dest"/*.deb | wc -l) packages, $(du -sh "$dest" | cut -f1) in $dest"
