// Host memory of the direct convolution kernels (ops/cpu/conv_direct.cpp):
// per-thread buffers are sized only when a kernel needs them.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "ops/conv.h"
#include "ops/cpu/conv_direct.h"
#include "runtime/rng.h"
#include "runtime/thread_pool.h"

namespace cudaseg {
namespace {

constexpr int64_t kMiB = int64_t{1} << 20;

int64_t status_bytes(const std::string& field) {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind(field + ":", 0) == 0) return std::atoll(line.c_str() + field.size() + 1) * 1024;
  return -1;
}

bool reset_peak_rss() {
  std::ofstream clear("/proc/self/clear_refs");
  clear << "5";
  clear.flush();
  return static_cast<bool>(clear);
}

// A 1x1 convolution over planes of whole vectors reads its input in place:
// the copy buffer for the planes' ragged ends (cg * the widest column range,
// 4 MiB a thread here) was allocated and zeroed by every thread all the same.
TEST(ConvMemory, PointwiseOverWholeVectorPlanesAllocatesNoCopyBuffer) {
  if (ops::cpu::direct::best_isa() == nullptr) GTEST_SKIP() << "skipped: no AVX2 or AVX-512 direct kernel";
  const int saved = num_threads();
  set_num_threads(2);
  const Tensor x = Generator(0).uniform({1, 1024, 64, 128}, -1.0, 1.0);
  const Tensor w = Generator(1).uniform({8, 1024, 1, 1}, -1.0, 1.0);
  ops::conv2d(Generator(2).uniform({1, 4, 16, 16}, -1.0, 1.0), Generator(3).uniform({4, 4, 1, 1}, -1.0, 1.0));
  const int64_t before = status_bytes("VmRSS");
  if (!reset_peak_rss()) {
    set_num_threads(saved);
    GTEST_SKIP() << "skipped: /proc/self/clear_refs not writable";
  }
  const Tensor y = ops::conv2d(x, w);
  const int64_t growth = status_bytes("VmHWM") - before;
  set_num_threads(saved);
  EXPECT_EQ(y.size(1), 8);
  // The output (256 KiB) and the packed weights (32 KiB), with room for stacks.
  EXPECT_LT(growth, 2 * kMiB) << "peak RSS grew " << growth / 1024 << " KiB";
}

}  // namespace
}  // namespace cudaseg
