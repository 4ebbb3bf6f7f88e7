// DFANet (nets/dfanet.h) against tests/goldens/dfanet.json: upstream zh320
// DFANet(num_class=19), det-filled parameters, at 64x128 and 128x192 (with
// the extra backbones the net takes multiples of 64 only).
#include <gtest/gtest.h>

#include <map>

#include "common/golden.h"
#include "common/testing.h"
#include "nets/dfanet.h"
#include "nn/registry.h"

using namespace cudaseg;
namespace golden = cudaseg::testing::golden;

namespace {

const golden::Golden& dfanet_golden() {
  static const golden::Golden g = golden::Golden::load("dfanet");
  return g;
}

}  // namespace

TEST(DFANetGolden, StateDictEqualsUpstream) {
  const auto& g = dfanet_golden();
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
}

TEST(DFANetGolden, EvalLogits) {
  const auto& g = dfanet_golden();
  ASSERT_EQ(g.num_cases(), 2u);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i));
}

// The backward against the float64 golden, at batch 4: in float32 train-mode
// BatchNorm leaves the gradients too noisy, and at batch 2 the FCAttention's
// BatchNorm on 1x1 maps sees two values per channel, whose input gradient
// cancels to about eps / var and turns 1e-12 rounding differences into 1e-8
// (tests/goldens/README.md).
TEST(DFANetGolden, TrainStepFloat64) {
  const auto g = golden::Golden::load("dfanet_f64");
  ASSERT_EQ(g.dtype(), DType::f64);
  for (size_t i = 0; i < g.num_cases(); ++i)
    EXPECT_TRUE(golden::check_train_step(g, i, golden::main_only_loss(), {}, golden::float64_tolerances()));
}

TEST(DFANetGolden, WrongNetLoadNamesTheNetAndTensors) {
  auto dfanet = nn::create_net({{"name", "dfanet"}, {"num_classes", 19}});
  auto other = nn::create_net({{"name", "fastscnn"}, {"num_classes", 19}});
  const std::map<std::string, Tensor> state = golden::state_map(*other);
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { dfanet->load_state_dict(state); },
      {"DFANet", "missing", "backbone2.fc_attention.linear.weight", "unexpected",
       "global_feature_extractor.ppm.conv.0.bias"}));
}

TEST(DFANetGolden, RegistryArgumentsAreUpstreams) {
  const nn::Json resolved = nn::resolve_model_config({{"name", "dfanet"}, {"num_classes", 19}});
  EXPECT_EQ(resolved, (nn::Json{{"name", "dfanet"},
                                {"num_classes", 19},
                                {"n_channel", 3},
                                {"backbone_type", "XceptionA"},
                                {"expansion", 4},
                                {"repeat_times", {4, 6, 4}},
                                {"use_extra_backbone", true},
                                {"act_type", "relu"}}));
  // Upstream passes inplace=True to the activation, which nn.PReLU refuses.
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "dfanet"}, {"num_classes", 19}, {"act_type", "prelu"}}); },
      {"dfanet", "act_type", "prelu"}));
}

// XceptionB narrows the encoder, and without the extra backbones a single
// SegHead on the first backbone's attention output replaces the decoder.
TEST(DFANetGolden, XceptionBWithoutExtraBackbones) {
  auto net = nn::create_net(
      {{"name", "dfanet"}, {"num_classes", 5}, {"backbone_type", "XceptionB"}, {"use_extra_backbone", false}});
  const auto state = golden::state_map(*net);
  EXPECT_EQ(state.at("backbone1.enc4.conv.0.conv_stride.weight").shape(), (Shape{128, 64, 1, 1}));
  EXPECT_EQ(state.at("seg_head.1.weight").shape(), (Shape{5, 128, 1, 1}));
  EXPECT_EQ(state.count("backbone2.enc2.conv.0.conv_stride.weight"), 0u);
  net->eval();
  const Tensor y = net->forward(Tensor::zeros({1, 3, 32, 48}));
  EXPECT_EQ(y.shape(), (Shape{1, 5, 32, 48}));
}

TEST(DFANetGolden, ExtraBackbonesRefuseSizesNotMultipleOf64) {
  auto net = nn::create_net({{"name", "dfanet"}, {"num_classes", 19}});
  net->eval();
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([&] { net->forward(Tensor::zeros({1, 3, 96, 128})); },
                                                  {"DFANet", "multiples of 64"}));
}
