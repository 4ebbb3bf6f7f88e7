// ShelfNet (nets/shelfnet.h) against tests/goldens/shelfnet.json: upstream
// zh320 ShelfNet(num_class=19) with its default torchvision resnet18
// backbone (built without downloading, random init, see
// tools/goldens/upstream.py), det-filled parameters, at 64x128 and 96x160
// (not square; multiples of 32, as each decoder's additions of 2x
// transposed-conv outputs need).
#include <gtest/gtest.h>

#include <map>

#include "common/golden.h"
#include "common/testing.h"
#include "nets/shelfnet.h"
#include "nn/registry.h"

using namespace cudaseg;
namespace golden = cudaseg::testing::golden;

namespace {

const golden::Golden& shelfnet_golden() {
  static const golden::Golden g = golden::Golden::load("shelfnet");
  return g;
}

}  // namespace

TEST(ShelfNetGolden, StateDictEqualsUpstream) {
  const auto& g = shelfnet_golden();
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
}

TEST(ShelfNetGolden, EvalLogits) {
  const auto& g = shelfnet_golden();
  ASSERT_EQ(g.num_cases(), 2u);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i));
}

// The backward against the float64 golden, as for every net on the
// torchvision backbones: train-mode BatchNorm over the 2x4 stride-32 row
// (16 values per channel at batch 2) makes the float32 step ill-conditioned.
TEST(ShelfNetGolden, TrainStepFloat64) {
  const auto g = golden::Golden::load("shelfnet_f64");
  ASSERT_EQ(g.dtype(), DType::f64);
  for (size_t i = 0; i < g.num_cases(); ++i)
    EXPECT_TRUE(golden::check_train_step(g, i, golden::main_only_loss(), {}, golden::float64_tolerances()));
}

TEST(ShelfNetGolden, RefusesInputsWhoseStagesAreNotTwoApart) {
  auto net = nn::create_net({{"name", "shelfnet"}, {"num_classes", 19}});
  net->eval();
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([&] { net->forward(Tensor::zeros({1, 3, 64, 88})); },
                                                  {"ShelfNet", "[1, 3, 64, 88]", "not 2x apart"}));
}

TEST(ShelfNetGolden, WrongNetLoadNamesTheNetAndTensors) {
  auto shelfnet = nn::create_net({{"name", "shelfnet"}, {"num_classes", 19}});
  auto other = nn::create_net({{"name", "linknet"}, {"num_classes", 19}});
  const std::map<std::string, Tensor> state = golden::state_map(*other);
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { shelfnet->load_state_dict(state); },
      {"ShelfNet", "missing", "encoder3.block_B.conv2.1.running_var", "unexpected", "dec_block4.conv1.0.weight"}));
}

TEST(ShelfNetGolden, RegistryArgumentsAreUpstreams) {
  const nn::Json resolved = nn::resolve_model_config({{"name", "shelfnet"}, {"num_classes", 19}});
  EXPECT_EQ(resolved, (nn::Json{{"name", "shelfnet"},
                                {"num_classes", 19},
                                {"n_channel", 3},
                                {"backbone_type", "resnet18"},
                                {"hid_channels", {32, 64, 128, 256}},
                                {"act_type", "relu"}}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "shelfnet"}, {"num_classes", 19}, {"backbone_type", "mobilenet_v2"}}); },
      {"shelfnet", "backbone_type", "mobilenet_v2"}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "shelfnet"}, {"num_classes", 19}, {"hid_channels", {32, 64, 128}}}); },
      {"ShelfNet", "hid_channels", "3 values"}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "shelfnet"}, {"num_classes", 19}, {"pretrained", true}}); },
      {"shelfnet", "pretrained"}));
}
