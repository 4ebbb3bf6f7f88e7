// PIDNet against XuJiacong/PIDNet's models/pidnet.py: PIDNet-S eval logits at
// two sizes and one training step (main CE + P-aux CE + BondaryLoss, float64)
// at both, PIDNet-L eval logits, the state_dict names, a wrong-variant load,
// the presets' sizes and the argument checks.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "autograd/arith.h"
#include "common/golden.h"
#include "common/testing.h"
#include "nets/pidnet.h"
#include "nn/registry.h"

using namespace cudaseg;
namespace ct = cudaseg::testing;
namespace golden = cudaseg::testing::golden;

namespace {

// The training step of tools/goldens/make_golden.py for pidnet: CE on the
// main logits, zh320's aux CE on the P logits, PIDNet's BondaryLoss on the
// boundary logits against nets::pidnet_boundary_targets.
golden::LossFn pidnet_loss() {
  return [](nn::Module&, const std::vector<Tensor>& outs, const Tensor& labels) {
    golden::LossTerms t;
    const Tensor main = golden::ce_loss(outs.at(0), labels);
    const Tensor aux = golden::aux_ce_loss(outs.at(1), labels);
    const Tensor boundary =
        nets::pidnet_boundary_loss(outs.at(2), nets::pidnet_boundary_targets(labels, outs.at(2).dtype()));
    t.main = main.item();
    t.aux = {aux.item()};
    t.total = fn::add(fn::add(main, aux), boundary);
    return t;
  };
}

int64_t parameter_count(const nn::Module& m) {
  int64_t n = 0;
  for (const Tensor& p : m.parameters()) n += p.numel();
  return n;
}

}  // namespace

TEST(PIDNetGolden, StateDictNamesEqualUpstream) {
  for (const char* stem : {"pidnet_s", "pidnet_l"}) {
    const auto g = golden::Golden::load(stem);
    EXPECT_TRUE(golden::state_dict_matches(*g.build(), g)) << stem;
  }
}

TEST(PIDNetGolden, EvalLogitsS) {
  const auto g = golden::Golden::load("pidnet_s");
  ASSERT_EQ(g.num_cases(), 2u);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i));
}

TEST(PIDNetGolden, EvalLogitsL) {
  const auto g = golden::Golden::load("pidnet_l");
  ASSERT_EQ(g.num_cases(), 1u);
  EXPECT_TRUE(golden::check_eval(g, 0));
}

// In double against the float64 golden: train-mode BatchNorm on PAPPM's 1x1
// global branch amplifies float32 rounding beyond the step's tolerances.
TEST(PIDNetGolden, TrainStepSAt64x128) {
  const auto g = golden::Golden::load("pidnet_s_f64");
  EXPECT_TRUE(golden::check_train_step(g, 0, pidnet_loss(), {}, golden::float64_tolerances()));
}

TEST(PIDNetGolden, TrainStepSAt96x160) {
  const auto g = golden::Golden::load("pidnet_s_f64");
  EXPECT_TRUE(golden::check_train_step(g, 1, pidnet_loss(), {}, golden::float64_tolerances()));
}

TEST(PIDNetGolden, WrongVariantLoadNamesTheNetAndTheTensors) {
  nn::ModulePtr s = nn::create_net({{"name", "pidnet"}, {"arch_type", "pidnet_s"}, {"num_classes", 19}});
  nn::ModulePtr m = nn::create_net({{"name", "pidnet"}, {"arch_type", "pidnet_m"}, {"num_classes", 19}});
  nn::ModulePtr l = nn::create_net({{"name", "pidnet"}, {"arch_type", "pidnet_l"}, {"num_classes", 19}});
  EXPECT_TRUE(ct::throws_mentioning([&] { s->load_state_dict(golden::state_map(*m)); },
                                    {"PIDNet", "mis-shaped", "conv1.0.weight"}));
  EXPECT_TRUE(ct::throws_mentioning([&] { m->load_state_dict(golden::state_map(*l)); },
                                    {"PIDNet", "spp.process1.2.weight", "dfm.conv_p.0.weight"}));
  nn::ModulePtr no_aux = nn::create_net(
      {{"name", "pidnet"}, {"arch_type", "pidnet_s"}, {"num_classes", 19}, {"augment", false}});
  EXPECT_TRUE(ct::throws_mentioning([&] { no_aux->load_state_dict(golden::state_map(*s)); },
                                    {"PIDNet", "unexpected", "seghead_p.conv1.weight"}));
}

