// The median wall time of a benchmarked call, shared by the op benchmarks.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <vector>

#include "runtime/device.h"
#include "runtime/gpu.h"

namespace cudaseg::bench {

// Milliseconds, median of `iters` timed calls after `warmup` untimed ones; a
// CUDA device is synchronised around each call so the time is the kernels'.
inline double median_ms(int warmup, int iters, Device device, const std::function<void()>& f) {
  auto sync = [&] {
    if (device.is_cuda()) gpu::synchronize(device.index);
  };
  for (int i = 0; i < warmup; ++i) f();
  sync();
  std::vector<double> ms;
  for (int i = 0; i < iters; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    sync();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace cudaseg::bench
