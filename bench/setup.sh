#!/usr/bin/env bash
# Installs what kiln's benchmark harness needs (idempotent; run it again at will):
#   - Debian's python3-torch, python3-torchvision, python3-onnx, python3-numpy (PyTorch side,
#     model export, output checks), via apt when one is missing (as root, or with sudo);
#   - Node.js (>= 16) and npm, via apt when the commands are missing;
#   - onnxruntime-node (ONNX Runtime's native CPU library) into bench/node_modules (git-ignored),
#     at the version pinned in bench/package.json.
# kiln itself needs none of these; scripts/install-deps.sh installs what kiln needs.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

apt_missing=()
for pkg in python3 python3-numpy python3-torch python3-torchvision python3-onnx time; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || apt_missing+=("$pkg")
done
# Node.js may come from elsewhere (NodeSource bundles npm); only install Debian's when absent.
command -v node >/dev/null || apt_missing+=(nodejs)
command -v npm >/dev/null || apt_missing+=(npm)
if [ "${#apt_missing[@]}" -gt 0 ]; then
  echo "setup: installing ${apt_missing[*]} (apt)"
  "${sudo_cmd[@]}" apt-get update
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y --no-install-recommends "${apt_missing[@]}"
fi

/usr/bin/python3 -c 'import torch, torchvision, onnx, numpy' ||
  { echo "setup: python3 cannot import torch, torchvision, onnx and numpy" >&2; exit 1; }

# PyTorch from Debian is built against the generic BLAS interface (libblas.so.3); with Debian's
# default alternative, the reference BLAS, its matmuls run at a fraction of the speed PyTorch users
# get (pip wheels use MKL). Unless the system's libblas.so.3 is already OpenBLAS, unpack
# libopenblas0-pthread into bench/openblas/ (git-ignored; nothing on the system changes);
# torch_bench.py puts it first on LD_LIBRARY_PATH.
blas_alt="$(readlink -f /etc/alternatives/libblas.so.3-x86_64-linux-gnu 2>/dev/null || true)"
ob_dir="$here/openblas/usr/lib/x86_64-linux-gnu/openblas-pthread"
if [[ "$blas_alt" != *openblas* ]] && [ ! -e "$ob_dir/libblas.so.3" ]; then
  echo "setup: unpacking libopenblas0-pthread into $here/openblas (for torch_bench.py)"
  tmp="$(mktemp -d)"
  chmod 755 "$tmp"
  (cd "$tmp" && { apt-get download libopenblas0-pthread 2>/dev/null ||
                  { "${sudo_cmd[@]}" apt-get update && apt-get download libopenblas0-pthread; }; })
  rm -rf "$here/openblas"
  dpkg-deb -x "$tmp"/libopenblas0-pthread_*.deb "$here/openblas"
  rm -rf "$tmp"
fi

want="$(node -p "require('$here/package.json').dependencies['onnxruntime-node']")"
have="$(cd "$here" && node -p "try { require('onnxruntime-node/package.json').version } catch (e) { '' }")"
if [ "$have" != "$want" ]; then
  echo "setup: npm install onnxruntime-node@$want into $here/node_modules"
  # --ignore-scripts: the package ships the CPU library; its install script only fetches
  # the CUDA provider, which the harness does not use.
  (cd "$here" && npm install --no-audit --no-fund --ignore-scripts)
fi
(cd "$here" && node -e "const o = require('onnxruntime-node'); console.log('setup: onnxruntime-node ' + o.env.versions.node)")
/usr/bin/python3 -c 'import torch, onnx; print("setup: torch %s, onnx %s" % (torch.__version__, onnx.__version__))'
echo "setup: ok"
