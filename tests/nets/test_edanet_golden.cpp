// EDANet (nets/edanet.h) against tests/goldens/edanet.json: upstream zh320
// EDANet(num_class=19), det-filled parameters. The second size, 100x200, is a
// multiple of 4 only: the 1/8 maps (13x25) come from a stride-2 conv rounding
// up, and the logits are resized back to the input's size.
#include <gtest/gtest.h>

#include <map>

#include "autograd/engine.h"
#include "common/golden.h"
#include "common/testing.h"
#include "nets/edanet.h"
#include "nn/registry.h"

using namespace cudaseg;
namespace ct = cudaseg::testing;
namespace golden = cudaseg::testing::golden;

namespace {

const golden::Golden& edanet_golden() {
  static const golden::Golden g = golden::Golden::load("edanet");
  return g;
}

}  // namespace

TEST(EDANetGolden, StateDictEqualsUpstream) {
  const auto& g = edanet_golden();
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
}

TEST(EDANetGolden, EvalLogits) {
  const auto& g = edanet_golden();
  ASSERT_EQ(g.num_cases(), 2u);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i));
}

// The training step against the float64 golden: a float32 step is
// ill-conditioned here. Upstream's own float32 step matches its float64 one to
// 1e-6 in gradient norms on the golden's 2 threads but differs by 3e-3
// (stage1.bn_act.0.bias) on 1 thread, beyond the float32 tolerances.
TEST(EDANetGolden, TrainStepFloat64) {
  const auto g = golden::Golden::load("edanet_f64");
  ASSERT_EQ(g.dtype(), DType::f64);
  for (size_t i = 0; i < g.num_cases(); ++i)
    EXPECT_TRUE(golden::check_train_step(g, i, golden::main_only_loss(), {}, golden::float64_tolerances()));
}

TEST(EDANetGolden, WrongNetLoadNamesTheNetAndTensors) {
  auto edanet = nn::create_net({{"name", "edanet"}, {"num_classes", 19}});
  auto erfnet = nn::create_net({{"name", "erfnet"}, {"num_classes", 19}});
  EXPECT_TRUE(ct::throws_mentioning([&] { edanet->load_state_dict(golden::state_map(*erfnet)); },
                                    {"EDANet", "missing", "stage3.layers.7.conv.4.1.running_var", "unexpected",
                                     "layer9_16.7.conv.3.weight"}));
  auto ten = nn::create_net({{"name", "edanet"}, {"num_classes", 10}});
  EXPECT_TRUE(ct::throws_mentioning([&] { edanet->load_state_dict(golden::state_map(*ten)); },
                                    {"EDANet", "mis-shaped", "project.weight"}));
}

TEST(EDANetGolden, RegistryArgumentsAreUpstreams) {
  const nn::Json resolved = nn::resolve_model_config({{"name", "edanet"}, {"num_classes", 19}});
  EXPECT_EQ(resolved, (nn::Json{{"name", "edanet"},
                                {"num_classes", 19},
                                {"act_type", "relu"},
                                {"k", 40},
                                {"n_channel", 3},
                                {"num_b1", 5},
                                {"num_b2", 8}}));
  // Upstream's dilation lists and stage3_d's 260 input channels fix these.
  EXPECT_TRUE(ct::throws_mentioning([&] { nn::create_net({{"name", "edanet"}, {"num_classes", 19}, {"k", 32}}); },
                                    {"edanet", "k", "32"}));
  EXPECT_TRUE(ct::throws_mentioning(
      [&] { nn::create_net({{"name", "edanet"}, {"num_classes", 19}, {"num_b2", 6}}); }, {"edanet", "num_b2"}));
}

// The downsampling blocks concatenate a conv rounding up with a pool rounding
// down; upstream fails inside torch.cat, here the size is refused up front.
TEST(EDANet, InputSizesMustBeMultiplesOf4) {
  auto net = nn::create_net({{"name", "edanet"}, {"num_classes", 4}, {"act_type", "prelu"}});
  net->eval();
  autograd::NoGradGuard no_grad;
  EXPECT_EQ(net->forward(ct::uniform({1, 3, 36, 20}, -1, 1, 3, DType::f32)).shape(), (Shape{1, 4, 36, 20}));
  EXPECT_TRUE(ct::throws_mentioning([&] { net->forward(ct::uniform({1, 3, 34, 20}, -1, 1, 3, DType::f32)); },
                                    {"EDANet", "multiples of 4"}));
}
