// ERFNet (nets/erfnet.h) against tests/goldens/erfnet.json: upstream zh320
// ERFNet(num_class=19), det-filled parameters. The second size, 72x120, has
// odd 1/8 maps (9x15). Sizes that are not multiples of 8 give larger logits
// (the strided convs and pools round up), which the training step's labels
// could not match, so no golden uses one.
#include <gtest/gtest.h>

#include <map>

#include "autograd/engine.h"
#include "common/golden.h"
#include "common/testing.h"
#include "nets/erfnet.h"
#include "nn/registry.h"

using namespace cudaseg;
namespace ct = cudaseg::testing;
namespace golden = cudaseg::testing::golden;

namespace {

const golden::Golden& erfnet_golden() {
  static const golden::Golden g = golden::Golden::load("erfnet");
  return g;
}

}  // namespace

TEST(ERFNetGolden, StateDictEqualsUpstream) {
  const auto& g = erfnet_golden();
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
}

TEST(ERFNetGolden, EvalLogits) {
  const auto& g = erfnet_golden();
  ASSERT_EQ(g.num_cases(), 2u);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i));
}

// The training step against the float64 golden: upstream's own float32 step
// differs from its float64 one by ~3e-4 in the logits (samples rel L2) and up
// to 3.5e-2 in gradient norms (layer1.conv.1.weight), the train-mode
// BatchNorms of 30 blocks amplifying rounding beyond the float32 tolerances.
TEST(ERFNetGolden, TrainStepFloat64) {
  const auto g = golden::Golden::load("erfnet_f64");
  ASSERT_EQ(g.dtype(), DType::f64);
  for (size_t i = 0; i < g.num_cases(); ++i)
    EXPECT_TRUE(golden::check_train_step(g, i, golden::main_only_loss(), {}, golden::float64_tolerances()));
}

TEST(ERFNetGolden, WrongNetLoadNamesTheNetAndTensors) {
  auto erfnet = nn::create_net({{"name", "erfnet"}, {"num_classes", 19}});
  auto enet = nn::create_net({{"name", "enet"}, {"num_classes", 19}});
  EXPECT_TRUE(ct::throws_mentioning([&] { erfnet->load_state_dict(golden::state_map(*enet)); },
                                    {"ERFNet", "missing", "layer9_16.7.conv.3.weight", "unexpected",
                                     "bottleneck1.conv_pool.left_conv.0.weight"}));
  auto ten = nn::create_net({{"name", "erfnet"}, {"num_classes", 10}});
  EXPECT_TRUE(ct::throws_mentioning([&] { erfnet->load_state_dict(golden::state_map(*ten)); },
                                    {"ERFNet", "mis-shaped", "layer23.up_conv.0.weight"}));
}

TEST(ERFNetGolden, RegistryArgumentsAreUpstreams) {
  const nn::Json resolved = nn::resolve_model_config({{"name", "erfnet"}, {"num_classes", 19}});
  EXPECT_EQ(resolved, (nn::Json{{"name", "erfnet"}, {"num_classes", 19}, {"act_type", "relu"}, {"n_channel", 3}}));
  // Upstream passes inplace=True to Activation(act_type), which nn.PReLU refuses.
  EXPECT_TRUE(ct::throws_mentioning(
      [&] { nn::create_net({{"name", "erfnet"}, {"num_classes", 19}, {"act_type", "prelu"}}); },
      {"erfnet", "act_type", "prelu"}));
}

// As upstream: 100 -> 50 -> 25 -> 13 at 1/8, doubled three times.
TEST(ERFNet, LogitsOfSizesNotMultiplesOf8AreLarger) {
  auto net = nn::create_net({{"name", "erfnet"}, {"num_classes", 5}, {"n_channel", 1}, {"act_type", "selu"}});
  net->eval();
  autograd::NoGradGuard no_grad;
  EXPECT_EQ(net->forward(ct::uniform({1, 1, 100, 40}, -1, 1, 3, DType::f32)).shape(), (Shape{1, 5, 104, 40}));
}
