// FarSeeNet (nets/farseenet.h) against tests/goldens/farseenet.json: upstream
// zh320 FarSeeNet(num_class=19) with its default torchvision resnet18
// frontend (built without downloading, random init, see
// tools/goldens/upstream.py), det-filled parameters, at 64x128 and 96x160
// (not square; the 2x PixelShuffle of the stride-32 map must meet the
// stride-16 map, and at 96x160 the dilated depthwise convs (6, 12, 18) reach
// past a 3x5 map's border).
#include <gtest/gtest.h>

#include <map>

#include "common/golden.h"
#include "common/testing.h"
#include "nets/farseenet.h"
#include "nn/registry.h"

using namespace cudaseg;
namespace golden = cudaseg::testing::golden;

namespace {

const golden::Golden& farseenet_golden() {
  static const golden::Golden g = golden::Golden::load("farseenet");
  return g;
}

}  // namespace

TEST(FarSeeNetGolden, StateDictEqualsUpstream) {
  const auto& g = farseenet_golden();
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
}

TEST(FarSeeNetGolden, EvalLogits) {
  const auto& g = farseenet_golden();
  ASSERT_EQ(g.num_cases(), 2u);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i));
}

// The backward against the float64 golden: train-mode BatchNorm over the
// 2x4 stride-32 maps (batch 2: 16 values per channel) makes the float32 step
// ill-conditioned.
TEST(FarSeeNetGolden, TrainStepFloat64) {
  const auto g = golden::Golden::load("farseenet_f64");
  ASSERT_EQ(g.dtype(), DType::f64);
  for (size_t i = 0; i < g.num_cases(); ++i)
    EXPECT_TRUE(golden::check_train_step(g, i, golden::main_only_loss(), {}, golden::float64_tolerances()));
}

TEST(FarSeeNetGolden, RefusesInputsWhoseStride16MapIsNotTwiceTheStride32One) {
  auto net = nn::create_net({{"name", "farseenet"}, {"num_classes", 19}});
  net->eval();
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([&] { net->forward(Tensor::zeros({1, 3, 64, 80})); },
                                                  {"FarSeeNet", "[1, 3, 64, 80]", "stride-16"}));
}

TEST(FarSeeNetGolden, WrongNetLoadNamesTheNetAndTensors) {
  auto farseenet = nn::create_net({{"name", "farseenet"}, {"num_classes", 19}});
  auto other = nn::create_net({{"name", "linknet"}, {"num_classes", 19}});
  const std::map<std::string, Tensor> state = golden::state_map(*other);
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { farseenet->load_state_dict(state); },
      {"FarSeeNet", "missing", "backend_network.conv_high.1.1.0.weight", "unexpected", "dec_block4.conv1.0.weight"}));
}

TEST(FarSeeNetGolden, RegistryArgumentsAreUpstreams) {
  const nn::Json resolved = nn::resolve_model_config({{"name", "farseenet"}, {"num_classes", 19}});
  EXPECT_EQ(resolved, (nn::Json{{"name", "farseenet"},
                                {"num_classes", 19},
                                {"n_channel", 3},
                                {"backbone_type", "resnet18"},
                                {"act_type", "relu"}}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "farseenet"}, {"num_classes", 19}, {"backbone_type", "mobilenet_v2"}}); },
      {"farseenet", "backbone_type", "mobilenet_v2"}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "farseenet"}, {"num_classes", 19}, {"pretrained_backbone", true}}); },
      {"farseenet", "pretrained_backbone"}));
}
