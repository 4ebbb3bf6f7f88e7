// DDRNet against zh320's models/ddrnet.py: golden parity of DDRNet-23-slim and
// DDRNet-23 with the aux head (eval logits and one training step at two
// sizes), the state_dict names, a wrong-net load, and DDRNet-39's structure.
#include <gtest/gtest.h>

#include <map>

#include "common/golden.h"
#include "common/testing.h"
#include "nets/ddrnet.h"
#include "nn/registry.h"

using namespace cudaseg;
namespace ct = cudaseg::testing;
namespace golden = cudaseg::testing::golden;

namespace {

::testing::AssertionResult train_step(const char* stem, size_t case_index) {
  const auto g = golden::Golden::load(stem);
  if (case_index >= g.num_cases()) return ::testing::AssertionFailure() << stem << " has no case " << case_index;
  return golden::check_train_step(g, case_index, golden::main_plus_aux_loss(), {}, golden::float64_tolerances());
}

int64_t parameter_count(const nn::Module& m) {
  int64_t n = 0;
  for (const Tensor& p : m.parameters()) n += p.numel();
  return n;
}

}  // namespace

TEST(DDRNetGolden, StateDictNamesEqualUpstream) {
  for (const char* stem : {"ddrnet23slim_aux", "ddrnet23_aux"}) {
    const auto g = golden::Golden::load(stem);
    EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
  }
}

TEST(DDRNetGolden, EvalLogits23Slim) {
  const auto g = golden::Golden::load("ddrnet23slim_aux");
  ASSERT_EQ(g.num_cases(), 2u);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i));
}

// The training step runs in double against the float64 golden: in float32,
// train-mode BatchNorm amplifies rounding (PyTorch's own float32 run differs
// from its float64 one by ~3e-5 in the train logits and up to ~2e-3 in
// gradient norms), beyond the tolerances the step is checked with.
TEST(DDRNetGolden, TrainStep23Slim) {
  EXPECT_TRUE(train_step("ddrnet23slim_aux_f64", 0));
  EXPECT_TRUE(train_step("ddrnet23slim_aux_f64", 1));
}

TEST(DDRNetGolden, EvalLogits23) {
  const auto g = golden::Golden::load("ddrnet23_aux");
  ASSERT_EQ(g.num_cases(), 2u);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i));
}

// One test per size keeps each under a few seconds.
TEST(DDRNetGolden, TrainStep23At64x128) { EXPECT_TRUE(train_step("ddrnet23_aux_f64", 0)); }

TEST(DDRNetGolden, TrainStep23At100x200) { EXPECT_TRUE(train_step("ddrnet23_aux_f64", 1)); }

TEST(DDRNetGolden, WrongNetLoadNamesTheNetAndTheTensors) {
  nn::ModulePtr slim = nn::create_net({{"name", "ddrnet"}, {"num_classes", 19}});
  nn::ModulePtr full = nn::create_net({{"name", "ddrnet"}, {"arch_type", "DDRNet-23"}, {"num_classes", 19}});
  EXPECT_TRUE(ct::throws_mentioning([&] { slim->load_state_dict(golden::state_map(*full)); },
                                    {"DDRNet", "mis-shaped", "conv1.0.weight", "conv5.dappm.conv_last.0.weight"}));
  nn::ModulePtr no_aux = nn::create_net({{"name", "ddrnet"}, {"num_classes", 19}, {"use_aux", false}});
  EXPECT_TRUE(ct::throws_mentioning([&] { no_aux->load_state_dict(golden::state_map(*slim)); },
                                    {"DDRNet", "unexpected", "aux_head.0.0.weight"}));
  nn::ModulePtr enet = nn::create_net({{"name", "enet"}, {"num_classes", 19}});
  EXPECT_TRUE(ct::throws_mentioning([&] { slim->load_state_dict(golden::state_map(*enet)); },
                                    {"DDRNet", "missing", "seg_head.1.weight", "unexpected", "initial.conv.0.weight"}));
}

// Counts of upstream's DDRNet(num_class=19), taken once with Debian's torch 1.13.
TEST(DDRNet, ArchitecturesMatchUpstreamCounts) {
  struct Expect {
    const char* arch;
    bool use_aux;
    int64_t parameters, state_entries;
  };
  for (const Expect& e : {Expect{"DDRNet-39", true, 33904576, 474}, Expect{"DDRNet-23-slim", false, 5542624, 299}}) {
    nn::ModulePtr net =
        nn::create_net({{"name", "ddrnet"}, {"arch_type", e.arch}, {"num_classes", 19}, {"use_aux", e.use_aux}});
    EXPECT_EQ(parameter_count(*net), e.parameters) << e.arch;
    EXPECT_EQ(net->state_dict().size(), static_cast<size_t>(e.state_entries)) << e.arch;
  }
}

TEST(DDRNet, TrainOutputsAndArgumentErrors) {
  auto net = std::dynamic_pointer_cast<nets::DDRNet>(
      nn::create_net({{"name", "ddrnet"}, {"num_classes", 5}, {"use_aux", false}}));
  ASSERT_TRUE(net);
  const Tensor x = ct::uniform({2, 3, 64, 64}, -1, 1, 3, DType::f32);
  const auto outs = net->forward_train(x);
  ASSERT_EQ(outs.size(), 1u);
  EXPECT_EQ(outs[0].shape(), (Shape{2, 5, 64, 64}));
  EXPECT_TRUE(ct::throws_mentioning([&] { net->forward(ct::uniform({1, 1, 64, 64}, -1, 1, 3, DType::f32)); },
                                    {"DDRNet", "[N, 3, H, W]"}));
  EXPECT_TRUE(ct::throws_mentioning(
      [&] { nn::create_net({{"name", "ddrnet"}, {"num_classes", 5}, {"arch_type", "DDRNet-99"}}); },
      {"arch_type", "DDRNet-23-slim"}));
}
