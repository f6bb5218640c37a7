#!/usr/bin/env bash
# kiln's main job on the bundled example: installs what is missing, builds,
# compiles examples/mlp.kir to a self-contained shared object (out/mlp.so +
# out/mlp.h) and runs that artifact on deterministic random inputs, printing
# the results (outputs are written to out/mlp/*.npy).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
mkdir -p out
echo "== kiln inspect examples/mlp.kir"
build/kiln inspect examples/mlp.kir
echo "== kiln compile examples/mlp.kir -o out/mlp.so"
build/kiln compile examples/mlp.kir -o out/mlp.so
echo "== kiln run out/mlp.so --random-inputs --output-dir out/mlp"
build/kiln run out/mlp.so --random-inputs --output-dir out/mlp
