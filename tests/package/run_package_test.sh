#!/usr/bin/env bash
# Installs the built posenc into a scratch prefix, then configures, builds and runs a consumer project
# that finds it with find_package(posenc).
set -euo pipefail
build_dir=$1 source_dir=$2 scratch=$3
rm -rf "$scratch" && mkdir -p "$scratch"
cmake --install "$build_dir" --prefix "$scratch/prefix" > "$scratch/install.log"
cmake -S "$source_dir" -B "$scratch/build" -G Ninja -DCMAKE_PREFIX_PATH="$scratch/prefix" > "$scratch/configure.log"
cmake --build "$scratch/build" > "$scratch/build.log"
"$scratch/build/consumer"