// Counts of upstream's get_pred_model(name, 19) (augment false), taken with Debian's torch 1.13.
TEST(PIDNet, PresetsMatchUpstreamCounts) {
  struct Expect {
    const char* arch;
    int64_t parameters, state_entries;
  };
  for (const Expect& e : {Expect{"pidnet_s", 7625715, 453}, Expect{"pidnet_m", 28538515, 453},
                          Expect{"pidnet_l", 36939571, 519}}) {
    nn::ModulePtr net =
        nn::create_net({{"name", "pidnet"}, {"arch_type", e.arch}, {"num_classes", 19}, {"augment", false}});
    EXPECT_EQ(parameter_count(*net), e.parameters) << e.arch;
    EXPECT_EQ(net->state_dict().size(), static_cast<size_t>(e.state_entries)) << e.arch;
  }
}

TEST(PIDNet, TrainOutputsLossesAndArgumentErrors) {
  auto net = std::dynamic_pointer_cast<nets::PIDNet>(
      nn::create_net({{"name", "pidnet"}, {"arch_type", "pidnet_s"}, {"num_classes", 5}}));
  ASSERT_TRUE(net);
  const Tensor x = ct::uniform({2, 3, 64, 96}, -1, 1, 3, DType::f32);
  const auto outs = net->forward_train(x);
  ASSERT_EQ(outs.size(), 3u);
  EXPECT_EQ(outs[0].shape(), (Shape{2, 5, 64, 96}));
  EXPECT_EQ(outs[1].shape(), (Shape{2, 5, 8, 12}));
  EXPECT_EQ(outs[2].shape(), (Shape{2, 1, 8, 12}));
  const auto losses = net->net_losses({});
  ASSERT_EQ(losses.size(), 1u);
  EXPECT_EQ(losses[0].name, "boundary");
  EXPECT_EQ(losses[0].first_output, 2);
  EXPECT_TRUE(ct::throws_mentioning([&] { net->forward(ct::uniform({1, 3, 60, 64}, -1, 1, 3, DType::f32)); },
                                    {"PIDNet", "multiples of 8"}));
  EXPECT_TRUE(ct::throws_mentioning(
      [&] { nn::create_net({{"name", "pidnet"}, {"num_classes", 5}, {"arch_type", "pidnet_s"}, {"planes", 16}}); },
      {"PIDNet", "arch_type"}));
}

// Zero padding makes the border of a constant map a boundary, its inside
// not; the loss weighs the 8 boundary pixels by 1/9 and the inner one by 8/9.
TEST(PIDNet, BoundaryTargetsAndLoss) {
  const Tensor labels = Tensor::from_vector(std::vector<double>(9, 1.0), {1, 3, 3}, DType::i64);
  const Tensor targets = nets::pidnet_boundary_targets(labels);
  ASSERT_EQ(targets.shape(), (Shape{1, 1, 3, 3}));
  const Tensor t = targets.contiguous();
  for (int64_t i = 0; i < 9; ++i) EXPECT_EQ(t.data<float>()[i], i == 4 ? 0.0f : 1.0f) << i;
  const Tensor logits = Tensor::zeros({1, 1, 3, 3});
  const double expected = 20.0 * std::log(2.0) * (8 * (1.0 / 9) + 8.0 / 9) / 9;
  EXPECT_NEAR(nets::pidnet_boundary_loss(logits, targets).item(), expected, 1e-6);
}
