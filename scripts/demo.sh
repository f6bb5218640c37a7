#!/usr/bin/env bash
# kiln's main job on the bundled example: installs what is missing, builds,
# then runs examples/mlp.kir on deterministic random inputs and prints the
# results (outputs are written to out/mlp/*.npy).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
echo "== kiln inspect examples/mlp.kir"
build/kiln inspect examples/mlp.kir
echo "== kiln run examples/mlp.kir --random-inputs --output-dir out/mlp"
build/kiln run examples/mlp.kir --random-inputs --output-dir out/mlp --interp
