// The session's CUDA graphs (infer/runner.h): for every registered
// net at two input shapes, the replayed graph equals the eager forward, a
// replay allocates nothing, a result kept by the caller survives the next
// replay, and a net that synchronizes with the host falls back to eager.
// Skipped without a CUDA device.
#include <gtest/gtest.h>

#include "common/cuda_skip.h"
#include "common/testing.h"
#include "nn/registry.h"
#include "runtime/gpu.h"
#include "tests/infer/infer_testing.h"
#include "infer/session.h"

namespace cudaseg::infer {
namespace {

using namespace cudaseg::weights;

namespace it = cudaseg::infer_testing;
namespace ct = cudaseg::testing;

Tensor det_input(const Shape& shape, uint64_t seed) {
  return nn::det_uniform("input", shape, -1.0, 1.0, seed).to(Device::cuda(0));
}

InferenceSession cuda_session(nn::ModulePtr net, const nn::Json& model, bool graphs) {
  SessionOptions o;
  o.device = Device::cuda(0);
  o.cuda_graphs = graphs;
  return InferenceSession::from_net(std::move(net), it::info_of(model), o);
}

// The same kernels with the same cached algorithms run in both: only
// summation order inside a library call could differ.
constexpr double kGraphTolerance = 1e-6;

TEST(SessionGraphs, EveryRegisteredNetReplayEqualsEagerAtTwoShapes) {
  CUDASEG_REQUIRE_CUDA();
  it::register_test_net();
  for (const std::string& name : nn::registered_nets()) {
    SCOPED_TRACE(name);
    // 8 classes: ESPNet's decoder splits num_classes over 5 branches (upstream fails below 5).
    const nn::Json model = {{"name", name}, {"num_classes", 8}};
    InferenceSession graphed = cuda_session(it::make_net(model, 1), model, true);
    InferenceSession eager = cuda_session(it::make_net(model, 1), model, false);
    // Sides of 64 multiples, as MiniNet's decoder needs them (as upstream).
    for (const Shape& shape : {Shape{1, 3, 64, 64}, Shape{2, 3, 128, 64}}) {
      SCOPED_TRACE(shape_str(shape));
      const Tensor a = det_input(shape, 2), b = det_input(shape, 3);
      const Tensor want_a = eager.logits(a), want_b = eager.logits(b);
      EXPECT_LE(ct::rel_l2(graphed.logits(a), want_a), kGraphTolerance);  // call 1: records the plan
      EXPECT_TRUE(graphed.last_forward().recorded);
      EXPECT_LE(ct::rel_l2(graphed.logits(b), want_b), kGraphTolerance);  // call 2: captures
      ASSERT_TRUE(graphed.last_forward().graph_captured);
      EXPECT_EQ(graphed.last_forward().heap_allocations, 0);
      const Tensor kept = graphed.forward(a);  // call 3: replays
      EXPECT_TRUE(graphed.last_forward().graph_replayed);

      const gpu::AllocatorStats before = gpu::allocator_stats(0);
      const Tensor replayed = graphed.forward(b);
      const gpu::AllocatorStats after = gpu::allocator_stats(0);
      EXPECT_TRUE(graphed.last_forward().graph_replayed);
      EXPECT_EQ(graphed.last_forward().heap_allocations, 0);
      EXPECT_EQ(after.device_mallocs, before.device_mallocs) << "a replay called cudaMalloc";
      EXPECT_LE(after.allocations - before.allocations, 1) << "a replay allocates only its result";
      EXPECT_LE(ct::rel_l2(replayed.to(Device::cpu()), want_b), kGraphTolerance);
      EXPECT_LE(ct::rel_l2(kept.to(Device::cpu()), want_a), kGraphTolerance) << "the replay overwrote a kept result";
    }
  }
}

// Reads its input back to the host inside the forward: a synchronous copy,
// which ends a capture with an error.
class HostSyncNet : public nn::Module {
 public:
  HostSyncNet() : nn::Module("HostSyncNet") { conv = register_module("conv", std::make_shared<nn::Conv2d>(3, 4, 1)); }
  Tensor forward(const Tensor& x) override {
    const Tensor y = (*conv)(x);
    const double first = y.to(Device::cpu()).to_vector()[0];
    return first > 1e30 ? Tensor::zeros(y.shape(), y.dtype(), y.device()) : y;
  }
  nn::ModulePtr conv;
};

TEST(SessionGraphs, CaptureFailureFallsBackToEager) {
  CUDASEG_REQUIRE_CUDA();
  const nn::Json model = {{"name", "host_sync"}, {"num_classes", 4}};
  auto make = [] {
    auto net = std::make_shared<HostSyncNet>();
    it::fill_det(*net, 4);
    return net;
  };
  InferenceSession graphed = cuda_session(make(), model, true);
  InferenceSession eager = cuda_session(make(), model, false);
  const Tensor x = det_input({1, 3, 9, 7}, 1);
  const Tensor want = eager.logits(x);
  EXPECT_EQ(graphed.logits(x).to_vector(), want.to_vector());
  EXPECT_EQ(graphed.logits(x).to_vector(), want.to_vector());  // the capture fails here
  EXPECT_TRUE(graphed.last_forward().graph_failed);
  EXPECT_FALSE(graphed.last_forward().graph_captured);
  EXPECT_EQ(graphed.logits(x).to_vector(), want.to_vector());
  EXPECT_TRUE(graphed.last_forward().graph_failed);
  EXPECT_FALSE(graphed.last_forward().graph_replayed);
  // The stream left capture mode: other work on the device still runs.
  EXPECT_EQ((x.to(Device::cpu()).to_vector()), det_input({1, 3, 9, 7}, 1).to(Device::cpu()).to_vector());
}

}  // namespace
}  // namespace cudaseg::infer
