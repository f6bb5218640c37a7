#!/usr/bin/env bash
# Installs the Debian 12 packages kiln needs to build and test. Idempotent:
# installs only what is missing. Run as root (or with sudo available).
set -euo pipefail

packages=(
  build-essential cmake pkg-config      # C toolchain and build
  llvm-19-dev llvm-19-tools             # LLVM C API; FileCheck for golden tests
  libffi-dev                            # runtime: generic typed calls
  check                                 # unit test framework
  libprotobuf-c-dev protobuf-c-compiler # ONNX frontend
  clang libclang-rt-14-dev              # fuzzing (tests/fuzz): clang 14 and libFuzzer
  # AArch64 end-to-end tests (tests/cross): the cross C compiler and libc,
  # and qemu-aarch64 to run the result (about 56 MB to fetch, 270 MB on disk)
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "install-deps: missing packages (${missing[*]}) and not root; install them and retry" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
