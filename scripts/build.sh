#!/usr/bin/env bash
# Configures and builds carepost (binary: build/src/app/carepost).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCAREPOST_COMPONENTS=
cmake --build "$build_dir" -j "$(nproc)"
