// CFPNet (nets/cfpnet.h) against tests/goldens/cfpnet.json: upstream zh320
// CFPNet(num_class=19), det-filled parameters, at 64x128 and 96x160 (upstream
// needs multiples of 8: its input pyramid is a floor-sized scale_factor resize).
#include <gtest/gtest.h>

#include <map>

#include "common/golden.h"
#include "common/testing.h"
#include "nets/cfpnet.h"
#include "nn/hooks.h"
#include "nn/layers.h"
#include "nn/registry.h"

using namespace cudaseg;
namespace golden = cudaseg::testing::golden;

namespace {

const golden::Golden& cfpnet_golden() {
  static const golden::Golden g = golden::Golden::load("cfpnet");
  return g;
}

bool has_key(const nn::Module& net, const std::string& key) {
  for (const auto& [name, t] : net.state_dict())
    if (name == key) return true;
  return false;
}

}  // namespace

TEST(CFPNetGolden, StateDictEqualsUpstream) {
  const auto& g = cfpnet_golden();
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
}

TEST(CFPNetGolden, EvalLogits) {
  const auto& g = cfpnet_golden();
  ASSERT_EQ(g.num_cases(), 2u);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i));
}

// The backward against the float64 golden: train-mode BatchNorm over the
// narrow branches makes PyTorch's own float32 gradients (PReLU slopes above
// all) differ from its float64 ones by more than a 1e-4 comparison allows.
TEST(CFPNetGolden, TrainStepFloat64) {
  const auto g = golden::Golden::load("cfpnet_f64");
  ASSERT_EQ(g.dtype(), DType::f64);
  for (size_t i = 0; i < g.num_cases(); ++i)
    EXPECT_TRUE(golden::check_train_step(g, i, golden::main_only_loss(), {}, golden::float64_tolerances()));
}

TEST(CFPNetGolden, WrongNetLoadNamesTheNetAndTensors) {
  auto cfpnet = nn::create_net({{"name", "cfpnet"}, {"num_classes", 19}});
  auto other = nn::create_net({{"name", "enet"}, {"num_classes", 19}});
  const std::map<std::string, Tensor> state = golden::state_map(*other);
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { cfpnet->load_state_dict(state); },
      {"CFPNet", "missing", "cfp2.5.layers.3.block3.1.2.activation.weight", "unexpected", "initial.conv.0.weight"}));
}

TEST(CFPNetGolden, RegistryArgumentsAreUpstreams) {
  const nn::Json resolved = nn::resolve_model_config({{"name", "cfpnet"}, {"num_classes", 19}});
  EXPECT_EQ(resolved, (nn::Json{{"name", "cfpnet"},
                                {"num_classes", 19},
                                {"n_channel", 3},
                                {"n", 2},
                                {"m", 6},
                                {"dilations", {2, 2, 4, 4, 8, 8, 16, 16}},
                                {"act_type", "prelu"}}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "cfpnet"}, {"num_classes", 19}, {"n", 3}}); },
      {"CFPNet", "8 dilations", "n + m = 9"}));
}

// n, m and dilations size the stages; a module's pyramid channels dilate by
// ceil(rk / rk), ceil(rk / 4), ceil(rk / 2), rk (rk = 8: 1, 2, 4, 8).
TEST(CFPNetGolden, StagesFollowNMAndDilations) {
  auto net = nn::create_net({{"name", "cfpnet"}, {"num_classes", 4}, {"n", 1}, {"m", 1}, {"dilations", {8, 3}}});
  EXPECT_TRUE(has_key(*net, "cfp1.0.conv_init.0.weight"));
  EXPECT_FALSE(has_key(*net, "cfp1.1.conv_init.0.weight"));
  EXPECT_FALSE(has_key(*net, "cfp2.1.conv_init.0.weight"));
  std::map<std::string, int64_t> dilation;
  for (const auto& [m, name] : nn::module_names(*net))
    if (const auto* conv = dynamic_cast<const nn::Conv2d*>(m)) dilation[name] = conv->params().dilation[0];
  EXPECT_EQ(dilation.at("cfp1.0.layers.0.block1.0.0"), 1);
  EXPECT_EQ(dilation.at("cfp1.0.layers.1.block1.0.0"), 2);
  EXPECT_EQ(dilation.at("cfp1.0.layers.2.block2.1.0"), 4);
  EXPECT_EQ(dilation.at("cfp1.0.layers.3.block3.0.0"), 8);
  EXPECT_EQ(dilation.at("cfp2.0.layers.0.block1.0.0"), 1);
  EXPECT_EQ(dilation.at("cfp2.0.layers.1.block1.0.0"), 1);
  EXPECT_EQ(dilation.at("cfp2.0.layers.2.block1.0.0"), 2);
  EXPECT_EQ(dilation.at("cfp2.0.layers.3.block1.0.0"), 3);
}
