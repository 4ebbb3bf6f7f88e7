// CGNet (nets/cgnet.h) against tests/goldens/cgnet.json: upstream zh320
// CGNet(num_class=19), det-filled parameters, at 64x128 and 96x160 (upstream
// needs multiples of 8: its input pyramid is a floor-sized scale_factor resize).
#include <gtest/gtest.h>

#include <map>

#include "autograd/engine.h"
#include "common/golden.h"
#include "common/testing.h"
#include "nets/cgnet.h"
#include "nn/registry.h"

using namespace cudaseg;
namespace golden = cudaseg::testing::golden;

namespace {

const golden::Golden& cgnet_golden() {
  static const golden::Golden g = golden::Golden::load("cgnet");
  return g;
}

}  // namespace

TEST(CGNetGolden, StateDictEqualsUpstream) {
  const auto& g = cgnet_golden();
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
}

TEST(CGNetGolden, EvalLogits) {
  const auto& g = cgnet_golden();
  ASSERT_EQ(g.num_cases(), 2u);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i));
}

// The backward against the float64 golden: train-mode BatchNorm over the
// narrow branches makes PyTorch's own float32 gradients (PReLU slopes above
// all) differ from its float64 ones by more than a 1e-4 comparison allows.
TEST(CGNetGolden, TrainStepFloat64) {
  const auto g = golden::Golden::load("cgnet_f64");
  ASSERT_EQ(g.dtype(), DType::f64);
  for (size_t i = 0; i < g.num_cases(); ++i)
    EXPECT_TRUE(golden::check_train_step(g, i, golden::main_only_loss(), {}, golden::float64_tolerances()));
}

TEST(CGNetGolden, WrongNetLoadNamesTheNetAndTensors) {
  auto cgnet = nn::create_net({{"name", "cgnet"}, {"num_classes", 19}});
  auto other = nn::create_net({{"name", "fastscnn"}, {"num_classes", 19}});
  const std::map<std::string, Tensor> state = golden::state_map(*other);
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { cgnet->load_state_dict(state); },
      {"CGNet", "missing", "stage3.13.glo.1.weight", "unexpected", "global_feature_extractor.ppm.conv.0.bias"}));
}

TEST(CGNetGolden, RegistryArgumentsAreUpstreams) {
  const nn::Json resolved = nn::resolve_model_config({{"name", "cgnet"}, {"num_classes", 19}});
  EXPECT_EQ(resolved, (nn::Json{{"name", "cgnet"}, {"num_classes", 19}, {"n_channel", 3}, {"M", 3}, {"N", 15},
                                {"act_type", "prelu"}}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "cgnet"}, {"num_classes", 19}, {"res_type", "LRL"}}); },
      {"cgnet", "res_type"}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "cgnet"}, {"num_classes", 19}, {"M", 1}}); }, {"CGNet", "M (1)"}));
}

// Fewer blocks change only the stage lengths: stage2 holds M - 1 blocks, stage3 N - 1.
TEST(CGNetGolden, BlockCountsFollowMAndN) {
  auto net = nn::create_net({{"name", "cgnet"}, {"num_classes", 4}, {"M", 2}, {"N", 3}});
  const auto sd = net->state_dict();
  auto has = [&](const std::string& key) {
    for (const auto& [name, t] : sd)
      if (name == key) return true;
    return false;
  };
  EXPECT_TRUE(has("stage2.0.conv.weight"));
  EXPECT_FALSE(has("stage2.1.conv.weight"));
  EXPECT_TRUE(has("stage3.1.conv.weight"));
  EXPECT_FALSE(has("stage3.2.conv.weight"));
  autograd::NoGradGuard no_grad;
  net->eval();
  EXPECT_EQ(net->forward(Tensor::zeros({1, 3, 32, 32})).shape(), (Shape{1, 4, 32, 32}));
}
