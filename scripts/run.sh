#!/usr/bin/env bash
# README command 1: set up, build, and run the main job: a sinusoidal table and its heatmap in out/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake --preset release > /dev/null
cmake --build --preset release -j "$(nproc)"
mkdir -p out
./build/release/posenc table --kind sinusoidal --preset vaswani --dim 128 --max-positions 256 \
  --format json --out out/table.json --plot out/heatmap.png
./build/release/posenc table --kind sinusoidal --dim 8 --positions 0,1,2,3,4 --format csv
