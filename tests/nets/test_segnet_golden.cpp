// SegNet (nets/segnet.h) against tests/goldens/segnet.json: upstream zh320
// SegNet(num_class=19), det-filled parameters; the second size (96x160) is
// non-square with odd 1/32 maps (SegNet takes multiples of 32 only).
#include <gtest/gtest.h>

#include <map>

#include "common/golden.h"
#include "common/testing.h"
#include "nets/segnet.h"
#include "nn/registry.h"
#include "runtime/tensor.h"

using namespace cudaseg;
namespace golden = cudaseg::testing::golden;

namespace {

const golden::Golden& segnet_golden() {
  static const golden::Golden g = golden::Golden::load("segnet");
  return g;
}

}  // namespace

TEST(SegNetGolden, StateDictEqualsUpstream) {
  const auto& g = segnet_golden();
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
}

TEST(SegNetGolden, EvalLogits) {
  const auto& g = segnet_golden();
  ASSERT_EQ(g.num_cases(), 2u);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i));
}

// The backward against the float64 golden, as every net's (tests/goldens/README.md).
TEST(SegNetGolden, TrainStepFloat64) {
  const auto g = golden::Golden::load("segnet_f64");
  ASSERT_EQ(g.dtype(), DType::f64);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_train_step(g, i, golden::main_only_loss()));
}

TEST(SegNetGolden, WrongNetLoadNamesTheNetAndTensors) {
  auto segnet = nn::create_net({{"name", "segnet"}, {"num_classes", 19}});
  auto other = nn::create_net({{"name", "fastscnn"}, {"num_classes", 19}});
  const std::map<std::string, Tensor> state = golden::state_map(*other);
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { segnet->load_state_dict(state); },
      {"SegNet", "missing", "up_stage5.conv.2.1.running_var", "unexpected", "learning_to_downsample.0.0.weight"}));
}

TEST(SegNetGolden, RegistryArgumentsAreUpstreams) {
  const nn::Json resolved = nn::resolve_model_config({{"name", "segnet"}, {"num_classes", 19}});
  EXPECT_EQ(resolved, (nn::Json{{"name", "segnet"},
                                {"num_classes", 19},
                                {"n_channel", 3},
                                {"hid_channel", 64},
                                {"act_type", "relu"}}));
  // Upstream builds its ConvBNActs with inplace=True, which nn.PReLU refuses.
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "segnet"}, {"num_classes", 19}, {"act_type", "prelu"}}); },
      {"segnet", "act_type", "prelu"}));
}

TEST(SegNetGolden, HidChannelSetsEveryStageWidth) {
  auto net = nn::create_net({{"name", "segnet"}, {"num_classes", 5}, {"hid_channel", 8}});
  const std::map<std::string, Tensor> state = golden::state_map(*net);
  EXPECT_EQ(state.at("down_stage1.conv.0.0.weight").shape(), (Shape{8, 3, 3, 3}));
  EXPECT_EQ(state.at("down_stage5.conv.2.0.weight").shape(), (Shape{64, 64, 3, 3}));
  EXPECT_EQ(state.at("up_stage3.conv.2.0.weight").shape(), (Shape{16, 32, 3, 3}));
  EXPECT_EQ(state.at("up_stage1.conv.1.0.weight").shape(), (Shape{8, 8, 3, 3}));
  EXPECT_EQ(state.at("classifier.0.weight").shape(), (Shape{5, 8, 3, 3}));
}

// Upstream fails inside MaxUnpool2d when a pooled map is odd; cudaseg
// refuses such sizes up front, naming the rule.
TEST(SegNetGolden, RefusesSizesThatCannotUnpool) {
  auto net = nn::create_net({{"name", "segnet"}, {"num_classes", 19}, {"hid_channel", 4}});
  net->eval();
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([&] { net->forward(Tensor::zeros({1, 3, 80, 96})); },
                                                  {"SegNet", "multiples of 32"}));
}
