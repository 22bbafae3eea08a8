#!/usr/bin/env bash
# run.sh: carepost's benchmark, with Debian's Postfix + OpenDKIM measured in
# the same run on the same sinks; prints one table (bench/bench.py says how
# each figure is taken).
#
#   bench/run.sh [--quick] [--phases sink,accept,deliver,e2e,postfix]
#                [--phases webhooks] [--webhook-count 5000] [--webhook-rounds 2]
#                [--accept-count 100000] [--deliver-count 10000]
#                [--domains 20] [--sinks 4] [--connections 32]
#                [--server-threads N] [--delivery-threads N]
#                [--connections-per-domain N] [--timeout 300]
#                [--sink cpp|python]
#
# Runs as root (Postfix, OpenDKIM), on loopback only; every step is bounded
# by a count and by --timeout. The default run takes about 3-5 minutes on
# two cores. The binary is CAREPOST_BIN, else build/src/app/carepost.
# Scratch and raw figures: /tmp/carepost-bench (emptied at each run).
# The lean capture sink (bench/sink/bench_sink.cpp) is built here first, in
# BENCH_BUILD_DIR (default build-bench), with one job.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD_DIR=${BENCH_BUILD_DIR:-$HERE/../build-bench}
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
    cmake -S "$HERE" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
ninja -C "$BUILD_DIR" -j1 bench_sink >/dev/null
BENCH_SINK_BINARY=$BUILD_DIR/bench_sink exec /usr/bin/python3 "$HERE/bench.py" "$@"
