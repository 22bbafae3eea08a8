#!/usr/bin/env bash
# Installs what the tests need, builds, and runs every test (unit and
# end-to-end, with real Postfix, TLS and DKIM peers on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
build_dir=${BUILD_DIR:-build}
log=$build_dir/ctest.log
status=0
ctest --test-dir "$build_dir" --output-on-failure --timeout 900 2>&1 | tee "$log" || status=$?

# One plain closing line: passed, failed and skipped counts from ctest's summary.
total=$(sed -nE 's/.*tests failed out of ([0-9]+).*/\1/p' "$log" | tail -1)
failed=$(sed -nE 's/.* ([0-9]+) tests failed out of.*/\1/p' "$log" | tail -1)
skipped=$(grep -cE '\(Skipped\)$' "$log" || true)
if [ -n "$total" ] && [ -n "$failed" ]; then
    echo "tests: $((total - failed - skipped)) passed, $failed failed, $skipped skipped"
fi
exit "$status"
