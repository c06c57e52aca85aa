#!/usr/bin/env bash
# README command 1: set up, build, and run the main job: `posenc demo` on "The quick brown fox jumps."
# (tokens, embeddings, positional encodings, their sum, the Transformer's output, order), with its
# pictures in out/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake --preset release > /dev/null
cmake --build --preset release -j "$(nproc)"
./build/release/posenc demo --out out/demo
