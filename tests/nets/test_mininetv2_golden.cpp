// MiniNetv2 (nets/mininetv2.h) against tests/goldens/mininetv2.json: upstream zh320
// MiniNetv2(num_class=19), det-filled parameters, at 64x128 and 96x160
// (multiples of 8, as the 1/4 sum needs; 96x160 is not square and not a multiple of 32).
#include <gtest/gtest.h>

#include <map>

#include "common/golden.h"
#include "common/testing.h"
#include "nets/mininetv2.h"
#include "nn/registry.h"

using namespace cudaseg;
namespace golden = cudaseg::testing::golden;

namespace {

const golden::Golden& mininetv2_golden() {
  static const golden::Golden g = golden::Golden::load("mininetv2");
  return g;
}

}  // namespace

TEST(MiniNetv2Golden, StateDictEqualsUpstream) {
  const auto& g = mininetv2_golden();
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
}

TEST(MiniNetv2Golden, EvalLogits) {
  const auto& g = mininetv2_golden();
  ASSERT_EQ(g.num_cases(), 2u);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i));
}

// The backward against the float64 golden: through 30 separable blocks of
// train-mode BatchNorm, our float32 step differs from upstream's by up to 1.2e-2
// in the train logits and 2e-1 in gradient norms (m1_10.3.pw_conv.1.weight),
// against 2e-11 in double.
TEST(MiniNetv2Golden, TrainStepFloat64) {
  const auto g = golden::Golden::load("mininetv2_f64");
  ASSERT_EQ(g.dtype(), DType::f64);
  for (size_t i = 0; i < g.num_cases(); ++i)
    EXPECT_TRUE(golden::check_train_step(g, i, golden::main_only_loss(), {}, golden::float64_tolerances()));
}

TEST(MiniNetv2Golden, WrongNetLoadNamesTheNetAndTensors) {
  auto net = nn::create_net({{"name", "mininetv2"}, {"num_classes", 19}});
  auto other = nn::create_net({{"name", "fastscnn"}, {"num_classes", 19}});
  const std::map<std::string, Tensor> state = golden::state_map(*other);
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { net->load_state_dict(state); },
      {"MiniNetv2", "missing", "feature_extractor.7.ddw_conv.0.weight", "unexpected",
       "global_feature_extractor.ppm.conv.0.bias"}));
}

TEST(MiniNetv2Golden, RegistryArgumentsAreUpstreams) {
  const nn::Json resolved = nn::resolve_model_config({{"name", "mininetv2"}, {"num_classes", 19}});
  EXPECT_EQ(resolved, (nn::Json{{"name", "mininetv2"},
                                 {"num_classes", 19},
                                 {"n_channel", 3},
                                 {"feat_dt", {1, 2, 1, 4, 1, 8, 1, 16, 1, 1, 1, 2, 1, 4, 1, 8}},
                                 {"act_type", "relu"}}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "mininetv2"}, {"num_classes", 19}, {"act_type", "mish"}}); },
      {"mininetv2", "act_type", "mish"}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "mininetv2"}, {"num_classes", 19}, {"num_class", 19}}); },
      {"mininetv2", "num_class"}));
}

// 100x200 is 50x100 after the stem: the skips of the decoder would not meet.
TEST(MiniNetv2Golden, RejectsSizesWhoseSkipsCannotMeet) {
  auto net = nn::create_net({{"name", "mininetv2"}, {"num_classes", 19}});
  net->eval();
  const Tensor x = cudaseg::testing::randn({1, 3, 100, 200}, 1, DType::f32);
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([&] { (*net)(x); }, {"MiniNetv2", "even"}));
}

// One block per feat_dt entry at 1/8; only dilations above 1 add the dilated branch.
TEST(MiniNetv2Golden, FeatDtGivesTheBlocksAtOneEighth) {
  auto net = nn::create_net({{"name", "mininetv2"}, {"num_classes", 19}, {"feat_dt", {1, 3}}});
  const std::map<std::string, Tensor> state = golden::state_map(*net);
  EXPECT_TRUE(state.count("feature_extractor.1.ddw_conv.0.weight"));
  EXPECT_FALSE(state.count("feature_extractor.0.ddw_conv.0.weight"));
  EXPECT_FALSE(state.count("feature_extractor.2.dw_conv.0.weight"));
  net->eval();
  const Tensor y = (*net)(cudaseg::testing::randn({1, 3, 64, 64}, 2, DType::f32));
  EXPECT_EQ(y.shape(), (Shape{1, 19, 64, 64}));
}
