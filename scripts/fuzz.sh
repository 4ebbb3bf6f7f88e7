#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz with clang (AddressSanitizer +
# UBSan) in their own build folder and runs each for a short time on a copy of
# its seed corpus. Exit status 0 when no harness found a crash, leak or
# timeout; otherwise 1, with the reproducer left under $BUILD/artifacts/.
#
#   scripts/fuzz.sh                 # every harness, 20 s each
#   FUZZ_SECONDS=300 scripts/fuzz.sh pth unpickler
#   FUZZ_SECONDS=450 scripts/fuzz.sh # the long run of docs/reliability.md (its hour ran the first 8)
#   FUZZ_SECONDS=600 scripts/fuzz.sh config # the run config through rtseg_train's resolution
#
# Environment: FUZZ_SECONDS (default 20), FUZZ_BUILD_DIR (default build-fuzz),
# FUZZ_JOBS (build parallelism, default nproc).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
seconds=${FUZZ_SECONDS:-20}
jobs=${FUZZ_JOBS:-$(nproc)}
all=(manifest blob zip unpickler safetensors pth image json config)
harnesses=("${@:-${all[@]}}")

source "$root/scripts/setup.sh"
CUDASEG_PACKAGES+=(clang libclang-rt-14-dev)
cudaseg_install_packages

CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DCUDASEG_FUZZ=ON -DCUDASEG_CUDA=OFF \
  -DCUDASEG_BUILD_TESTS=OFF -DCUDASEG_BUILD_APPS=OFF -DCUDASEG_BUILD_BENCH=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$jobs" --target "${harnesses[@]/#/fuzz_}"

seeds_of() {
  case "$1" in
    zip|pth) echo "$root/tests/data/pth" ;;
    image) echo "$root/tests/data/images"; echo "$root/tests/fuzz/corpus/image" ;;
    json) echo "$root/nets" ;;
    config) echo "$root/nets"; echo "$root/tests/fuzz/corpus/config" ;;
    *) echo "$root/tests/fuzz/corpus/$1" ;;
  esac
}

mkdir -p "$build/artifacts"
failed=()
for h in "${harnesses[@]}"; do
  corpus="$build/corpus/$h"
  mkdir -p "$corpus"
  mapfile -t seeds < <(seeds_of "$h")
  find "${seeds[@]}" -maxdepth 1 -type f ! -name expected.json -exec cp -t "$corpus" {} +
  echo "fuzz.sh: $h for ${seconds}s"
  if ! "$build/tests/fuzz/fuzz_$h" "$corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -max_len=65536 -artifact_prefix="$build/artifacts/$h-" -print_final_stats=1 \
      >"$build/fuzz_$h.log" 2>&1; then
    failed+=("$h")
    tail -n 40 "$build/fuzz_$h.log" >&2
  else
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$build/fuzz_$h.log" | tr '\n' ' '
    echo "corpus: $(find "$corpus" -type f | wc -l) files"
  fi
done

if ((${#failed[@]})); then
  echo "fuzz.sh: failures in: ${failed[*]} (reproducers under $build/artifacts/)" >&2
  exit 1
fi
echo "fuzz.sh: all harnesses ran ${seconds}s without findings"
