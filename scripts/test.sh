#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds kiln normally and
# with AddressSanitizer + UndefinedBehaviorSanitizer, and runs every suite
# under both builds. .ci/run calls this script.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
jobs="$(nproc)"

echo "== build (RelWithDebInfo, -Werror)"
KILN_BUILD_DIR=build bash scripts/build.sh -DKILN_WERROR=ON -DKILN_SANITIZE=OFF
echo "== tests"
ctest --test-dir build --output-on-failure -j"$jobs"

echo "== build (ASan + UBSan)"
KILN_BUILD_DIR=build-asan KILN_BUILD_TYPE=Debug bash scripts/build.sh -DKILN_SANITIZE=ON -DKILN_WERROR=ON
echo "== tests under ASan + UBSan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs"
echo "== all tests passed"
