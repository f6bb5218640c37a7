#!/usr/bin/env bash
# The memory plan's acceptance figures on every bundled model: at -O2,
# arena_bytes <= 1.05 x lower_bound_bytes, and lower_bound <= arena <= naive
# (scripts/pass-figures.sh prints the same numbers for docs/passes.md).
#   plan_figures.sh KILN SOURCE_DIR
set -euo pipefail
kiln="$1"
cd "$2"
fail=0
n=0
models=(examples/*.kir tests/models/*/model.onnx)
# the ONNX test data's light models (ResNet-50, DenseNet-121, ...) when present
for m in ../shared/onnx-tests/light/*.onnx; do
  if [ -f "$m" ]; then models+=("$m"); fi
done
for m in "${models[@]}"; do
  out="$("$kiln" inspect --memory "$m")"
  get() { printf '%s\n' "$out" | awk -v k="$1:" '$1 == k { print $2 }'; }
  naive="$(get naive_bytes)"
  lb="$(get lower_bound_bytes)"
  arena="$(get arena_bytes)"
  if [ -z "$naive" ] || [ -z "$lb" ] || [ -z "$arena" ]; then
    echo "FAIL $m: inspect --memory printed no plan figures"
    fail=1
    continue
  fi
  if [ "$arena" -lt "$lb" ] || [ "$arena" -gt "$naive" ] || [ $((arena * 100)) -gt $((lb * 105)) ]; then
    echo "FAIL $m: naive $naive, lower bound $lb, arena $arena (want bound <= arena <= 1.05 x bound, arena <= naive)"
    fail=1
  else
    echo "ok   $m: lower bound $lb, arena $arena"
  fi
  n=$((n + 1))
done
[ "$n" -gt 0 ] || { echo "FAIL: no models found"; exit 1; }
exit "$fail"
