// LEDNet (nets/lednet.h) against tests/goldens/lednet.json: upstream zh320
// LEDNet(num_class=19, act_type="prelu"), det-filled parameters, at 64x128
// and 100x200 (not a multiple of 8: the ceil-halving initial blocks and the
// size-driven merges of the attention pyramid). The golden uses PReLU because
// upstream cannot take a training step with its default ReLU: the APN adds in
// place into ReLU outputs that ReLU's backward needs, which PyTorch's autograd
// refuses ("modified by an inplace operation"); PReLU's backward needs only
// its input.
#include <gtest/gtest.h>

#include <map>

#include "common/golden.h"
#include "common/testing.h"
#include "nets/lednet.h"
#include "nn/registry.h"

using namespace cudaseg;
namespace golden = cudaseg::testing::golden;

namespace {

const golden::Golden& lednet_golden() {
  static const golden::Golden g = golden::Golden::load("lednet");
  return g;
}

}  // namespace

TEST(LEDNetGolden, StateDictEqualsUpstream) {
  const auto& g = lednet_golden();
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
}

TEST(LEDNetGolden, EvalLogits) {
  const auto& g = lednet_golden();
  ASSERT_EQ(g.num_cases(), 2u);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i));
}

// The backward against the float64 golden: train-mode BatchNorm on the small
// deep maps makes the float32 step ill-conditioned (PyTorch's own float32 step differs from its float64 one by up to 0.36 in the gradient norm of a PReLU slope (64x128)).
TEST(LEDNetGolden, TrainStepFloat64) {
  const auto g = golden::Golden::load("lednet_f64");
  ASSERT_EQ(g.dtype(), DType::f64);
  for (size_t i = 0; i < g.num_cases(); ++i)
    EXPECT_TRUE(golden::check_train_step(g, i, golden::main_only_loss(), {}, golden::float64_tolerances()));
}

TEST(LEDNetGolden, WrongNetLoadNamesTheNetAndTensors) {
  auto lednet = nn::create_net({{"name", "lednet"}, {"num_classes", 19}});
  auto other = nn::create_net({{"name", "fastscnn"}, {"num_classes", 19}});
  const std::map<std::string, Tensor> state = golden::state_map(*other);
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { lednet->load_state_dict(state); },
      {"LEDNet", "missing", "apn.right_branch.1.0.weight", "unexpected", "classifier.2.0.weight"}));
}

TEST(LEDNetGolden, RegistryArgumentsAreUpstreams) {
  const nn::Json resolved = nn::resolve_model_config({{"name", "lednet"}, {"num_classes", 19}});
  EXPECT_EQ(resolved, (nn::Json{{"name", "lednet"}, {"num_classes", 19}, {"n_channel", 3}, {"act_type", "relu"}}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "lednet"}, {"num_classes", 19}, {"num_class", 19}}); }, {"lednet", "num_class"}));
}
