// FPENet (nets/fpenet.h) against tests/goldens/fpenet.json: upstream zh320
// FPENet(num_class=19), det-filled parameters, at 64x128 and 96x160
// (multiples of 8, as the decoder's x2 upsampling needs; 96x160 is not square and not a multiple of 32).
#include <gtest/gtest.h>

#include <map>

#include "common/golden.h"
#include "common/testing.h"
#include "nets/fpenet.h"
#include "nn/registry.h"

using namespace cudaseg;
namespace golden = cudaseg::testing::golden;

namespace {

const golden::Golden& fpenet_golden() {
  static const golden::Golden g = golden::Golden::load("fpenet");
  return g;
}

}  // namespace

TEST(FPENetGolden, StateDictEqualsUpstream) {
  const auto& g = fpenet_golden();
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
}

TEST(FPENetGolden, EvalLogits) {
  const auto& g = fpenet_golden();
  ASSERT_EQ(g.num_cases(), 2u);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i));
}

// The backward against the float64 golden: float32 train-mode BatchNorm over
// the channel attention's 1x1 maps (two values per channel at batch 2) amplifies
// rounding: our float32 step differs from upstream's by up to 1.3e-2 in
// gradient norms (decoder2.sa.conv.1.bias at 96x160), against 2e-11 in double.
TEST(FPENetGolden, TrainStepFloat64) {
  const auto g = golden::Golden::load("fpenet_f64");
  ASSERT_EQ(g.dtype(), DType::f64);
  for (size_t i = 0; i < g.num_cases(); ++i)
    EXPECT_TRUE(golden::check_train_step(g, i, golden::main_only_loss(), {}, golden::float64_tolerances()));
}

TEST(FPENetGolden, WrongNetLoadNamesTheNetAndTensors) {
  auto net = nn::create_net({{"name", "fpenet"}, {"num_classes", 19}});
  auto other = nn::create_net({{"name", "fastscnn"}, {"num_classes", 19}});
  const std::map<std::string, Tensor> state = golden::state_map(*other);
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { net->load_state_dict(state); },
      {"FPENet", "missing", "decoder1.ca.1.0.weight", "unexpected",
       "global_feature_extractor.ppm.conv.0.bias"}));
}

TEST(FPENetGolden, RegistryArgumentsAreUpstreams) {
  const nn::Json resolved = nn::resolve_model_config({{"name", "fpenet"}, {"num_classes", 19}});
  EXPECT_EQ(resolved, (nn::Json{{"name", "fpenet"}, {"num_classes", 19}, {"n_channel", 3}, {"p", 3}, {"q", 9}, {"k", 4},
                                 {"act_type", "relu"}}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "fpenet"}, {"num_classes", 19}, {"act_type", "mish"}}); },
      {"fpenet", "act_type", "mish"}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "fpenet"}, {"num_classes", 19}, {"num_class", 19}}); },
      {"fpenet", "num_class"}));
}

// 100x200 is 50x100 after the stem: the skips of the decoder would not meet.
TEST(FPENetGolden, RejectsSizesWhoseSkipsCannotMeet) {
  auto net = nn::create_net({{"name", "fpenet"}, {"num_classes", 19}});
  net->eval();
  const Tensor x = cudaseg::testing::randn({1, 3, 100, 200}, 1, DType::f32);
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([&] { (*net)(x); }, {"FPENet", "multiples of 4"}));
}

// p and q count the blocks at 1/4 and 1/8 (the strided one included), k expands them.
TEST(FPENetGolden, BlockCountsAndExpansionFollowTheArguments) {
  auto net = nn::create_net({{"name", "fpenet"}, {"num_classes", 19}, {"p", 2}, {"q", 3}, {"k", 2}});
  std::map<std::string, Shape> shapes;
  for (const auto& [name, t] : net->state_dict()) shapes.emplace(name, t.shape());
  EXPECT_EQ(shapes.at("stage2_0.conv_init.0.weight"), (Shape{64, 16, 1, 1}));
  EXPECT_TRUE(shapes.count("stage2.0.conv_last.0.weight"));
  EXPECT_FALSE(shapes.count("stage2.1.conv_last.0.weight"));
  EXPECT_TRUE(shapes.count("stage3.1.conv_last.0.weight"));
  EXPECT_FALSE(shapes.count("stage3.2.conv_last.0.weight"));
  EXPECT_EQ(shapes.at("stage3.1.layers.3.0.weight"), (Shape{32, 1, 3, 3}));
}
