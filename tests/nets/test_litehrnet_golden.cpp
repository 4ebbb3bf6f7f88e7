// LiteHRNet (nets/litehrnet.h) against tests/goldens/litehrnet.json: upstream
// zh320 LiteHRNet(num_class=19) (litehrnet18), det-filled parameters, at
// 64x128 and 96x160 (the net takes multiples of 32; at 96x160 the stride-32
// stream is 3x5, odd on both sides); litehrnet30.json checks the deeper
// arch_type's state_dict and eval logits at 64x128.
#include <gtest/gtest.h>

#include <map>

#include "common/golden.h"
#include "common/testing.h"
#include "nets/litehrnet.h"
#include "nn/registry.h"

using namespace cudaseg;
namespace golden = cudaseg::testing::golden;

namespace {

const golden::Golden& litehrnet_golden() {
  static const golden::Golden g = golden::Golden::load("litehrnet");
  return g;
}

}  // namespace

TEST(LiteHRNetGolden, StateDictEqualsUpstream) {
  const auto& g = litehrnet_golden();
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
}

TEST(LiteHRNetGolden, EvalLogits) {
  const auto& g = litehrnet_golden();
  ASSERT_EQ(g.num_cases(), 2u);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i));
}

TEST(LiteHRNetGolden, LiteHRNet30StateDictAndEvalLogits) {
  const auto g = golden::Golden::load("litehrnet30");
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
  ASSERT_EQ(g.num_cases(), 1u);
  EXPECT_TRUE(golden::check_eval(g, 0));
}

// The backward against the float64 golden, at batch 4: in float32 train-mode
// BatchNorm leaves the gradients too noisy, and at batch 2 the spatial weights'
// BatchNorm on 1x1 maps sees two values per channel, whose input gradient
// cancels to about eps / var and turns 1e-12 rounding differences into 1e-8
// (tests/goldens/README.md).
TEST(LiteHRNetGolden, TrainStepFloat64) {
  const auto g = golden::Golden::load("litehrnet_f64");
  ASSERT_EQ(g.dtype(), DType::f64);
  for (size_t i = 0; i < g.num_cases(); ++i)
    EXPECT_TRUE(golden::check_train_step(g, i, golden::main_only_loss(), {}, golden::float64_tolerances()));
}

TEST(LiteHRNetGolden, WrongNetLoadNamesTheNetAndTensors) {
  auto litehrnet = nn::create_net({{"name", "litehrnet"}, {"num_classes", 19}});
  auto other = nn::create_net({{"name", "fastscnn"}, {"num_classes", 19}});
  const std::map<std::string, Tensor> state = golden::state_map(*other);
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { litehrnet->load_state_dict(state); },
      {"LiteHRNet", "missing", "stage4.stage_blocks.5.stream4.0.0.0.weight", "unexpected",
       "global_feature_extractor.ppm.conv.0.bias"}));
}

TEST(LiteHRNetGolden, RegistryArgumentsAreUpstreams) {
  const nn::Json resolved = nn::resolve_model_config({{"name", "litehrnet"}, {"num_classes", 19}});
  EXPECT_EQ(resolved, (nn::Json{{"name", "litehrnet"},
                                {"num_classes", 19},
                                {"n_channel", 3},
                                {"base_ch", 40},
                                {"arch_type", "litehrnet18"},
                                {"repeat", 2},
                                {"act_type", "relu"}}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "litehrnet"}, {"num_classes", 19}, {"arch_type", "litehrnet50"}}); },
      {"litehrnet", "arch_type", "litehrnet50"}));
}

TEST(LiteHRNetGolden, RefusesSizesNotMultipleOf32) {
  auto net = nn::create_net({{"name", "litehrnet"}, {"num_classes", 19}});
  net->eval();
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([&] { net->forward(Tensor::zeros({1, 3, 80, 96})); },
                                                  {"LiteHRNet", "multiples of 32"}));
}
