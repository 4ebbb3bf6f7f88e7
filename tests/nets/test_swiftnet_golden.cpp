// SwiftNet (nets/swiftnet.h) against tests/goldens/swiftnet.json: upstream
// zh320 SwiftNet(num_class=19) with its default torchvision resnet18 encoder
// (built without downloading, random init, see tools/goldens/upstream.py),
// det-filled parameters, at 64x128 and 96x160 (not square; multiples of 32,
// as the ladder's additions need; the pyramid pooling then pools 2x4 and 3x5
// maps to 6x6 cells), and swiftnet_mobilenet_v2.json: the MobileNetV2
// encoder at 64x96, eval only.
#include <gtest/gtest.h>

#include <map>

#include "common/golden.h"
#include "common/testing.h"
#include "nets/swiftnet.h"
#include "nn/registry.h"

using namespace cudaseg;
namespace golden = cudaseg::testing::golden;

namespace {

const golden::Golden& swiftnet_golden() {
  static const golden::Golden g = golden::Golden::load("swiftnet");
  return g;
}

}  // namespace

TEST(SwiftNetGolden, StateDictEqualsUpstream) {
  const auto& g = swiftnet_golden();
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
}

TEST(SwiftNetGolden, EvalLogits) {
  const auto& g = swiftnet_golden();
  ASSERT_EQ(g.num_cases(), 2u);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i));
}

// The backward against the float64 golden: train-mode BatchNorm over the
// pyramid pooling's 1x1 cells (batch 2: two values per channel) makes the
// float32 step ill-conditioned.
TEST(SwiftNetGolden, TrainStepFloat64) {
  const auto g = golden::Golden::load("swiftnet_f64");
  ASSERT_EQ(g.dtype(), DType::f64);
  for (size_t i = 0; i < g.num_cases(); ++i)
    EXPECT_TRUE(golden::check_train_step(g, i, golden::main_only_loss(), {}, golden::float64_tolerances()));
}

TEST(SwiftNetGolden, MobileNetV2EncoderStateDictAndEvalLogits) {
  const auto g = golden::Golden::load("swiftnet_mobilenet_v2");
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
  ASSERT_EQ(g.num_cases(), 1u);
  EXPECT_TRUE(golden::check_eval(g, 0));
}

TEST(SwiftNetGolden, WrongNetLoadNamesTheNetAndTensors) {
  auto swiftnet = nn::create_net({{"name", "swiftnet"}, {"num_classes", 19}});
  auto other = nn::create_net({{"name", "linknet"}, {"num_classes", 19}});
  const std::map<std::string, Tensor> state = golden::state_map(*other);
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { swiftnet->load_state_dict(state); },
      {"SwiftNet", "missing", "decoder.up_stage3.0.weight", "unexpected", "dec_block4.conv1.0.weight"}));
}

TEST(SwiftNetGolden, RegistryArgumentsAreUpstreams) {
  const nn::Json resolved = nn::resolve_model_config({{"name", "swiftnet"}, {"num_classes", 19}});
  EXPECT_EQ(resolved, (nn::Json{{"name", "swiftnet"},
                                {"num_classes", 19},
                                {"n_channel", 3},
                                {"backbone_type", "resnet18"},
                                {"up_channels", 128},
                                {"act_type", "relu"}}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "swiftnet"}, {"num_classes", 19}, {"backbone_type", "mobilenet_v3"}}); },
      {"swiftnet", "backbone_type", "mobilenet_v3"}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "swiftnet"}, {"num_classes", 19}, {"pretrained", true}}); },
      {"swiftnet", "pretrained"}));
}
