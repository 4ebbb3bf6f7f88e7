// FSSNet (nets/fssnet.h) against tests/goldens/fssnet.json: upstream zh320
// FSSNet(num_class=19), det-filled parameters, at 64x128 and 96x160
// (multiples of 8, as the downsampling blocks' two branches need; 96x160 is not square and not a multiple of 32).
#include <gtest/gtest.h>

#include <map>

#include "common/golden.h"
#include "common/testing.h"
#include "nets/fssnet.h"
#include "nn/registry.h"

using namespace cudaseg;
namespace golden = cudaseg::testing::golden;

namespace {

const golden::Golden& fssnet_golden() {
  static const golden::Golden g = golden::Golden::load("fssnet");
  return g;
}

}  // namespace

TEST(FSSNetGolden, StateDictEqualsUpstream) {
  const auto& g = fssnet_golden();
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
}

TEST(FSSNetGolden, EvalLogits) {
  const auto& g = fssnet_golden();
  ASSERT_EQ(g.num_cases(), 2u);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i));
}

// The backward against the float64 golden: the PReLU slopes' gradients are sums of terms of both signs over
// train-mode BatchNorm outputs, and our float32 step differs from upstream's by up
// to 4e-1 in their norms (dilated.0.conv.0.2.activation.weight at 64x128), against
// 1e-12 in double.
TEST(FSSNetGolden, TrainStepFloat64) {
  const auto g = golden::Golden::load("fssnet_f64");
  ASSERT_EQ(g.dtype(), DType::f64);
  for (size_t i = 0; i < g.num_cases(); ++i)
    EXPECT_TRUE(golden::check_train_step(g, i, golden::main_only_loss(), {}, golden::float64_tolerances()));
}

TEST(FSSNetGolden, WrongNetLoadNamesTheNetAndTensors) {
  auto net = nn::create_net({{"name", "fssnet"}, {"num_classes", 19}});
  auto other = nn::create_net({{"name", "fastscnn"}, {"num_classes", 19}});
  const std::map<std::string, Tensor> state = golden::state_map(*other);
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { net->load_state_dict(state); },
      {"FSSNet", "missing", "up1.deconv.1.up_conv.0.weight", "unexpected",
       "global_feature_extractor.ppm.conv.0.bias"}));
}

TEST(FSSNetGolden, RegistryArgumentsAreUpstreams) {
  const nn::Json resolved = nn::resolve_model_config({{"name", "fssnet"}, {"num_classes", 19}});
  EXPECT_EQ(resolved, (nn::Json{{"name", "fssnet"}, {"num_classes", 19}, {"n_channel", 3}, {"act_type", "prelu"}}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "fssnet"}, {"num_classes", 19}, {"act_type", "mish"}}); },
      {"fssnet", "act_type", "mish"}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "fssnet"}, {"num_classes", 19}, {"num_class", 19}}); },
      {"fssnet", "num_class"}));
}

// 100x200 is 50x100 after the stem: the skips of the decoder would not meet.
TEST(FSSNetGolden, RejectsSizesWhoseSkipsCannotMeet) {
  auto net = nn::create_net({{"name", "fssnet"}, {"num_classes", 19}});
  net->eval();
  const Tensor x = cudaseg::testing::randn({1, 3, 100, 200}, 1, DType::f32);
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([&] { (*net)(x); }, {"FSSNet", "multiples of 4"}));
}

// ENet's initial block concatenates 16 - n_channel conv maps with the pooled input.
TEST(FSSNetGolden, InputChannelsMustBeBelowSixteen) {
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [] { nn::create_net({{"name", "fssnet"}, {"num_classes", 19}, {"n_channel", 16}}); },
      {"InitialBlock", "in_channels (16)"}));
}
