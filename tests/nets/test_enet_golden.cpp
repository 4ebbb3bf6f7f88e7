// ENet against zh320's models/enet.py: golden parity (eval logits and one
// training step with dropout at 0, at two sizes), the state_dict names, a
// wrong-net load, and the bilinear-upsampling variant's structure.
#include <gtest/gtest.h>

#include <map>

#include "autograd/engine.h"
#include "common/golden.h"
#include "common/testing.h"
#include "nets/enet.h"
#include "nn/registry.h"

using namespace cudaseg;
namespace ct = cudaseg::testing;
namespace golden = cudaseg::testing::golden;

namespace {

// The golden's training step sets every Dropout to p = 0.
const golden::Json kNoDropout = {{"dropout", false}};

int64_t parameter_count(const nn::Module& m) {
  int64_t n = 0;
  for (const Tensor& p : m.parameters()) n += p.numel();
  return n;
}

}  // namespace

TEST(ENetGolden, StateDictNamesEqualUpstream) {
  const auto g = golden::Golden::load("enet");
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
  EXPECT_TRUE(golden::state_dict_matches(*g.build(kNoDropout), g));
}

TEST(ENetGolden, EvalLogits) {
  const auto g = golden::Golden::load("enet");
  ASSERT_EQ(g.num_cases(), 2u);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i));
}

// The training step runs in double against the float64 golden: in float32,
// train-mode BatchNorm amplifies rounding (PyTorch's own float32 run differs
// from its float64 one by ~2e-5 in the train logits and up to ~1e-1 in the
// gradient norms of some PReLU slopes), beyond the tolerances the step is
// checked with.
TEST(ENetGolden, TrainStep) {
  const auto g = golden::Golden::load("enet_f64");
  for (size_t i = 0; i < g.num_cases(); ++i)
    EXPECT_TRUE(golden::check_train_step(g, i, golden::main_only_loss(), kNoDropout, golden::float64_tolerances()));
}

TEST(ENetGolden, WrongNetLoadNamesTheNetAndTheTensors) {
  nn::ModulePtr enet = nn::create_net({{"name", "enet"}, {"num_classes", 19}});
  nn::ModulePtr bilinear = nn::create_net({{"name", "enet"}, {"num_classes", 19}, {"upsample_type", "bilinear"}});
  EXPECT_TRUE(ct::throws_mentioning([&] { enet->load_state_dict(golden::state_map(*bilinear)); },
                                    {"ENet", "missing", "bottleneck4.conv_unpool.right_init_conv.1.up_conv.weight",
                                     "unexpected", "bottleneck4.conv_unpool.right_init_conv.1.up_conv.0.0.weight"}));
  nn::ModulePtr ten = nn::create_net({{"name", "enet"}, {"num_classes", 10}});
  EXPECT_TRUE(ct::throws_mentioning([&] { enet->load_state_dict(golden::state_map(*ten)); },
                                    {"ENet", "mis-shaped", "fullconv.up_conv.0.0.weight"}));
}

// Counts of upstream's ENet(num_class=19, upsample_type='bilinear'), taken once
// with Debian's torch 1.13.
TEST(ENet, BilinearVariantMatchesUpstreamCounts) {
  nn::ModulePtr net = nn::create_net({{"name", "enet"}, {"num_classes", 19}, {"upsample_type", "bilinear"}});
  EXPECT_EQ(parameter_count(*net), 354956);
  EXPECT_EQ(net->state_dict().size(), 440u);
  net->eval();
  autograd::NoGradGuard no_grad;
  EXPECT_EQ(net->forward(ct::uniform({1, 3, 32, 48}, -1, 1, 5, DType::f32)).shape(), (Shape{1, 19, 32, 48}));
}

TEST(ENet, DropoutIsActiveInTrainingOnlyAndSizesAreChecked) {
  nn::ModulePtr net = nn::create_net({{"name", "enet"}, {"num_classes", 4}});
  const Tensor x = ct::uniform({1, 3, 32, 32}, -1, 1, 7, DType::f32);
  net->eval();
  autograd::NoGradGuard no_grad;
  EXPECT_EQ(ct::max_abs_diff(net->forward(x), net->forward(x)), 0.0);
  net->train();
  EXPECT_GT(ct::max_abs_diff(net->forward(x), net->forward(x)), 0.0);
  EXPECT_TRUE(ct::throws_mentioning([&] { net->forward(ct::uniform({1, 3, 36, 32}, -1, 1, 7, DType::f32)); },
                                    {"ENet", "multiples of 4"}));
}
