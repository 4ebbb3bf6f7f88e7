// ICNet (nets/icnet.h) against tests/goldens/icnet_aux.json: upstream zh320
// ICNet(num_class=19, use_aux=True) with its default resnet18 in icnet.py's
// own dilated wrapper (built without downloading, random init, see
// tools/goldens/upstream.py), det-filled parameters, at 64x128 and 96x160
// (not square; multiples of 32, as the cascade's additions need; the 1/4
// branch's pyramid pooling then pools 2x4 and 3x5 maps to 6x6 cells), and
// icnet_resnet50.json: the Bottleneck ResNet-50 without aux heads at 64x96,
// eval only.
#include <gtest/gtest.h>

#include <map>

#include "common/golden.h"
#include "common/testing.h"
#include "nets/icnet.h"
#include "nn/registry.h"

using namespace cudaseg;
namespace golden = cudaseg::testing::golden;

namespace {

const golden::Golden& icnet_golden() {
  static const golden::Golden g = golden::Golden::load("icnet_aux");
  return g;
}

}  // namespace

TEST(ICNetGolden, StateDictEqualsUpstream) {
  const auto& g = icnet_golden();
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
}

TEST(ICNetGolden, EvalLogits) {
  const auto& g = icnet_golden();
  ASSERT_EQ(g.num_cases(), 2u);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i));
}

// The backward against the float64 golden, as for every net here: train-mode
// BatchNorm over the pyramid pooling's 1x1 cells (batch 2: two values per
// channel) makes the float32 step ill-conditioned.
TEST(ICNetGolden, TrainStepWithAuxHeadsFloat64) {
  const auto g = golden::Golden::load("icnet_aux_f64");
  ASSERT_EQ(g.dtype(), DType::f64);
  for (size_t i = 0; i < g.num_cases(); ++i)
    EXPECT_TRUE(golden::check_train_step(g, i, golden::main_plus_aux_loss(), {}, golden::float64_tolerances()));
}

TEST(ICNetGolden, ResNet50StateDictAndEvalLogits) {
  const auto g = golden::Golden::load("icnet_resnet50");
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
  ASSERT_EQ(g.num_cases(), 1u);
  EXPECT_TRUE(golden::check_eval(g, 0));
}

TEST(ICNetGolden, WithoutAuxHasNoHeadsAndOneTrainingOutput) {
  auto net = nn::create_net({{"name", "icnet"}, {"num_classes", 19}, {"use_aux", false}});
  const auto with_aux = icnet_golden().json().at("state_dict").at("entries").size();
  EXPECT_EQ(net->state_dict().size(), with_aux - 2 * 7);  // each SegHead: conv, 5 BatchNorm entries, conv
  for (const auto& [name, t] : net->state_dict()) EXPECT_EQ(name.find("classifier"), std::string::npos) << name;
  const auto outs = net->forward_train(Tensor::zeros({2, 3, 64, 96}));
  ASSERT_EQ(outs.size(), 1u);
  EXPECT_EQ(outs[0].shape(), (Shape{2, 19, 64, 96}));
}

TEST(ICNetGolden, WrongNetLoadNamesTheNetAndTensors) {
  auto icnet = nn::create_net({{"name", "icnet"}, {"num_classes", 19}});
  auto other = nn::create_net({{"name", "swiftnet"}, {"num_classes", 19}});
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { icnet->load_state_dict(golden::state_map(*other)); },
      {"ICNet", "missing", "cff42.conv1.0.weight", "unexpected", "decoder.up_stage3.0.weight"}));
}

TEST(ICNetGolden, RegistryArgumentsAreUpstreams) {
  const nn::Json resolved = nn::resolve_model_config({{"name", "icnet"}, {"num_classes", 19}});
  EXPECT_EQ(resolved, (nn::Json{{"name", "icnet"},
                                {"num_classes", 19},
                                {"n_channel", 3},
                                {"backbone_type", "resnet18"},
                                {"act_type", "relu"},
                                {"use_aux", true}}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "icnet"}, {"num_classes", 19}, {"backbone_type", "resnet152"}}); },
      {"icnet", "backbone_type", "resnet152"}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "icnet"}, {"num_classes", 19}, {"pretrained", true}}); },
      {"icnet", "pretrained"}));
}

TEST(ICNetGolden, RejectsSizesNotMultipleOf32) {
  auto net = nn::create_net({{"name", "icnet"}, {"num_classes", 19}});
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([&] { net->forward(Tensor::zeros({1, 3, 48, 64})); },
                                                  {"ICNet", "multiples of 32"}));
}
