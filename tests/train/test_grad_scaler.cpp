// The fp16 loss scaler on float32 tensors (its rule does not depend on the
// gradients' dtype): unscaling, overflow detection, skip, backoff, growth,
// and its saved state.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "autograd/arith.h"
#include "autograd/engine.h"
#include "common/testing.h"
#include "train/grad_scaler.h"

using namespace cudaseg;
using namespace cudaseg::train;
namespace ct = cudaseg::testing;

namespace {

Tensor leaf() {
  Tensor w = Tensor::from_vector({0.5, -1.0, 2.0}, {3});
  w.set_requires_grad(true);
  return w;
}

OptimizerConfig plain_sgd() {
  OptimizerConfig c;
  c.lr = 0.1;
  c.momentum = 0.0;
  c.weight_decay = 0.0;
  return c;
}

struct OneParam {
  Tensor w = leaf();
  Optimizer optimizer{{{"w", w}}, plain_sgd()};
};

// loss = sum(w * x): its gradient is x, so x picks the gradient (inf, nan, huge).
Tensor loss_of(const Tensor& w, std::vector<double> x) { return fn::sum(fn::mul(w, Tensor::from_vector(x, {3}))); }

constexpr double kInf = std::numeric_limits<double>::infinity();

}  // namespace

TEST(GradScaler, ScaledStepEqualsThePlainStep) {
  OneParam plain, scaled;
  GradScaler scaler;
  autograd::backward(loss_of(plain.w, {1.0, 2.0, -3.0}));
  plain.optimizer.step();
  const Tensor loss = loss_of(scaled.w, {1.0, 2.0, -3.0});
  const Tensor s = scaler.scale(loss);
  EXPECT_EQ(s.item(), loss.item() * 65536.0);
  autograd::backward(s);
  EXPECT_EQ(scaled.w.grad().to_vector(), (std::vector<double>{65536.0, 131072.0, -196608.0}));
  EXPECT_TRUE(scaler.step(scaled.optimizer));
  EXPECT_EQ(scaled.w.grad().to_vector(), (std::vector<double>{1.0, 2.0, -3.0}));  // unscaled in place
  EXPECT_EQ(scaled.w.to_vector(), plain.w.to_vector());
  EXPECT_EQ(scaler.scale_value(), 65536.0);
  EXPECT_EQ(scaler.growth_tracker(), 1);
}

// An inf or nan gradient: the update is skipped, the parameters keep their
// values and the scale backs off.
TEST(GradScaler, OverflowSkipsTheStepAndBacksOff) {
  for (const double bad : {kInf, -kInf, std::nan("")}) {
    OneParam p;
    GradScaler scaler;
    const std::vector<double> before = p.w.to_vector();
    const Tensor loss = loss_of(p.w, {1.0, 1e-30 * bad, 1.0});
    autograd::backward(scaler.scale(loss));
    EXPECT_FALSE(scaler.step(p.optimizer)) << bad;
    EXPECT_EQ(p.w.to_vector(), before) << bad;
    EXPECT_EQ(scaler.scale_value(), 32768.0);
    EXPECT_EQ(scaler.growth_tracker(), 0);
  }
  // Finite gradients that only overflow float32 once scaled.
  OneParam p;
  GradScaler scaler;
  autograd::backward(scaler.scale(loss_of(p.w, {1.0, 1e35, 1.0})));
  EXPECT_TRUE(std::isfinite(loss_of(p.w, {1.0, 1e35, 1.0}).item()));
  EXPECT_FALSE(scaler.step(p.optimizer));
  EXPECT_EQ(scaler.scale_value(), 32768.0);
}

// Large finite gradients whose sum would overflow are not an overflow.
TEST(GradScaler, LargeFiniteGradientsAreNotAnOverflow) {
  OneParam p;
  GradScaler scaler({1.0, 2.0, 0.5, 2000});
  autograd::backward(scaler.scale(loss_of(p.w, {3e38, 3e38, 3e38})));
  EXPECT_TRUE(scaler.step(p.optimizer));
}

TEST(GradScaler, GrowsAfterGrowthIntervalFiniteStepsInARow) {
  GradScaler scaler({8.0, 2.0, 0.5, 3});
  scaler.update(false);
  scaler.update(false);
  EXPECT_EQ(scaler.scale_value(), 8.0);
  scaler.update(true);  // an overflow restarts the count
  EXPECT_EQ(scaler.scale_value(), 4.0);
  scaler.update(false);
  scaler.update(false);
  EXPECT_EQ(scaler.scale_value(), 4.0);
  scaler.update(false);
  EXPECT_EQ(scaler.scale_value(), 8.0);
  EXPECT_EQ(scaler.growth_tracker(), 0);
}

TEST(GradScaler, StateRoundTripsAndBadStateIsRefused) {
  GradScaler a({8.0, 2.0, 0.5, 3});
  a.update(true);
  a.update(false);
  GradScaler b({8.0, 2.0, 0.5, 3});
  b.load_state(a.state());
  EXPECT_EQ(b.scale_value(), 4.0);
  EXPECT_EQ(b.growth_tracker(), 1);
  b.update(false);
  b.update(false);
  EXPECT_EQ(b.scale_value(), 8.0);
  EXPECT_TRUE(ct::throws_mentioning([&] { b.load_state({{"scale", 2.0}}); }, {"GradScaler", "growth_tracker"}));
  EXPECT_TRUE(ct::throws_mentioning([&] { b.load_state({{"scale", -1.0}, {"growth_tracker", 0}}); },
                                    {"GradScaler", "out of range"}));
  EXPECT_TRUE(ct::throws_mentioning([&] { GradScaler({1.0, 2.0, 1.5, 10}); }, {"backoff_factor", "1.5"}));
}
