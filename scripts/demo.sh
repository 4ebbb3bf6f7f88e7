#!/usr/bin/env bash
# The main job: installs what the build needs, builds cudaseg, shows what it
# found on this machine, trains STDC1 on the built-in synthetic data on the
# CPU (nets/stdc1.json), then segments the sample image assets/sample_scene.png
# with the trained weights and says where the outputs are.
#   DEMO_ITERS=N   train N iterations instead of the config's (a quicker look)
#   DEMO_OUT=DIR   where the run and the segmentation go (default demo_out)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
cudaseg_install_packages

BUILD_DIR="${BUILD_DIR:-build}"
OUT="${DEMO_OUT:-demo_out}"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DCUDASEG_CUDA="$(cudaseg_cuda_mode)" >/dev/null
cmake --build "$BUILD_DIR" -j "${JOBS:-$(nproc)}" --target rtseg_info rtseg_train rtseg_infer
echo
"$BUILD_DIR/rtseg_info"

echo
echo "== training STDC1 on synthetic data (nets/stdc1.json) -> $OUT/stdc1_run"
overrides=()
if [ -n "${DEMO_ITERS:-}" ]; then overrides+=(--set "train.iters=$DEMO_ITERS"); fi
"$BUILD_DIR/rtseg_train" nets/stdc1.json --out "$OUT/stdc1_run" "${overrides[@]}"

weights="$OUT/stdc1_run/best.json"
[ -f "$weights" ] || weights="$OUT/stdc1_run/last.json"
echo
echo "== segmenting assets/sample_scene.png with $weights"
"$BUILD_DIR/rtseg_infer" --weights "$weights" --out "$OUT/segmentation" assets/sample_scene.png
echo
echo "Done. Outputs:"
echo "  training run (config, checkpoints, metrics): $OUT/stdc1_run/"
echo "  segmentation of the sample image:            $OUT/segmentation/ (label, colour and overlay PNGs)"
