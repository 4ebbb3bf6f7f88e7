// FastSCNN (nets/fastscnn.h) against tests/goldens/fastscnn.json: upstream
// zh320 FastSCNN(num_class=19), det-filled parameters; the second size
// (100x200) is not a multiple of 8, exercising the strided convs' floor rules
// and adaptive pooling to more cells than the stride-32 map has.
#include <gtest/gtest.h>

#include <map>

#include "common/golden.h"
#include "common/testing.h"
#include "nets/fastscnn.h"
#include "nn/registry.h"

using namespace cudaseg;
namespace golden = cudaseg::testing::golden;

namespace {

const golden::Golden& fastscnn_golden() {
  static const golden::Golden g = golden::Golden::load("fastscnn");
  return g;
}

}  // namespace

TEST(FastSCNNGolden, StateDictEqualsUpstream) {
  const auto& g = fastscnn_golden();
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
}

TEST(FastSCNNGolden, EvalLogits) {
  const auto& g = fastscnn_golden();
  ASSERT_EQ(g.num_cases(), 2u);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i));
}


// The backward against the float64 golden: float32 gradient norms of the
// train-mode step carry up to 2e-3 of rounding noise (PyTorch float32 vs
// float64 at 100x200), too much for a 1e-4 comparison.
TEST(FastSCNNGolden, TrainStepFloat64) {
  const auto g = golden::Golden::load("fastscnn_f64");
  ASSERT_EQ(g.dtype(), DType::f64);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_train_step(g, i, golden::main_only_loss()));
}

TEST(FastSCNNGolden, WrongNetLoadNamesTheNetAndTensors) {
  auto fastscnn = nn::create_net({{"name", "fastscnn"}, {"num_classes", 19}});
  auto other = nn::create_net({{"name", "bisenetv2"}, {"num_classes", 19}});
  const std::map<std::string, Tensor> state = golden::state_map(*other);
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { fastscnn->load_state_dict(state); },
      {"FastSCNN", "missing", "global_feature_extractor.ppm.conv.0.bias", "unexpected", "bga_layer.conv_last.0.weight"}));
}

TEST(FastSCNNGolden, RegistryArgumentsAreUpstreams) {
  const nn::Json resolved = nn::resolve_model_config({{"name", "fastscnn"}, {"num_classes", 19}});
  EXPECT_EQ(resolved, (nn::Json{{"name", "fastscnn"}, {"num_classes", 19}, {"act_type", "relu"}, {"n_channel", 3}}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "fastscnn"}, {"num_classes", 19}, {"act_type", "mish"}}); },
      {"fastscnn", "act_type", "mish"}));
}
