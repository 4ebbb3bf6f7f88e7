// SQNet (nets/sqnet.h) against tests/goldens/sqnet.json: upstream zh320
// SQNet(num_class=19), det-filled parameters; the second size (96x160) is
// non-square with an odd 1/32 width (upstream takes ceil(H/2) multiples of 8
// only: 100x200 fails there).
#include <gtest/gtest.h>

#include <map>

#include "common/golden.h"
#include "common/testing.h"
#include "nets/sqnet.h"
#include "nn/registry.h"
#include "runtime/tensor.h"

using namespace cudaseg;
namespace golden = cudaseg::testing::golden;

namespace {

const golden::Golden& sqnet_golden() {
  static const golden::Golden g = golden::Golden::load("sqnet");
  return g;
}

}  // namespace

TEST(SQNetGolden, StateDictEqualsUpstream) {
  const auto& g = sqnet_golden();
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
}

TEST(SQNetGolden, EvalLogits) {
  const auto& g = sqnet_golden();
  ASSERT_EQ(g.num_cases(), 2u);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i));
}

// The backward against the float64 golden, as every net's (tests/goldens/README.md).
TEST(SQNetGolden, TrainStepFloat64) {
  const auto g = golden::Golden::load("sqnet_f64");
  ASSERT_EQ(g.dtype(), DType::f64);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_train_step(g, i, golden::main_only_loss()));
}

TEST(SQNetGolden, WrongNetLoadNamesTheNetAndTensors) {
  auto sqnet = nn::create_net({{"name", "sqnet"}, {"num_classes", 19}});
  auto other = nn::create_net({{"name", "fastscnn"}, {"num_classes", 19}});
  const std::map<std::string, Tensor> state = golden::state_map(*other);
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { sqnet->load_state_dict(state); },
      {"SQNet", "missing", "fire3.3.conv_expand3.0.weight", "unexpected", "learning_to_downsample.0.0.weight"}));
}

TEST(SQNetGolden, RegistryArgumentsAreUpstreams) {
  const nn::Json resolved = nn::resolve_model_config({{"name", "sqnet"}, {"num_classes", 19}});
  EXPECT_EQ(resolved, (nn::Json{{"name", "sqnet"}, {"num_classes", 19}, {"act_type", "elu"}, {"n_channel", 3}}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "sqnet"}, {"num_classes", 19}, {"act_type", "mish"}}); },
      {"sqnet", "act_type", "mish"}));
}

// Upstream fails inside a concatenation where the decoder's doubled maps miss
// the skips; cudaseg refuses such sizes up front, naming the rule.
TEST(SQNetGolden, RefusesSizesTheDecoderCannotMatch) {
  auto net = nn::create_net({{"name", "sqnet"}, {"num_classes", 19}});
  net->eval();
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([&] { net->forward(Tensor::zeros({1, 3, 100, 200})); },
                                                  {"SQNet", "multiples of 8"}));
}
