#!/usr/bin/env bash
# Installs the build tree into a temporary prefix, builds examples/embed
# against it with find_package(cudaseg) and with pkg-config, makes a real
# checkpoint of a registered net (ENet, one training step on synthetic data)
# with the built rtseg_train, and checks that the C example, the C++ example
# (both builds) and rtseg_infer write the same label map for one image.
set -euo pipefail
build="$1"
root="$(cd "$(dirname "$0")/../.." && pwd)"
src="$root/examples/embed"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() { echo "embed test: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$src" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_FLAGS="-Wall -Wextra -Werror" >/dev/null
cmake --build "$work/cmake" -j 2 >/dev/null
export PKG_CONFIG_PATH="$(dirname "$(find "$work/prefix" -name cudaseg.pc | head -1)")"
mkdir "$work/pc"
make -s -C "$work/pc" -f "$src/Makefile.pkgconfig" SRC="$src" >/dev/null

# 5 classes, trained 1 step on 32x32 crops. ENet needs sizes divisible by 8,
# so every program runs the 13x7 image at a fixed 32x32 input.
"$build/rtseg_train" "$root/nets/enet.json" --out "$work/run" \
  --set model.num_classes=5 --set data.num_classes=5 --set data.train_size=2 --set data.val_size=1 \
  --set 'data.image_size=[32,32]' --set 'augment.crop=[32,32]' --set data.workers=0 \
  --set train.iters=1 --set train.batch_size=2 --set schedule.warmup_iters=0 >/dev/null 2>&1 ||
  fail "rtseg_train could not make the checkpoint"
weights="$work/run/last.json"
image="$root/tests/data/images/gradient_13x7.png"

"$build/rtseg_infer" --weights "$weights" --out "$work/infer" --quiet --size 32x32 "$image" >/dev/null
reference="$work/infer/gradient_13x7_label.png"
[ -s "$reference" ] || fail "rtseg_infer wrote no label map"
for program in "$work/cmake/segment" "$work/cmake/segment_cpp" "$work/pc/segment" "$work/pc/segment_cpp"; do
  name="$(basename "$(dirname "$program")")_$(basename "$program")"
  "$program" "$weights" "$image" "$work/$name.png" 32x32 >"$work/$name.log" || fail "$name failed"
  grep -q "^13x7 image, 5 classes" "$work/$name.log" || fail "$name: unexpected output: $(cat "$work/$name.log")"
  case "$name" in
    *_segment) grep -Eq " [2-5] of them present" "$work/$name.log" || fail "$name: a label map of one class tests nothing" ;;
  esac
  cmp -s "$reference" "$work/$name.png" || fail "$name: label map differs from rtseg_infer's"
done

# The C API's errors come back as a status and a message, not a crash.
if "$work/cmake/segment" "$work/missing.json" "$image" "$work/x.png" 2>"$work/err.log"; then
  fail "segment succeeded on a missing checkpoint"
fi
grep -q "^segment: loading the weights: cudaseg_session_create: " "$work/err.log" ||
  fail "segment: unexpected error: $(cat "$work/err.log")"
echo "embed test: C and C++ examples (find_package, pkg-config) match rtseg_infer's label map"
