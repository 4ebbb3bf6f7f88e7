// The host memory of an inference session on the CPU: a prepared session
// keeps nothing in the block cache, recording a plan leaves nothing cached
// beside the arena, closing a session releases the cache, and the peak RSS of
// the first forwards (recording, then replay) stays within what the plan
// accounts for.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "autograd/engine.h"
#include "infer/session.h"
#include "nn/registry.h"
#include "runtime/cpu_cache.h"
#include "runtime/rng.h"
#include "runtime/thread_pool.h"
#include "tests/infer/infer_testing.h"

namespace cudaseg::infer {
namespace {

namespace it = cudaseg::infer_testing;

constexpr int64_t kMiB = int64_t{1} << 20;

int64_t status_bytes(const std::string& field) {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind(field + ":", 0) == 0) return std::atoll(line.c_str() + field.size() + 1) * 1024;
  return -1;
}

// Resets VmHWM to the current RSS (Linux 4.0 and later); false where refused.
bool reset_peak_rss() {
  std::ofstream clear("/proc/self/clear_refs");
  clear << "5";
  clear.flush();
  return static_cast<bool>(clear);
}

InferenceSession open(const nn::Json& model) {
  return InferenceSession::from_net(it::make_net(model, 1), it::info_of(model), SessionOptions{});
}

class ThreadsGuard {
 public:
  explicit ThreadsGuard(int n) : saved_(num_threads()) { set_num_threads(n); }
  ~ThreadsGuard() { set_num_threads(saved_); }

 private:
  int saved_;
};

TEST(SessionMemory, PreparedSessionKeepsNothingInTheBlockCache) {
  const size_t n = size_t{4} << 20;
  cpu_cache_free(cpu_cache_alloc(n, 64), n);
  ASSERT_GT(cpu_cache_stats().cached_bytes, 0u);
  InferenceSession s = open(it::test_model());
  EXPECT_EQ(cpu_cache_stats().cached_bytes, 0u);
}

TEST(SessionMemory, RecordingLeavesNothingCachedAndClosingReleasesTheCache) {
  autograd::NoGradGuard no_grad;
  const Tensor x = Generator(0).uniform({1, 3, 256, 512}, -1.0, 1.0);
  {
    InferenceSession s = open(it::test_model(16));
    s.forward(x);
    ASSERT_TRUE(s.last_forward().recorded);
    EXPECT_EQ(cpu_cache_stats().cached_bytes, 0u) << "the recording call's blocks stayed cached";
    s.forward(x);  // a replay: its result goes to the cache when dropped
    ASSERT_FALSE(s.last_forward().recorded);
    EXPECT_GT(cpu_cache_stats().cached_bytes, 0u);
  }
  EXPECT_EQ(cpu_cache_stats().cached_bytes, 0u) << "a closed session left its blocks cached";
}

// FastSCNN at 512x1024 (its activations outweigh its 1 M parameters): the
// recording forward and a replay may add to the idle session's RSS the
// plan's arena, the result, a packed copy of the weights
// (ops/cpu/conv_direct.cpp) and a band copy of at most 16 MB per thread
// (conv_direct.cpp's kMaxBandFloats), plus 16 MiB of code, stacks and small
// buffers. Through the block cache the recording call kept every size
// class's largest set of blocks (2.7 times the arena for STDC1) beside the
// arena that replaced them.
TEST(SessionMemory, PeakOfRecordingAndReplayStaysWithinThePlan) {
  ThreadsGuard threads(2);
  autograd::NoGradGuard no_grad;
  InferenceSession s = open({{"name", "fastscnn"}, {"num_classes", 19}});
  int64_t weight_bytes = 0;
  for (const Tensor& p : s.net().parameters()) weight_bytes += p.numel() * 4;
  const Tensor x = Generator(0).uniform({1, 3, 512, 1024}, -1.0, 1.0);
  const int64_t idle = status_bytes("VmRSS");
  if (!reset_peak_rss()) GTEST_SKIP() << "skipped: /proc/self/clear_refs not writable";
  ASSERT_LT(status_bytes("VmHWM") - idle, 2 * kMiB);
  s.forward(x);
  ASSERT_TRUE(s.last_forward().recorded);
  const Tensor y = s.forward(x);
  ASSERT_FALSE(s.last_forward().recorded);
  const int64_t arena = static_cast<int64_t>(s.last_forward().arena_bytes);
  const int64_t bound = arena + y.numel() * 4 + weight_bytes + 2 * 16 * kMiB + 16 * kMiB;
  const int64_t growth = status_bytes("VmHWM") - idle;
  RecordProperty("peak_growth_mib", std::to_string(growth / kMiB));
  RecordProperty("bound_mib", std::to_string(bound / kMiB));
  EXPECT_LE(growth, bound) << "peak RSS grew " << growth / kMiB << " MiB over the idle session (arena "
                           << arena / kMiB << " MiB, bound " << bound / kMiB << " MiB)";
}

// STDC1 at 256x512: the memory plan's peak is at the FFM's SE branch, where
// x3 and the upsampled 1/16 path (256 channels at 1/8: 2 MiB each) meet five
// 128-channel maps at 1/8 (1 MiB each: the fused conv's output, its
// broadcast pool, two 1x1 convolutions, the sigmoid): 9 MiB. The backbone's
// 1/16 and 1/32 features and the 1/32 path, held to the end of the forward,
// added 2 MiB.
TEST(SessionMemory, StdcReleasesItsDeepFeaturesBeforeTheFusion) {
  ThreadsGuard threads(2);
  autograd::NoGradGuard no_grad;
  InferenceSession s = open({{"name", "stdc"}, {"encoder_type", "stdc1"}, {"num_classes", 19}});
  const Tensor x = Generator(0).uniform({1, 3, 256, 512}, -1.0, 1.0);
  s.forward(x);
  s.forward(x);
  ASSERT_FALSE(s.last_forward().recorded);
  EXPECT_LE(s.last_forward().arena_bytes, (size_t{9} << 20) + (size_t{64} << 10));  // + the pools' vectors
}

}  // namespace
}  // namespace cudaseg::infer
