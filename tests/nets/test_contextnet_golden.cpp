// ContextNet (nets/contextnet.h) against tests/goldens/contextnet.json:
// upstream zh320 ContextNet(num_class=19), det-filled parameters; the second
// size (100x200) is not a multiple of 4 or 32, exercising the floor-sized 1/4
// image, the strided convs' floor rules and the size-driven resizes.
#include <gtest/gtest.h>

#include <map>

#include "common/golden.h"
#include "common/testing.h"
#include "nets/contextnet.h"
#include "nn/registry.h"

using namespace cudaseg;
namespace golden = cudaseg::testing::golden;

namespace {

const golden::Golden& contextnet_golden() {
  static const golden::Golden g = golden::Golden::load("contextnet");
  return g;
}

}  // namespace

TEST(ContextNetGolden, StateDictEqualsUpstream) {
  const auto& g = contextnet_golden();
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
}

TEST(ContextNetGolden, EvalLogits) {
  const auto& g = contextnet_golden();
  ASSERT_EQ(g.num_cases(), 2u);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i));
}

// The backward against the float64 golden, as every net's (tests/goldens/README.md).
TEST(ContextNetGolden, TrainStepFloat64) {
  const auto g = golden::Golden::load("contextnet_f64");
  ASSERT_EQ(g.dtype(), DType::f64);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_train_step(g, i, golden::main_only_loss()));
}

TEST(ContextNetGolden, WrongNetLoadNamesTheNetAndTensors) {
  auto contextnet = nn::create_net({{"name", "contextnet"}, {"num_classes", 19}});
  auto other = nn::create_net({{"name", "fastscnn"}, {"num_classes", 19}});
  const std::map<std::string, Tensor> state = golden::state_map(*other);
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { contextnet->load_state_dict(state); },
      {"ContextNet", "missing", "feature_fusion.branch_4_conv.0.0.0.weight", "unexpected",
       "learning_to_downsample.0.0.weight"}));
}

TEST(ContextNetGolden, RegistryArgumentsAreUpstreams) {
  const nn::Json resolved = nn::resolve_model_config({{"name", "contextnet"}, {"num_classes", 19}});
  EXPECT_EQ(resolved, (nn::Json{{"name", "contextnet"}, {"num_classes", 19}, {"act_type", "relu"}, {"n_channel", 3}}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "contextnet"}, {"num_classes", 19}, {"act_type", "mish"}}); },
      {"contextnet", "act_type", "mish"}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "contextnet"}, {"num_classes", 19}, {"backbone_type", "resnet18"}}); },
      {"contextnet", "backbone_type"}));
}
