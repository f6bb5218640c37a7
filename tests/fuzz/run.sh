#!/usr/bin/env bash
# Builds kiln's fuzz targets (tests/fuzz/fuzz.cmake, clang + libFuzzer, ASan
# + UBSan) and runs each for a bounded time. Fails when any target crashes,
# reports a sanitizer error or a leak, hangs on one input (-timeout) or goes
# over the memory limit (-rss_limit_mb, which also bounds single
# allocations). scripts/test.sh runs it in CI.
#
# The seeds (tests/fuzz/corpus/NAME, regression inputs included) run first,
# then libFuzzer mutates them; new inputs go to a scratch corpus under the
# build directory, so the repository is never written to. A failing input is
# saved as $out/NAME/crash-*, leak-*, timeout-* or oom-*; reproduce it with
#   build-fuzz/fuzz_NAME FILE
# and, once fixed, add it to tests/fuzz/corpus/NAME as regress-WHAT.
#
# Environment:
#   KILN_FUZZ_SECONDS    time per target (default 60)
#   KILN_FUZZ_TARGETS    which targets (default "kir onnx tensor")
#   KILN_FUZZ_BUILD_DIR  build directory (default build-fuzz)
#   KILN_FUZZ_JOBS       targets run at the same time (default 1)
#   CC                   the compiler (default clang)
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$PWD"
dir="${KILN_FUZZ_BUILD_DIR:-build-fuzz}"
secs="${KILN_FUZZ_SECONDS:-60}"
targets="${KILN_FUZZ_TARGETS:-kir onnx tensor}"
jobs="${KILN_FUZZ_JOBS:-1}"
cc="${CC:-clang}"

if ! command -v "$cc" >/dev/null 2>&1; then
  echo "fuzz: $cc not found (install clang and libclang-rt-14-dev: scripts/install-deps.sh)" >&2
  exit 1
fi
echo "== fuzz: building ($dir, $cc)"
CC="$cc" cmake -S . -B "$dir" -DKILN_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$dir" -j"$(nproc)"

out="$dir/fuzz-out"
rm -rf "$out"
mkdir -p "$out"
# Leaks and UB are failures; libFuzzer turns ASan reports into crashes.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1:allocator_may_return_null=0"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1:halt_on_error=1"

run_one() {
  local t="$1" extra=()
  mkdir -p "$out/$t/corpus"
  if [ "$t" = kir ]; then extra+=(-dict="$root/tests/fuzz/kir.dict"); fi
  "$dir/fuzz_$t" "${extra[@]}" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$out/$t/" \
    "$out/$t/corpus" "$root/tests/fuzz/corpus/$t" >"$out/$t.log" 2>&1
}

pids=() names=() failed=()
wait_one() {
  local i="$1"
  if wait "${pids[$i]}"; then
    echo "fuzz: ${names[$i]}: ok ($(grep -m1 -o 'number_of_executed_units: *[0-9]*' \
      "$out/${names[$i]}.log" | grep -o '[0-9]*$') runs in ${secs}s)"
  else
    echo "fuzz: ${names[$i]}: FAILED (log: $out/${names[$i]}.log)" >&2
    tail -n 60 "$out/${names[$i]}.log" >&2
    failed+=("${names[$i]}")
  fi
}

running=0 first=0
for t in $targets; do
  echo "== fuzz: $t for ${secs}s"
  run_one "$t" &
  pids+=($!)
  names+=("$t")
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait_one "$first"
    first=$((first + 1))
    running=$((running - 1))
  fi
done
while [ "$first" -lt "${#pids[@]}" ]; do
  wait_one "$first"
  first=$((first + 1))
done

if [ "${#failed[@]}" -ne 0 ]; then
  echo "fuzz: failing targets: ${failed[*]}; inputs under $out/<target>/" >&2
  exit 1
fi
echo "== fuzz: all targets ran clean"
