#!/usr/bin/env bash
# Installs, with apt-get, every Debian package the build and the tests need,
# skipping the install when all are present. Sourced by demo.sh and test.sh.
# Needs root (or sudo) on a fresh machine.
CUDASEG_PACKAGES=(cmake g++ make pkg-config ccache nlohmann-json3-dev libstb-dev libopenblas-dev
                  libgtest-dev zlib1g-dev ffmpeg python3-venv chromium
                  python3-dev pybind11-dev python3-numpy python3-pytest
                  valgrind)
# tools/rtseg_tune.py, the hyper-parameter search (run with /usr/bin/python3).
CUDASEG_PACKAGES+=(python3-optuna)
# Open MPI: data-parallel training's launcher and CPU collectives (train/dist.h).
CUDASEG_PACKAGES+=(openmpi-bin libopenmpi-dev)

cudaseg_install_packages() {
  local missing=()
  for p in "${CUDASEG_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    return 0
  fi
  echo "cudaseg: installing ${missing[*]}"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "cudaseg: need root or sudo to install ${missing[*]}" >&2; return 1; }
    sudo="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# The tensorboard package for the test that reads a run's event files with
# TensorBoard's own reader: a virtual environment (.venv-tools, or
# CUDASEG_TOOLS_VENV) over the system's Python, made once; offline, the test
# is skipped instead.
cudaseg_make_tools_venv() {
  local venv="${CUDASEG_TOOLS_VENV:-$PWD/.venv-tools}"
  if "$venv/bin/python" -c "import tensorboard" 2>/dev/null; then
    return 0
  fi
  echo "cudaseg: making $venv with tensorboard"
  /usr/bin/python3 -m venv --system-site-packages "$venv" &&
    "$venv/bin/pip" install -q 'numpy<2' tensorboard ||
    echo "cudaseg: could not install tensorboard into $venv; its test will be skipped" >&2
}

# CUDA: on when the toolkit is installed, so a broken CUDA set-up fails loudly
# instead of silently building the CPU backend alone.
cudaseg_cuda_mode() {
  if [ -n "${CUDASEG_CUDA:-}" ]; then
    echo "$CUDASEG_CUDA"
  elif [ -x /usr/local/cuda/bin/nvcc ] || command -v nvcc >/dev/null; then
    echo ON
  else
    echo AUTO
  fi
}

if [ -d /usr/local/cuda/bin ]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi
