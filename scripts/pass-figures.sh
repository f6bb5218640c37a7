#!/usr/bin/env bash
# Prints the fusion and memory-plan figures of docs/passes.md as Markdown
# table rows, one per model, from `kiln inspect --memory` at -O2.
#
#   scripts/pass-figures.sh [MODEL...]
#
# Without arguments: the bundled examples, the end-to-end test models and,
# when bench/models.py has exported them (/usr/bin/python3 bench/models.py),
# torchvision's ResNet-18 and MobileNetV2 and the Transformer encoder at
# full size. KILN (default build/kiln) names the kiln binary.
set -euo pipefail
cd "$(dirname "$0")/.."
kiln="${KILN:-build/kiln}"
if [ $# -eq 0 ]; then
  set -- examples/*.kir tests/models/*/model.onnx
  for m in resnet18 mobilenet_v2 transformer_encoder; do
    if [ -f "bench/models/$m.onnx" ]; then set -- "$@" "bench/models/$m.onnx"; fi
  done
fi
fusion=()
memory=()
for m in "$@"; do
  out="$("$kiln" inspect --memory "$m")"
  get() { printf '%s\n' "$out" | awk -v k="$1:" '$1 == k { print $2 }'; }
  lb="$(get lower_bound_bytes)"
  arena="$(get arena_bytes)"
  ratio="$(awk -v a="$arena" -v b="$lb" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "-" }')"
  fusion+=("| \`$m\` | $(get kernels_before_fusion) | $(get kernels_after_fusion) | $(get intermediate_bytes_before_fusion) | $(get intermediate_bytes_after_fusion) |")
  memory+=("| \`$m\` | $(get naive_bytes) | $lb | $arena | $ratio | $(get peak_default_order_bytes) | $(get peak_scheduled_bytes) |")
done
echo "| model | kernels before | kernels after | intermediate bytes before | intermediate bytes after |"
echo "|---|---|---|---|---|"
printf '%s\n' "${fusion[@]}"
echo
echo "| model | naive | lower bound | arena | arena / bound | peak, file order | peak, scheduled |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${memory[@]}"
