// LinkNet (nets/linknet.h) against tests/goldens/linknet.json: upstream zh320
// LinkNet(num_class=19) with its default torchvision resnet18 encoder (built
// without downloading, random init, see tools/goldens/upstream.py),
// det-filled parameters, at 64x128 and 96x160 (not square; multiples of 32,
// as the additive skips need), and linknet_resnet50.json: the Bottleneck
// encoder (channels 256..2048) at 64x96, eval only.
#include <gtest/gtest.h>

#include <map>

#include "common/golden.h"
#include "common/testing.h"
#include "nets/linknet.h"
#include "nn/registry.h"

using namespace cudaseg;
namespace golden = cudaseg::testing::golden;

namespace {

const golden::Golden& linknet_golden() {
  static const golden::Golden g = golden::Golden::load("linknet");
  return g;
}

}  // namespace

TEST(LinkNetGolden, StateDictEqualsUpstream) {
  const auto& g = linknet_golden();
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
}

TEST(LinkNetGolden, EvalLogits) {
  const auto& g = linknet_golden();
  ASSERT_EQ(g.num_cases(), 2u);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i));
}

// The backward against the float64 golden: train-mode BatchNorm over the 2x4
// (batch 2) maps of layer4 and dec_block4 makes the float32 step ill-conditioned.
TEST(LinkNetGolden, TrainStepFloat64) {
  const auto g = golden::Golden::load("linknet_f64");
  ASSERT_EQ(g.dtype(), DType::f64);
  for (size_t i = 0; i < g.num_cases(); ++i)
    EXPECT_TRUE(golden::check_train_step(g, i, golden::main_only_loss(), {}, golden::float64_tolerances()));
}

TEST(LinkNetGolden, ResNet50EncoderStateDictAndEvalLogits) {
  const auto g = golden::Golden::load("linknet_resnet50");
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
  ASSERT_EQ(g.num_cases(), 1u);
  EXPECT_TRUE(golden::check_eval(g, 0));
}

TEST(LinkNetGolden, WrongNetLoadNamesTheNetAndTensors) {
  auto linknet = nn::create_net({{"name", "linknet"}, {"num_classes", 19}});
  auto other = nn::create_net({{"name", "fastscnn"}, {"num_classes", 19}});
  const std::map<std::string, Tensor> state = golden::state_map(*other);
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { linknet->load_state_dict(state); },
      {"LinkNet", "missing", "dec_block4.full_conv.up_conv.0.weight", "unexpected", "classifier.2.0.weight"}));
}

TEST(LinkNetGolden, RegistryArgumentsAreUpstreams) {
  const nn::Json resolved = nn::resolve_model_config({{"name", "linknet"}, {"num_classes", 19}});
  EXPECT_EQ(resolved, (nn::Json{{"name", "linknet"},
                                {"num_classes", 19},
                                {"n_channel", 3},
                                {"backbone_type", "resnet18"},
                                {"act_type", "relu"}}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "linknet"}, {"num_classes", 19}, {"backbone_type", "mobilenet_v2"}}); },
      {"linknet", "backbone_type", "mobilenet_v2"}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "linknet"}, {"num_classes", 19}, {"pretrained", true}}); },
      {"linknet", "pretrained"}));
}
