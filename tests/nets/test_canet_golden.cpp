// CANet (nets/canet.h) against tests/goldens/canet.json: upstream zh320
// CANet(num_class=19) with its default MobileNetV2 encoder (built without
// downloading, random init, see tools/goldens/upstream.py), det-filled
// parameters, at 64x128 and 96x160 (not square; multiples of 32, as the
// context branch's concatenation needs), and canet_resnet18.json: the
// torchvision ResNet-18 encoder at 64x96, eval only.
#include <gtest/gtest.h>

#include <map>

#include "common/golden.h"
#include "common/testing.h"
#include "nets/canet.h"
#include "nn/registry.h"

using namespace cudaseg;
namespace golden = cudaseg::testing::golden;

namespace {

const golden::Golden& canet_golden() {
  static const golden::Golden g = golden::Golden::load("canet");
  return g;
}

}  // namespace

TEST(CANetGolden, StateDictEqualsUpstream) {
  const auto& g = canet_golden();
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
}

TEST(CANetGolden, EvalLogits) {
  const auto& g = canet_golden();
  ASSERT_EQ(g.num_cases(), 2u);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i));
}

// The backward against the float64 golden, as for every net here: the
// context branch's stride-32 map is 2x4 (3x5) at these sizes, so its
// train-mode BatchNorms see 16 (30) values per channel.
TEST(CANetGolden, TrainStepFloat64) {
  const auto g = golden::Golden::load("canet_f64");
  ASSERT_EQ(g.dtype(), DType::f64);
  for (size_t i = 0; i < g.num_cases(); ++i)
    EXPECT_TRUE(golden::check_train_step(g, i, golden::main_only_loss(), {}, golden::float64_tolerances()));
}

TEST(CANetGolden, ResNet18EncoderStateDictAndEvalLogits) {
  const auto g = golden::Golden::load("canet_resnet18");
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
  ASSERT_EQ(g.num_cases(), 1u);
  EXPECT_TRUE(golden::check_eval(g, 0));
}

TEST(CANetGolden, WrongNetLoadNamesTheNetAndTensors) {
  auto canet = nn::create_net({{"name", "canet"}, {"num_classes", 19}});
  auto other = nn::create_net({{"name", "swiftnet"}, {"num_classes", 19}});
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { canet->load_state_dict(golden::state_map(*other)); },
      {"CANet", "missing", "fca.ca.fc.weight", "unexpected", "decoder.up_stage3.0.weight"}));
}

TEST(CANetGolden, RegistryArgumentsAreUpstreams) {
  const nn::Json resolved = nn::resolve_model_config({{"name", "canet"}, {"num_classes", 19}});
  EXPECT_EQ(resolved, (nn::Json{{"name", "canet"},
                                {"num_classes", 19},
                                {"n_channel", 3},
                                {"backbone_type", "mobilenet_v2"},
                                {"act_type", "relu"}}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "canet"}, {"num_classes", 19}, {"backbone_type", "mobilenet_v3"}}); },
      {"canet", "backbone_type", "mobilenet_v3"}));
  // upstream builds the spatial branch with inplace=True, which nn.PReLU refuses
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "canet"}, {"num_classes", 19}, {"act_type", "prelu"}}); },
      {"canet", "act_type", "prelu"}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "canet"}, {"num_classes", 19}, {"pretrained", true}}); },
      {"canet", "pretrained"}));
}

TEST(CANetGolden, RejectsSizesNotMultipleOf32) {
  auto net = nn::create_net({{"name", "canet"}, {"num_classes", 19}});
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([&] { net->forward(Tensor::zeros({1, 3, 48, 64})); },
                                                  {"CANet", "multiples of 32"}));
}
