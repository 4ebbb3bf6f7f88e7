// MiniNet (nets/mininet.h) against tests/goldens/mininet.json: upstream zh320
// MiniNet(num_class=19, SELU), det-filled parameters, at 64x128 and 128x192
// (MiniNet's transposed convs need multiples of 64), the training step with
// Dropout at p = 0 as in the golden.
#include <gtest/gtest.h>

#include <map>

#include "autograd/engine.h"
#include "common/golden.h"
#include "common/testing.h"
#include "nets/mininet.h"
#include "nn/registry.h"

using namespace cudaseg;
namespace ct = cudaseg::testing;
namespace golden = cudaseg::testing::golden;

namespace {

const golden::Json kNoDropout = {{"dropout", false}};

const golden::Golden& mininet_golden() {
  static const golden::Golden g = golden::Golden::load("mininet");
  return g;
}

}  // namespace

TEST(MiniNetGolden, StateDictEqualsUpstream) {
  const auto& g = mininet_golden();
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
  EXPECT_TRUE(golden::state_dict_matches(*g.build(kNoDropout), g));
}

TEST(MiniNetGolden, EvalLogits) {
  const auto& g = mininet_golden();
  ASSERT_EQ(g.num_cases(), 2u);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i));
}

// The backward against the float64 golden: at 128x192 one pre-activation of
// up4.1.conv1's second SELU is 4.3e-7, so float32 rounding decides on which
// side of SELU's kink it falls (slope 1.05 or 1.76); where ours and PyTorch's
// float32 runs fall differently, gradient norms below up4 differ by up to
// 7.6e-4, while the float64 step agrees to 1e-13.
TEST(MiniNetGolden, TrainStepFloat64) {
  const auto g = golden::Golden::load("mininet_f64");
  ASSERT_EQ(g.dtype(), DType::f64);
  for (size_t i = 0; i < g.num_cases(); ++i)
    EXPECT_TRUE(golden::check_train_step(g, i, golden::main_only_loss(), kNoDropout, golden::float64_tolerances()));
}

TEST(MiniNetGolden, WrongNetLoadNamesTheNetAndTensors) {
  auto mininet = nn::create_net({{"name", "mininet"}, {"num_classes", 19}});
  auto ten = nn::create_net({{"name", "mininet"}, {"num_classes", 10}});
  const std::map<std::string, Tensor> state = golden::state_map(*ten);
  EXPECT_TRUE(ct::throws_mentioning([&] { mininet->load_state_dict(state); },
                                    {"MiniNet", "mis-shaped", "up1.up_conv.0.weight", "up1.up_conv.1.running_var"}));
}

TEST(MiniNetGolden, RegistryArgumentsAreUpstreams) {
  const nn::Json resolved = nn::resolve_model_config({{"name", "mininet"}, {"num_classes", 19}});
  EXPECT_EQ(resolved, (nn::Json{{"name", "mininet"},
                                {"num_classes", 19},
                                {"n_channel", 3},
                                {"act_type", "selu"},
                                {"dropout", true}}));
  EXPECT_TRUE(ct::throws_mentioning(
      [&] { nn::create_net({{"name", "mininet"}, {"num_classes", 19}, {"act_type", "mish"}}); },
      {"mininet", "act_type", "mish"}));
}

// 96x160 fails upstream too: the 1/64 map (2x3) doubles to 4x6, the 1/32 skip is 3x5.
TEST(MiniNetGolden, SizesThatDoNotDoubleBackAreRefused) {
  auto net = nn::create_net({{"name", "mininet"}, {"num_classes", 4}});
  net->eval();
  autograd::NoGradGuard no_grad;
  const Tensor x = ct::randn({1, 3, 96, 160}, 1, DType::f32);
  EXPECT_TRUE(ct::throws_mentioning([&] { net->forward(x); }, {"MiniNet", "[1, 192, 4, 6]", "[1, 192, 3, 5]"}));
}
