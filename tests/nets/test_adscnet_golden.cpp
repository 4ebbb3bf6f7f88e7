// ADSCNet (nets/adscnet.h) against tests/goldens/adscnet.json: upstream zh320
// ADSCNet(num_class=19), det-filled parameters, at 64x128 and 96x160
// (multiples of 8, as ADSCNet's additive skips need; 96x160 is not square and not a multiple of 32).
#include <gtest/gtest.h>

#include <map>

#include "common/golden.h"
#include "common/testing.h"
#include "nets/adscnet.h"
#include "nn/registry.h"

using namespace cudaseg;
namespace golden = cudaseg::testing::golden;

namespace {

const golden::Golden& adscnet_golden() {
  static const golden::Golden g = golden::Golden::load("adscnet");
  return g;
}

}  // namespace

TEST(ADSCNetGolden, StateDictEqualsUpstream) {
  const auto& g = adscnet_golden();
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
}

TEST(ADSCNetGolden, EvalLogits) {
  const auto& g = adscnet_golden();
  ASSERT_EQ(g.num_cases(), 2u);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i));
}

TEST(ADSCNetGolden, TrainStep) {
  const auto& g = adscnet_golden();
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_train_step(g, i, golden::main_only_loss()));
}

TEST(ADSCNetGolden, WrongNetLoadNamesTheNetAndTensors) {
  auto net = nn::create_net({{"name", "adscnet"}, {"num_classes", 19}});
  auto other = nn::create_net({{"name", "fastscnn"}, {"num_classes", 19}});
  const std::map<std::string, Tensor> state = golden::state_map(*other);
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { net->load_state_dict(state); },
      {"ADSCNet", "missing", "ddcc.block4.2.conv.0.0.weight", "unexpected",
       "global_feature_extractor.ppm.conv.0.bias"}));
}

TEST(ADSCNetGolden, RegistryArgumentsAreUpstreams) {
  const nn::Json resolved = nn::resolve_model_config({{"name", "adscnet"}, {"num_classes", 19}});
  EXPECT_EQ(resolved, (nn::Json{{"name", "adscnet"}, {"num_classes", 19}, {"n_channel", 3}, {"act_type", "relu6"}}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "adscnet"}, {"num_classes", 19}, {"act_type", "mish"}}); },
      {"adscnet", "act_type", "mish"}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "adscnet"}, {"num_classes", 19}, {"num_class", 19}}); },
      {"adscnet", "num_class"}));
}

// 100x200 is 50x100 after the stem: the skips of the decoder would not meet.
TEST(ADSCNetGolden, RejectsSizesWhoseSkipsCannotMeet) {
  auto net = nn::create_net({{"name", "adscnet"}, {"num_classes", 19}});
  net->eval();
  const Tensor x = cudaseg::testing::randn({1, 3, 100, 200}, 1, DType::f32);
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([&] { (*net)(x); }, {"ADSCNet", "multiples of 4"}));
}
