// AGLNet (nets/aglnet.h) against tests/goldens/aglnet.json: upstream zh320
// AGLNet(num_class=19), det-filled parameters, at 64x128 and 96x160 (the
// GAUMs need sizes whose ceil-halvings double back, e.g. multiples of 8).
#include <gtest/gtest.h>

#include <map>

#include "autograd/engine.h"
#include "common/golden.h"
#include "common/testing.h"
#include "nets/aglnet.h"
#include "nn/registry.h"

using namespace cudaseg;
namespace ct = cudaseg::testing;
namespace golden = cudaseg::testing::golden;

namespace {

const golden::Golden& aglnet_golden() {
  static const golden::Golden g = golden::Golden::load("aglnet");
  return g;
}

}  // namespace

TEST(AGLNetGolden, StateDictEqualsUpstream) {
  const auto& g = aglnet_golden();
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
}

TEST(AGLNetGolden, EvalLogits) {
  const auto& g = aglnet_golden();
  ASSERT_EQ(g.num_cases(), 2u);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i));
}

// The backward against the float64 golden: train-mode BatchNorm on the small
// deep maps makes the float32 step ill-conditioned (PyTorch's own float32 step differs from its float64 one by up to 1.5e-3 in gradient norms (96x160)).
TEST(AGLNetGolden, TrainStepFloat64) {
  const auto g = golden::Golden::load("aglnet_f64");
  ASSERT_EQ(g.dtype(), DType::f64);
  for (size_t i = 0; i < g.num_cases(); ++i)
    EXPECT_TRUE(golden::check_train_step(g, i, golden::main_only_loss(), {}, golden::float64_tolerances()));
}

TEST(AGLNetGolden, WrongNetLoadNamesTheNetAndTensors) {
  auto aglnet = nn::create_net({{"name", "aglnet"}, {"num_classes", 19}});
  auto lednet = nn::create_net({{"name", "lednet"}, {"num_classes", 19}});
  const std::map<std::string, Tensor> state = golden::state_map(*lednet);
  EXPECT_TRUE(ct::throws_mentioning([&] { aglnet->load_state_dict(state); },
                                    {"AGLNet", "missing", "layer18.up_conv.0.weight", "unexpected",
                                     "encoder.15.left_branch.0.weight"}));
}

TEST(AGLNetGolden, RegistryArgumentsAreUpstreams) {
  const nn::Json resolved = nn::resolve_model_config({{"name", "aglnet"}, {"num_classes", 19}});
  EXPECT_EQ(resolved, (nn::Json{{"name", "aglnet"}, {"num_classes", 19}, {"n_channel", 3}, {"act_type", "relu"}}));
  EXPECT_TRUE(ct::throws_mentioning(
      [&] { nn::create_net({{"name", "aglnet"}, {"num_classes", 19}, {"act_type", "mish"}}); },
      {"aglnet", "act_type", "mish"}));
}

// 100x200 fails upstream too: layer17's 13x25 map doubles to 26x50, the skip is 25x50.
TEST(AGLNetGolden, SizesThatDoNotDoubleBackAreRefused) {
  auto net = nn::create_net({{"name", "aglnet"}, {"num_classes", 4}});
  net->eval();
  autograd::NoGradGuard no_grad;
  const Tensor x = ct::randn({1, 3, 100, 200}, 1, DType::f32);
  EXPECT_TRUE(ct::throws_mentioning([&] { net->forward(x); }, {"AGLNet GAUM", "[1, 64, 26, 50]", "[1, 64, 25, 50]"}));
}
