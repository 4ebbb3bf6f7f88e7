#!/usr/bin/env bash
# GPU check: on a machine with an NVIDIA GPU, configure for that GPU only,
# build, run every test suite (the CUDA ones included), compute-sanitizer on
# the CUDA suite, the benchmark programs, and tools/bench_cuda_report.py
# (bench_cuda against PyTorch) where PyTorch is installed; print a compact
# report. With $OUT set (the device tool's folder of files that come back),
# the report is written to $OUT/gpu_report.txt line by line and each log is
# copied there as soon as it is complete, so a run cut short at its time
# limit still returns what it did. Record the result in docs/gpu-results.md.
#
# Build dependencies missing on the machine (the lent GPU machines have no
# package mirror) are unpacked from .gpudeps/*.deb, made by
# scripts/fetch_gpu_deps.sh where Debian's mirrors are reachable.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build-gpu}"
if [ -n "${OUT:-}" ]; then REPORT="$OUT/gpu_report.txt"; else REPORT="$(mktemp)"; fi
say() { echo "$*" | tee -a "$REPORT"; }
keep() { if [ -n "${OUT:-}" ]; then cp "$1" "$OUT/$2"; fi; }

command -v nvidia-smi >/dev/null || { echo "gpu_check: nvidia-smi not found: no NVIDIA GPU here" >&2; exit 1; }
export PATH="/usr/local/cuda/bin:$PATH"
arch="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d '.[:space:]')"
[ -n "$arch" ] || { echo "gpu_check: cannot read the GPU's compute capability" >&2; exit 1; }
if [ "$arch" = "90" ]; then arch="90a"; fi

if ls .gpudeps/*.deb >/dev/null 2>&1; then
  deps=/tmp/cudaseg-deps
  mkdir -p "$deps"
  for f in .gpudeps/*.deb; do dpkg -x "$f" "$deps"; done
  export CMAKE_PREFIX_PATH="$deps/usr:${CMAKE_PREFIX_PATH:-}"
  export CPATH="$deps/usr/include:$deps/usr/include/x86_64-linux-gnu:${CPATH:-}"
  libdirs="$deps/usr/lib/x86_64-linux-gnu:$deps/usr/lib/x86_64-linux-gnu/openblas-pthread"
  export LIBRARY_PATH="$libdirs:${LIBRARY_PATH:-}"
  export LD_LIBRARY_PATH="$libdirs:${LD_LIBRARY_PATH:-}"
  ln -sf libopenblas.so.0 "$deps/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so" 2>/dev/null || true
fi

say "== cudaseg gpu_check $(date -u +%Y-%m-%dT%H:%MZ) commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
say "$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader)"
say "nvcc: $(nvcc --version | tail -1)"

cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DCUDASEG_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES="$arch" >"$BUILD_DIR.configure.log" 2>&1 \
  || { tail -30 "$BUILD_DIR.configure.log"; exit 1; }
build() {
  cmake --build "$BUILD_DIR" -j "$(nproc)" "$@" >>"$BUILD_DIR.build.log" 2>&1 \
    || { grep -E "error" "$BUILD_DIR.build.log" | head -30; keep "$BUILD_DIR.build.log" build.log; exit 1; }
}
: >"$BUILD_DIR.build.log"

# First the pieces whose first GPU run this is (cuDNN plans per thread and
# channels-last descriptors, the device image input, a graph captured on a
# thread new to cuDNN) and their measurements: built and run before the
# rest of the build, so a run cut short still reports them.
build --target test_cuda test_infer bench_prep_cuda
say "build of the first checks: ok (sm_$arch)"
{
  "$BUILD_DIR/tests/test_cuda" --gtest_filter='DnnKey*:DnnCuda*:ImageToInputCuda*:CudaRuntime.CapturePreparers*'
  echo "test_cuda exit $?"
  "$BUILD_DIR/tests/test_infer" --gtest_filter='SessionDeviceInput*:SessionGraphs*'
  echo "test_infer exit $?"
} >"$BUILD_DIR.prep.log" 2>&1
keep "$BUILD_DIR.prep.log" prep_tests.log
say "prep tests: $(grep -E '^test_(cuda|infer) exit' "$BUILD_DIR.prep.log" | tr '\n' ' ')"
grep -E "^\[  FAILED  \]|: Failure$" "$BUILD_DIR.prep.log" | head -20 | tee -a "$REPORT"
if [ -x "$BUILD_DIR/bench_prep_cuda" ]; then
  say "== bench_prep_cuda --device cuda"
  "$BUILD_DIR/bench_prep_cuda" --device cuda 2>&1 | tee -a "$REPORT"
fi

build
say "build: ok (sm_$arch)"

ctest --test-dir "$BUILD_DIR" -j 4 --output-on-failure >"$BUILD_DIR.ctest.log" 2>&1
status=$?
keep "$BUILD_DIR.ctest.log" ctest.log
say "$(grep -E 'tests passed|tests failed' "$BUILD_DIR.ctest.log")"
say "skipped: $(grep -c '(Skipped)' "$BUILD_DIR.ctest.log")"
grep -E "\*\*\*Failed|Exception" "$BUILD_DIR.ctest.log" | tee -a "$REPORT"

if command -v compute-sanitizer >/dev/null && [ -x "$BUILD_DIR/tests/test_cuda" ]; then
  for tool in memcheck racecheck; do
    compute-sanitizer --tool "$tool" --error-exitcode 3 "$BUILD_DIR/tests/test_cuda" >"$BUILD_DIR.$tool.log" 2>&1
    say "compute-sanitizer $tool: exit $? ($(grep -c 'ERROR SUMMARY: 0 errors' "$BUILD_DIR.$tool.log") clean summaries)"
  done
fi

for bench in "$BUILD_DIR"/bench_*; do
  [ -x "$bench" ] || continue
  [ "$(basename "$bench")" = bench_prep_cuda ] && continue  # ran after the build
  say "== $(basename "$bench") --device cuda"
  "$bench" --device cuda 2>&1 | tee -a "$REPORT"
done

# The CUDA kernels against PyTorch on the same GPU, where python3 has a CUDA torch.
has_torch_cuda() { python3 -c "import sys, torch; sys.exit(not torch.cuda.is_available())" 2>/dev/null; }
if [ -x "$BUILD_DIR/bench_cuda" ] && has_torch_cuda; then
  say "== tools/bench_cuda_report.py (cudaseg vs PyTorch)"
  python3 tools/bench_cuda_report.py --bench "$BUILD_DIR/bench_cuda" --device cuda:0 2>&1 | tee -a "$REPORT"
else
  say "bench_cuda_report: skipped (no python3 with a CUDA build of torch)"
fi

exit $status
