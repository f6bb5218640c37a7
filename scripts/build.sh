#!/usr/bin/env bash
# Configures and builds kiln into build/ (or $KILN_BUILD_DIR). Extra args go
# to cmake's configure step.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${KILN_BUILD_DIR:-build}"
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE="${KILN_BUILD_TYPE:-RelWithDebInfo}" "$@" >/dev/null
cmake --build "$dir" -j"$(nproc)"
