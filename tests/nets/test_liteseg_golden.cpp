// LiteSeg (nets/liteseg.h) against tests/goldens/liteseg.json: upstream
// zh320 LiteSeg(num_class=19) with its default torchvision MobileNetV2
// encoder (built without downloading, random init, see
// tools/goldens/upstream.py), det-filled parameters, at 64x128 and 100x200
// (not square, and not a multiple of 32: the DASPP output is resized to the
// stride-8 features, 13x25 there, from a 4x7 map), and
// liteseg_resnet18.json: the ResNet-18 encoder at 72x120, eval only.
#include <gtest/gtest.h>

#include <map>

#include "common/golden.h"
#include "common/testing.h"
#include "nets/liteseg.h"
#include "nn/registry.h"

using namespace cudaseg;
namespace golden = cudaseg::testing::golden;

namespace {

const golden::Golden& liteseg_golden() {
  static const golden::Golden g = golden::Golden::load("liteseg");
  return g;
}

}  // namespace

TEST(LiteSegGolden, StateDictEqualsUpstream) {
  const auto& g = liteseg_golden();
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
}

TEST(LiteSegGolden, EvalLogits) {
  const auto& g = liteseg_golden();
  ASSERT_EQ(g.num_cases(), 2u);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i));
}

// The backward against the float64 golden, as for every net on the
// torchvision backbones: train-mode BatchNorm over the 2x4 stride-32 maps
// (16 values per channel at batch 2) in the DASPP makes the float32 step
// ill-conditioned.
TEST(LiteSegGolden, TrainStepFloat64) {
  const auto g = golden::Golden::load("liteseg_f64");
  ASSERT_EQ(g.dtype(), DType::f64);
  for (size_t i = 0; i < g.num_cases(); ++i)
    EXPECT_TRUE(golden::check_train_step(g, i, golden::main_only_loss(), {}, golden::float64_tolerances()));
}

TEST(LiteSegGolden, ResNetEncoderStateDictAndEvalLogits) {
  const auto g = golden::Golden::load("liteseg_resnet18");
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
  ASSERT_EQ(g.num_cases(), 1u);
  EXPECT_TRUE(golden::check_eval(g, 0));
}

TEST(LiteSegGolden, WrongNetLoadNamesTheNetAndTensors) {
  auto liteseg = nn::create_net({{"name", "liteseg"}, {"num_classes", 19}});
  auto other = nn::create_net({{"name", "swiftnet"}, {"num_classes", 19}});
  const std::map<std::string, Tensor> state = golden::state_map(*other);
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { liteseg->load_state_dict(state); },
      {"LiteSeg", "missing", "daspp.stage5.1.weight", "unexpected", "connection1.0.weight"}));
}

TEST(LiteSegGolden, RegistryArgumentsAreUpstreams) {
  const nn::Json resolved = nn::resolve_model_config({{"name", "liteseg"}, {"num_classes", 19}});
  EXPECT_EQ(resolved, (nn::Json{{"name", "liteseg"},
                                {"num_classes", 19},
                                {"n_channel", 3},
                                {"backbone_type", "mobilenet_v2"},
                                {"act_type", "relu"}}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "liteseg"}, {"num_classes", 19}, {"backbone_type", "mobilenet_v3"}}); },
      {"liteseg", "backbone_type", "mobilenet_v3"}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "liteseg"}, {"num_classes", 19}, {"pretrained", true}}); },
      {"liteseg", "pretrained"}));
}
