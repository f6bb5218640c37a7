#!/usr/bin/env bash
# kiln's benchmarks against ONNX Runtime and PyTorch (see bench/README.md).
#
#   bash bench/run.sh [--threads 1,2] [--iters 20] [--warmup 3] [--repeat 1]
#                     [--models resnet18,mlp.kir,...] [--timeout 900] [--out FILE.md]
#
# Builds kiln in Release ($KILN_BENCH_BUILD, default build-bench/) and bench/work/kiln_driver,
# exports the models when missing or stale (bench/models.py), then runs bench/run.py, which
# compiles every model with `kiln compile -O2`, checks kiln's outputs against ONNX Runtime's,
# times kiln, ONNX Runtime and PyTorch at each thread count T (all three with T threads:
# `kiln bench --threads T`), measures peak RSS, prints a markdown report and writes it to
# bench/results/latest.md (raw numbers in latest.json). Run bench/setup.sh once first.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
build="${KILN_BENCH_BUILD:-$root/build-bench}"
py=/usr/bin/python3

for arg in "$@"; do
  case "$arg" in
    -h|--help) sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
  esac
done

if [ ! -d "$here/node_modules/onnxruntime-node" ] || ! "$py" -c 'import torch, torchvision, onnx, numpy' 2>/dev/null; then
  echo "run.sh: the harness's dependencies are missing; run: bash bench/setup.sh" >&2
  exit 1
fi

echo "run.sh: building kiln (Release) in $build" >&2
mkdir -p "$build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >"$build/bench-cmake.log" 2>&1 ||
  { cat "$build/bench-cmake.log" >&2; exit 1; }
cmake --build "$build" --target kiln_cli -j"$(nproc)" >/dev/null ||
  { echo "run.sh: building kiln failed" >&2; exit 1; }

mkdir -p "$here/work"
cc -O2 -std=c11 -Wall -I"$root/include" "$here/kiln_driver.c" -o "$here/work/kiln_driver" -ldl

echo "run.sh: exporting models (bench/models.py)" >&2
"$py" "$here/models.py" >&2

if [ -r /proc/loadavg ]; then
  read -r l1 _ < /proc/loadavg
  if awk -v l="$l1" -v n="$(nproc)" 'BEGIN { exit !(l > n) }'; then
    echo "run.sh: note: load average $l1 exceeds $(nproc) cores; timings will be noisy" >&2
  fi
fi

exec "$py" "$here/run.py" --kiln "$build/kiln" --driver "$here/work/kiln_driver" "$@"
