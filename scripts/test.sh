#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds kiln normally and
# with AddressSanitizer + UndefinedBehaviorSanitizer, and runs every suite
# under both builds. .ci/run calls this script. Each stage's wall time is
# printed at the end (CI has 90 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="$(nproc)"

# stage NAME: ends the current stage (its wall and CPU seconds are kept for
# the table report_times prints on exit) and starts the next one.
timings=()
stage_name=""
stage_t0=0
stage_cpu0=0
hz="$(getconf CLK_TCK)"
cpu_seconds() { # user + system seconds of this shell's finished children (cutime, cstime)
  awk -v hz="$hz" '{ sub(/^.*\) /, ""); printf "%d", ($14 + $15) / hz }' "/proc/$$/stat"
}
stage() {
  local cpu
  cpu="$(cpu_seconds)"
  if [ -n "$stage_name" ]; then
    timings+=("$(printf '  %-40s %6d s %6d s' "$stage_name" $((SECONDS - stage_t0)) \
      $((cpu - stage_cpu0)))")
  fi
  stage_name="$1"
  stage_t0=$SECONDS
  stage_cpu0=$cpu
  if [ -n "$1" ]; then echo "== $1"; fi
}
report_times() {
  stage ""
  echo "== stage times"
  printf '  %-40s %8s %8s\n' stage wall CPU
  printf '%s\n' "${timings[@]}"
  printf '  %-40s %6d s %6d s\n' total "$SECONDS" "$(cpu_seconds)"
}
trap report_times EXIT

stage "install dependencies"
bash scripts/install-deps.sh

stage "build (RelWithDebInfo, -Werror)"
KILN_BUILD_DIR=build bash scripts/build.sh -DKILN_WERROR=ON -DKILN_SANITIZE=OFF
stage "tests"
ctest --test-dir build --output-on-failure -j"$jobs"

stage "build (ASan + UBSan)"
KILN_BUILD_DIR=build-asan KILN_BUILD_TYPE=Debug bash scripts/build.sh -DKILN_SANITIZE=ON -DKILN_WERROR=ON
stage "tests under ASan + UBSan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs"
stage "fuzzing (tests/fuzz/run.sh: clang, libFuzzer, 60 s per target)"
bash tests/fuzz/run.sh
stage ""
echo "== all tests passed"
