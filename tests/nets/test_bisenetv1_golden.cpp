// BiSeNetv1 (nets/bisenetv1.h) against tests/goldens/bisenetv1.json:
// upstream zh320 BiSeNetv1(num_class=19) with its default torchvision
// resnet18 context path (built without downloading, random init, see
// tools/goldens/upstream.py), det-filled parameters, at 64x128 and 96x160
// (not square; multiples of 32, as the context path's additions and the
// concatenation with the spatial path need), and bisenetv1_resnet50.json:
// the Bottleneck context path (ARMs on 1024 and 2048 channels) at 64x96, eval only.
#include <gtest/gtest.h>

#include <map>

#include "common/golden.h"
#include "common/testing.h"
#include "nets/bisenetv1.h"
#include "nn/registry.h"

using namespace cudaseg;
namespace golden = cudaseg::testing::golden;

namespace {

const golden::Golden& bisenetv1_golden() {
  static const golden::Golden g = golden::Golden::load("bisenetv1");
  return g;
}

}  // namespace

TEST(BiSeNetv1Golden, StateDictEqualsUpstream) {
  const auto& g = bisenetv1_golden();
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
}

TEST(BiSeNetv1Golden, EvalLogits) {
  const auto& g = bisenetv1_golden();
  ASSERT_EQ(g.num_cases(), 2u);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i));
}

// The backward against the float64 golden: the ARMs' train-mode BatchNorm
// normalises a broadcast global average (two distinct values per channel at
// batch 2), which makes the float32 step ill-conditioned. The golden's
// running variances after the step also check that the ARM's BatchNorm sees
// the expanded N x H x W values (its unbiased variance counts them all).
TEST(BiSeNetv1Golden, TrainStepFloat64) {
  const auto g = golden::Golden::load("bisenetv1_f64");
  ASSERT_EQ(g.dtype(), DType::f64);
  for (size_t i = 0; i < g.num_cases(); ++i)
    EXPECT_TRUE(golden::check_train_step(g, i, golden::main_only_loss(), {}, golden::float64_tolerances()));
}

TEST(BiSeNetv1Golden, ResNet50ContextPathStateDictAndEvalLogits) {
  const auto g = golden::Golden::load("bisenetv1_resnet50");
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
  ASSERT_EQ(g.num_cases(), 1u);
  EXPECT_TRUE(golden::check_eval(g, 0));
}

TEST(BiSeNetv1Golden, WrongNetLoadNamesTheNetAndTensors) {
  auto bisenetv1 = nn::create_net({{"name", "bisenetv1"}, {"num_classes", 19}});
  auto other = nn::create_net({{"name", "bisenetv2"}, {"num_classes", 19}});
  const std::map<std::string, Tensor> state = golden::state_map(*other);
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { bisenetv1->load_state_dict(state); },
      {"BiSeNetv1", "missing", "context_path.arm_32.conv.1.running_var", "unexpected",
       "bga_layer.conv_last.0.weight"}));
}

TEST(BiSeNetv1Golden, RegistryArgumentsAreUpstreams) {
  const nn::Json resolved = nn::resolve_model_config({{"name", "bisenetv1"}, {"num_classes", 19}});
  EXPECT_EQ(resolved, (nn::Json{{"name", "bisenetv1"},
                                {"num_classes", 19},
                                {"n_channel", 3},
                                {"backbone_type", "resnet18"},
                                {"act_type", "relu"}}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "bisenetv1"}, {"num_classes", 19}, {"backbone_type", "mobilenet_v2"}}); },
      {"bisenetv1", "backbone_type", "mobilenet_v2"}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "bisenetv1"}, {"num_classes", 19}, {"use_aux", true}}); },
      {"bisenetv1", "use_aux"}));
}
