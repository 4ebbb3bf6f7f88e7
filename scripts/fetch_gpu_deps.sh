#!/usr/bin/env bash
# Downloads (here, where Debian's mirrors are reachable) the .deb files of the
# build dependencies that the GPU machines lack, into .gpudeps/ (git-ignored),
# so scripts/gpu_check.sh can unpack them there. Carry .gpudeps to the device.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .gpudeps
cd .gpudeps
apt-get download nlohmann-json3-dev libstb-dev libstb0 libopenblas-dev libopenblas-pthread-dev \
  libopenblas0-pthread libopenblas0 libgfortran5 libgtest-dev googletest zlib1g-dev
ls -1
