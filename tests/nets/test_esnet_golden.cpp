// ESNet (nets/esnet.h) against tests/goldens/esnet.json: upstream zh320
// ESNet(num_class=19), det-filled parameters. The second size, 72x120, has
// odd 1/8 maps (9x15). Sizes that are not multiples of 8 give larger logits,
// which the training step's labels could not match, so no golden uses one.
#include <gtest/gtest.h>

#include <map>

#include "autograd/engine.h"
#include "common/golden.h"
#include "common/testing.h"
#include "nets/esnet.h"
#include "nn/registry.h"

using namespace cudaseg;
namespace ct = cudaseg::testing;
namespace golden = cudaseg::testing::golden;

namespace {

const golden::Golden& esnet_golden() {
  static const golden::Golden g = golden::Golden::load("esnet");
  return g;
}

}  // namespace

TEST(ESNetGolden, StateDictEqualsUpstream) {
  const auto& g = esnet_golden();
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
}

TEST(ESNetGolden, EvalLogits) {
  const auto& g = esnet_golden();
  ASSERT_EQ(g.num_cases(), 2u);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i));
}

// The training step against the float64 golden: upstream's own float32 step
// differs from its float64 one by ~1.6e-5 in the train logits and up to 5e-3
// in gradient norms (block1.1.conv.2.1.bias at 72x120), beyond the float32
// tolerances.
TEST(ESNetGolden, TrainStepFloat64) {
  const auto g = golden::Golden::load("esnet_f64");
  ASSERT_EQ(g.dtype(), DType::f64);
  for (size_t i = 0; i < g.num_cases(); ++i)
    EXPECT_TRUE(golden::check_train_step(g, i, golden::main_only_loss(), {}, golden::float64_tolerances()));
}

TEST(ESNetGolden, WrongNetLoadNamesTheNetAndTensors) {
  auto esnet = nn::create_net({{"name", "esnet"}, {"num_classes", 19}});
  auto erfnet = nn::create_net({{"name", "erfnet"}, {"num_classes", 19}});
  EXPECT_TRUE(ct::throws_mentioning([&] { esnet->load_state_dict(golden::state_map(*erfnet)); },
                                    {"ESNet", "missing", "block3.2.conv_right.2.0.weight", "unexpected",
                                     "layer9_16.7.conv.3.weight"}));
  auto ten = nn::create_net({{"name", "esnet"}, {"num_classes", 10}});
  EXPECT_TRUE(ct::throws_mentioning([&] { esnet->load_state_dict(golden::state_map(*ten)); },
                                    {"ESNet", "mis-shaped", "full_conv.up_conv.0.weight"}));
}

TEST(ESNetGolden, RegistryArgumentsAreUpstreams) {
  const nn::Json resolved = nn::resolve_model_config({{"name", "esnet"}, {"num_classes", 19}});
  EXPECT_EQ(resolved, (nn::Json{{"name", "esnet"}, {"num_classes", 19}, {"act_type", "relu"}, {"n_channel", 3}}));
  // Upstream passes inplace=True to Activation(act_type), which nn.Tanh refuses.
  EXPECT_TRUE(ct::throws_mentioning(
      [&] { nn::create_net({{"name", "esnet"}, {"num_classes", 19}, {"act_type", "tanh"}}); },
      {"esnet", "act_type", "tanh"}));
}

// As upstream: 100 -> 50 -> 25 -> 13 at 1/8, doubled three times.
TEST(ESNet, LogitsOfSizesNotMultiplesOf8AreLarger) {
  auto net = nn::create_net({{"name", "esnet"}, {"num_classes", 5}, {"n_channel", 1}, {"act_type", "elu"}});
  net->eval();
  autograd::NoGradGuard no_grad;
  EXPECT_EQ(net->forward(ct::uniform({1, 1, 100, 40}, -1, 1, 3, DType::f32)).shape(), (Shape{1, 5, 104, 40}));
}
