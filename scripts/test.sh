#!/usr/bin/env bash
# Installs what the tests need, builds, and runs every test (unit and
# end-to-end, with real Postfix, TLS and DKIM peers on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure --timeout 900
