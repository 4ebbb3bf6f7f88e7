#!/usr/bin/env bash
# The tests: installs what the build needs, configures (with CUDA where the
# toolkit is installed), builds everything and runs CTest. CUDA suites report
# "skipped: no CUDA device" where there is no GPU.
#   BUILD_DIR=build  CUDASEG_CUDA=AUTO|ON|OFF  JOBS=N  scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
cudaseg_install_packages
cudaseg_make_tools_venv

BUILD_DIR="${BUILD_DIR:-build}"
JOBS="${JOBS:-$(nproc)}"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DCUDASEG_CUDA="$(cudaseg_cuda_mode)" \
  ${CUDASEG_TOOLS_VENV:+-DCUDASEG_TOOLS_VENV="$CUDASEG_TOOLS_VENV"}
cmake --build "$BUILD_DIR" -j "$JOBS"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS"
