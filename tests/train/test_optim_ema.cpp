#include <gtest/gtest.h>

#include "common/testing.h"
#include "nn/layers.h"
#include "ops/ops.h"
#include "train/ema.h"

using namespace cudaseg;
using namespace cudaseg::train;
namespace ct = cudaseg::testing;

namespace {

std::shared_ptr<nn::Sequential> toy() {
  auto net = std::make_shared<nn::Sequential>();
  net->push_back(std::make_shared<nn::Conv2d>(2, 3, 1));
  net->push_back(std::make_shared<nn::BatchNorm2d>(3));
  return net;
}

}  // namespace

TEST(Ema, LinearDecayAveragesWeightsAndBuffers) {
  nn::manual_seed(1);
  auto net = toy();
  EmaConfig c;
  c.enabled = true;
  ModelEma ema(*net, c);
  const Tensor w0 = net->get("0.weight").clone();
  EXPECT_DOUBLE_EQ(ema.decay_at(1, 4), 0.25);
  EXPECT_DOUBLE_EQ(ema.decay_at(9, 4), 1.0);
  // A training forward moves the BN running stats; perturb the weight too.
  net->forward(ct::randn({2, 2, 3, 3}, 2, DType::f32));
  net->get("0.weight").copy_(ops::add(w0, 0.5));
  ema.update(*net, 1, 4);
  const auto& s = ema.state();
  ASSERT_EQ(s[0].first, "0.weight");
  const Tensor want_w = ops::add(ops::mul(w0, 0.25), ops::mul(net->get("0.weight"), 0.75));
  EXPECT_TRUE(ct::all_close(s[0].second, want_w, 1e-6, 1e-6));
  const Tensor rm = net->get("1.running_mean");
  for (const auto& [name, t] : s) {
    if (name == "1.running_mean") {  // started at 0
      EXPECT_TRUE(ct::all_close(t, ops::mul(rm, 0.75), 1e-6, 1e-6));
    }
    if (name == "1.num_batches_tracked") {
      EXPECT_EQ(t.item(), 1.0);  // copied, not averaged
    }
  }
  nn::manual_seed(2);
  auto other = toy();
  ema.copy_to(*other);
  EXPECT_TRUE(ct::all_close(other->get("0.weight"), want_w, 0, 0));
}

TEST(Ema, FixedDecayAndDisabledMirror) {
  nn::manual_seed(3);
  auto net = toy();
  EmaConfig c;
  c.enabled = true;
  c.mode = "fixed";
  c.decay = 0.9;
  ModelEma ema(*net, c);
  const Tensor w0 = net->get("0.bias").clone();
  net->get("0.bias").copy_(ops::mul(w0, -3.0));
  ema.update(*net, 1, 100);
  EXPECT_TRUE(ct::all_close(ema.state()[1].second, ops::mul(w0, 0.9 - 0.3), 1e-6, 1e-6));

  c.enabled = false;
  ModelEma mirror(*net, c);
  net->get("0.bias").copy_(w0);
  mirror.update(*net, 50, 100);
  EXPECT_TRUE(ct::all_close(mirror.state()[1].second, w0, 0, 0));
  c.mode = "cubic";
  EXPECT_TRUE(ct::throws_mentioning([&] { ModelEma(*net, c); }, {"ema.mode", "cubic"}));
}
