// FDDWNet (nets/fddwnet.h) against tests/goldens/fddwnet.json: upstream zh320
// FDDWNet(num_class=19), det-filled parameters, eval only. The second size,
// 72x120, has odd 1/8 maps (9x15), upsampled to the 1/4 skip's 18x30.
// Upstream cannot backpropagate with its default ReLU: its forward adds the
// skip in place to the output of a ReLU, which ReLU's backward needs. The
// training step is therefore checked with act_type relu6 (whose backward
// needs the input) against tests/goldens/fddwnet_relu6_f64.json.
#include <gtest/gtest.h>

#include <map>

#include "autograd/engine.h"
#include "common/golden.h"
#include "common/testing.h"
#include "nets/fddwnet.h"
#include "nn/registry.h"

using namespace cudaseg;
namespace ct = cudaseg::testing;
namespace golden = cudaseg::testing::golden;

namespace {

const golden::Golden& fddwnet_golden() {
  static const golden::Golden g = golden::Golden::load("fddwnet");
  return g;
}

}  // namespace

TEST(FDDWNetGolden, StateDictEqualsUpstream) {
  const auto& g = fddwnet_golden();
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
}

TEST(FDDWNetGolden, EvalLogits) {
  const auto& g = fddwnet_golden();
  ASSERT_EQ(g.num_cases(), 2u);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i));
}

// In double, as for the other nets of this family (train-mode BatchNorm
// amplifies float32 rounding beyond the float32 tolerances).
TEST(FDDWNetGolden, TrainStepReLU6Float64) {
  const auto g = golden::Golden::load("fddwnet_relu6_f64");
  ASSERT_EQ(g.dtype(), DType::f64);
  ASSERT_EQ(g.model().at("act_type"), "relu6");
  for (size_t i = 0; i < g.num_cases(); ++i) {
    EXPECT_TRUE(golden::check_eval(g, i));
    EXPECT_TRUE(golden::check_train_step(g, i, golden::main_only_loss(), {}, golden::float64_tolerances()));
  }
}

TEST(FDDWNetGolden, WrongNetLoadNamesTheNetAndTensors) {
  auto fddwnet = nn::create_net({{"name", "fddwnet"}, {"num_classes", 19}});
  auto erfnet = nn::create_net({{"name", "erfnet"}, {"num_classes", 19}});
  EXPECT_TRUE(ct::throws_mentioning([&] { fddwnet->load_state_dict(golden::state_map(*erfnet)); },
                                    {"FDDWNet", "missing", "layer17_24.7.conv.4.0.weight", "unexpected",
                                     "layer9_16.7.conv.3.weight"}));
  auto ten = nn::create_net({{"name", "fddwnet"}, {"num_classes", 10}});
  EXPECT_TRUE(ct::throws_mentioning([&] { fddwnet->load_state_dict(golden::state_map(*ten)); },
                                    {"FDDWNet", "mis-shaped", "layer31.up_conv.0.weight"}));
}

TEST(FDDWNetGolden, RegistryArgumentsAreUpstreams) {
  const nn::Json resolved = nn::resolve_model_config({{"name", "fddwnet"}, {"num_classes", 19}});
  EXPECT_EQ(resolved, (nn::Json{{"name", "fddwnet"}, {"num_classes", 19}, {"act_type", "relu"}, {"ks", 3},
                                {"n_channel", 3}}));
  // Upstream passes inplace=True to Activation(act_type), which nn.GELU refuses.
  EXPECT_TRUE(ct::throws_mentioning(
      [&] { nn::create_net({{"name", "fddwnet"}, {"num_classes", 19}, {"act_type", "gelu"}}); },
      {"fddwnet", "act_type", "gelu"}));
  EXPECT_TRUE(ct::throws_mentioning([&] { nn::create_net({{"name", "fddwnet"}, {"num_classes", 19}, {"ks", 4}}); },
                                    {"FDDWNet", "ks", "odd"}));
}

// The upsampled 1/8 features are added to the 1/4 skip: upstream fails inside
// the addition when ceil(H/4) is odd, here the size is refused up front.
TEST(FDDWNet, SizesAndKernelsFollowUpstream) {
  auto net = nn::create_net({{"name", "fddwnet"}, {"num_classes", 4}, {"ks", 5}, {"act_type", "relu6"}});
  net->eval();
  autograd::NoGradGuard no_grad;
  EXPECT_EQ(net->forward(ct::uniform({1, 3, 30, 16}, -1, 1, 3, DType::f32)).shape(), (Shape{1, 4, 32, 16}));
  EXPECT_TRUE(ct::throws_mentioning([&] { net->forward(ct::uniform({1, 3, 36, 16}, -1, 1, 3, DType::f32)); },
                                    {"FDDWNet", "ceil(H/4)"}));
}
