#!/usr/bin/env bash
# The main job: installs what the build needs, builds cudaseg and shows what
# it found on this machine (version, backends compiled in, devices).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
cudaseg_install_packages

BUILD_DIR="${BUILD_DIR:-build}"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DCUDASEG_CUDA="$(cudaseg_cuda_mode)" >/dev/null
cmake --build "$BUILD_DIR" -j "${JOBS:-$(nproc)}" --target rtseg_info
echo
"$BUILD_DIR/rtseg_info"
