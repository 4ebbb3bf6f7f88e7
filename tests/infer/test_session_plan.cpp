// The session's memory plans (infer/runner.h) on the CPU: the
// planned forward of every registered net equals the unplanned one bit for
// bit, a second call of a shape allocates nothing but its result, a new
// shape records its own plan, and a result kept by the caller survives later
// calls.
#include <gtest/gtest.h>

#include "common/testing.h"
#include "nn/hooks.h"
#include "nn/registry.h"
#include "tests/infer/infer_testing.h"
#include "infer/session.h"

namespace cudaseg::infer {
namespace {

using namespace cudaseg::weights;

namespace it = cudaseg::infer_testing;
namespace ct = cudaseg::testing;

Tensor det_input(const Shape& shape, uint64_t seed) { return nn::det_uniform("input", shape, -1.0, 1.0, seed); }

InferenceSession session(const nn::Json& model, bool plan) {
  SessionOptions o;
  o.plan_memory = plan;
  return InferenceSession::from_net(it::make_net(model, 1), it::info_of(model), o);
}

TEST(SessionPlan, EveryRegisteredNetPlannedEqualsUnplannedAndAllocatesNothing) {
  it::register_test_net();
  for (const std::string& name : nn::registered_nets()) {
    SCOPED_TRACE(name);
    // 8 classes: ESPNet's decoder splits num_classes over 5 branches (upstream fails below 5).
    const nn::Json model = {{"name", name}, {"num_classes", 8}};
    InferenceSession planned = session(model, true), plain = session(model, false);
    const Tensor a = det_input({1, 3, 64, 64}, 2), b = det_input({1, 3, 64, 64}, 3);

    const Tensor first = planned.forward(a);
    EXPECT_TRUE(planned.last_forward().recorded);
    EXPECT_EQ(planned.last_forward().result_allocations, 1);
    const std::vector<double> first_values = first.to_vector();
    EXPECT_EQ(first_values, plain.forward(a).to_vector());

    const Tensor second = planned.forward(b);
    const ForwardStats s = planned.last_forward();
    EXPECT_FALSE(s.recorded);
    EXPECT_EQ(s.heap_allocations, 0);
    EXPECT_GT(s.arena_allocations, 0);
    EXPECT_EQ(s.result_allocations, 1);
    EXPECT_GT(s.arena_bytes, 0u);
    EXPECT_EQ(second.to_vector(), plain.forward(b).to_vector());
    EXPECT_EQ(first.to_vector(), first_values) << "call 2 overwrote the result of call 1";
    EXPECT_NE(first_values, second.to_vector());

    // Another shape records its own plan; the first one is still there. Sides
    // of 64 multiples, as MiniNet's decoder needs them (as upstream).
    const Tensor c = det_input({2, 3, 128, 64}, 4);
    EXPECT_EQ(planned.forward(c).to_vector(), plain.forward(c).to_vector());
    EXPECT_TRUE(planned.last_forward().recorded);
    EXPECT_EQ(planned.forward(c).to_vector(), plain.forward(c).to_vector());
    EXPECT_EQ(planned.last_forward().heap_allocations, 0);
    EXPECT_EQ(planned.forward(a).to_vector(), first_values);
    EXPECT_FALSE(planned.last_forward().recorded);
    EXPECT_EQ(planned.last_forward().heap_allocations, 0);
  }
}

// FastSegFormer-E takes its 224x224 only (the registry loop above runs the
// default -P at 64x64): its attention biases are gathered inside every call,
// so the second call replays the plan (biases kept across calls made it
// record again at the second and third).
TEST(SessionPlan, FastSegFormerEReplaysFromTheSecondCall) {
  const nn::Json model = {{"name", "fastsegformer"}, {"num_classes", 4}, {"backbone", "efficientformerV2_s0"}};
  InferenceSession planned = session(model, true), plain = session(model, false);
  const Tensor a = det_input({1, 3, 224, 224}, 5), b = det_input({1, 3, 224, 224}, 6);
  planned.forward(a);
  EXPECT_TRUE(planned.last_forward().recorded);
  const Tensor second = planned.forward(b);
  EXPECT_FALSE(planned.last_forward().recorded);
  EXPECT_EQ(planned.last_forward().heap_allocations, 0);
  EXPECT_EQ(second.to_vector(), plain.forward(b).to_vector());
}

TEST(SessionPlan, PredictAndLogitsReplayThePlan) {
  const auto model = it::test_model();
  InferenceSession s = session(model, true), plain = session(model, false);
  const Tensor image = Tensor::zeros({9, 11, 3}, DType::u8);
  std::vector<double> pixels(9 * 11 * 3);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<double>((i * 37 + 11) % 256);
  const Tensor noisy = Tensor::from_vector(pixels, {9, 11, 3}, DType::u8);
  s.predict(noisy);
  const Tensor labels = s.predict(noisy);
  EXPECT_EQ(s.last_forward().heap_allocations, 0);
  EXPECT_EQ(labels.to_vector(), plain.predict(noisy).to_vector());
  s.predict(image);
  EXPECT_EQ(s.last_forward().heap_allocations, 0);  // same input size, same plan

  const Tensor x = det_input({1, 3, 12, 10}, 6);
  s.logits(x);
  EXPECT_EQ(s.logits(x).to_vector(), plain.logits(x).to_vector());
  EXPECT_EQ(s.last_forward().heap_allocations, 0);
  // A double input is converted inside the plan: still nothing allocated on call 2.
  const Tensor xd = x.to(DType::f64);
  s.logits(xd);
  EXPECT_EQ(s.logits(xd).to_vector(), plain.logits(x).to_vector());
  EXPECT_EQ(s.last_forward().heap_allocations, 0);
}

TEST(SessionPlan, UnplannedAndHookedCallsUseTheAllocator) {
  const auto model = it::test_model();
  InferenceSession plain = session(model, false);
  const Tensor x = det_input({1, 3, 8, 8}, 1);
  plain.forward(x);
  plain.forward(x);
  EXPECT_EQ(plain.last_forward().arena_allocations, 0);
  EXPECT_FALSE(plain.last_forward().recorded);

  InferenceSession s = session(model, true);
  s.forward(x);
  nn::LayerRecorder rec(*s.net_ptr(), {"head"});
  {
    nn::ForwardHookGuard guard(&rec);
    EXPECT_EQ(s.forward(x).to_vector(), plain.forward(x).to_vector());
  }
  EXPECT_EQ(s.last_forward().arena_allocations, 0);
  ASSERT_TRUE(rec.captured().count("head"));
  s.forward(x);
  EXPECT_EQ(s.last_forward().heap_allocations, 0);
}

}  // namespace
}  // namespace cudaseg::infer
