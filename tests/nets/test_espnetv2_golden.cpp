// ESPNetv2 (nets/espnetv2.h) against tests/goldens/espnetv2.json: upstream
// zh320 ESPNetv2(num_class=19), det-filled parameters, at 64x128 and 100x200
// (not a multiple of 8: the image pyramid's and the strided units' floor rules).
#include <gtest/gtest.h>

#include <map>

#include "autograd/engine.h"
#include "common/golden.h"
#include "common/testing.h"
#include "nets/espnetv2.h"
#include "nn/registry.h"

using namespace cudaseg;
namespace golden = cudaseg::testing::golden;

namespace {

const golden::Golden& espnetv2_golden() {
  static const golden::Golden g = golden::Golden::load("espnetv2");
  return g;
}

}  // namespace

TEST(ESPNetv2Golden, StateDictEqualsUpstream) {
  const auto& g = espnetv2_golden();
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
}

TEST(ESPNetv2Golden, EvalLogits) {
  const auto& g = espnetv2_golden();
  ASSERT_EQ(g.num_cases(), 2u);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i));
}

// The backward against the float64 golden: train-mode BatchNorm over the
// narrow branches makes PyTorch's own float32 gradients (PReLU slopes above
// all) differ from its float64 ones by more than a 1e-4 comparison allows.
TEST(ESPNetv2Golden, TrainStepFloat64) {
  const auto g = golden::Golden::load("espnetv2_f64");
  ASSERT_EQ(g.dtype(), DType::f64);
  for (size_t i = 0; i < g.num_cases(); ++i)
    EXPECT_TRUE(golden::check_train_step(g, i, golden::main_only_loss(), {}, golden::float64_tolerances()));
}

TEST(ESPNetv2Golden, WrongNetLoadNamesTheNetAndTensors) {
  auto espnetv2 = nn::create_net({{"name", "espnetv2"}, {"num_classes", 19}});
  auto other = nn::create_net({{"name", "fastscnn"}, {"num_classes", 19}});
  const std::map<std::string, Tensor> state = golden::state_map(*other);
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { espnetv2->load_state_dict(state); },
      {"ESPNetv2", "missing", "l4_block1.conv_stride.1.weight", "unexpected", "classifier.2.0.bias"}));
}

TEST(ESPNetv2Golden, RegistryArgumentsAreUpstreams) {
  const nn::Json resolved = nn::resolve_model_config({{"name", "espnetv2"}, {"num_classes", 19}});
  EXPECT_EQ(resolved, (nn::Json{{"name", "espnetv2"},
                                {"num_classes", 19},
                                {"n_channel", 3},
                                {"K", 4},
                                {"alpha3", 3},
                                {"alpha4", 7},
                                {"act_type", "prelu"}}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "espnetv2"}, {"num_classes", 19}, {"n_channel", 4}}); },
      {"espnetv2", "n_channel"}));
}

// Odd sizes work as upstream: the image pyramid and the strided units both
// follow the 3x3 stride-2 floor rule.
TEST(ESPNetv2Golden, OddSizesKeepTheInputSize) {
  auto net = nn::create_net({{"name", "espnetv2"}, {"num_classes", 4}, {"alpha3", 1}, {"alpha4", 1}});
  autograd::NoGradGuard no_grad;
  net->eval();
  EXPECT_EQ(net->forward(Tensor::zeros({1, 3, 50, 75})).shape(), (Shape{1, 4, 50, 75}));
}
