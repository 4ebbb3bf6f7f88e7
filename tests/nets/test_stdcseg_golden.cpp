// STDC-Seg against MichaelFan01/STDC-Seg's models/model_stages.py BiSeNet:
// STDC1 (use_boundary_8) eval logits at 64x64 and 96x160 and a training step
// (CE on out, out16, out32 + DetailAggregateLoss) in float64, STDC2
// (use_boundary_2/4/8) eval logits and training step at 64x96, the
// state_dict names (aliases left out) and the alias table, a wrong-variant
// load, the registry's arguments and the detail targets.
#include <gtest/gtest.h>

#include <vector>

#include "autograd/arith.h"
#include "common/golden.h"
#include "common/testing.h"
#include "nets/stdcseg.h"
#include "nn/registry.h"

using namespace cudaseg;
namespace ct = cudaseg::testing;
namespace golden = cudaseg::testing::golden;

namespace {

// The training step of tools/goldens/make_golden.py for stdcseg: CE on out,
// out16 and out32, plus BCE + dice of every detail output against
// nets::stdcseg_detail_targets.
golden::LossFn stdcseg_loss() {
  return [](nn::Module&, const std::vector<Tensor>& outs, const Tensor& labels) {
    golden::LossTerms t;
    Tensor total = golden::ce_loss(outs.at(0), labels);
    t.main = total.item();
    for (size_t i = 1; i < 3; ++i) {
      const Tensor aux = golden::ce_loss(outs.at(i), labels);
      t.aux.push_back(aux.item());
      total = fn::add(total, aux);
    }
    const Tensor targets = nets::stdcseg_detail_targets(labels, outs.at(0).dtype());
    double bce = 0, dice = 0;
    for (size_t i = 3; i < outs.size(); ++i) {
      const nets::DetailAggregateTerms d = nets::stdcseg_detail_loss(outs[i], targets);
      bce += d.bce.item();
      dice += d.dice.item();
      total = fn::add(total, fn::add(d.bce, d.dice));
    }
    t.detail_bce = bce;
    t.detail_dice = dice;
    t.detail = bce + dice;
    t.total = total;
    return t;
  };
}

nn::Json model(const char* backbone, nn::Json extra = nn::Json::object()) {
  nn::Json m = {{"name", "stdcseg"}, {"backbone", backbone}, {"num_classes", 19}};
  m.update(extra);
  return m;
}

}  // namespace

TEST(STDCSegGolden, StateDictEqualsUpstream) {
  for (const char* stem : {"stdcseg_stdc1", "stdcseg_stdc2"}) {
    const auto g = golden::Golden::load(stem);
    EXPECT_TRUE(golden::state_dict_matches(*g.build(), g)) << stem;
  }
}

// The backbone's x2..x32 Sequentials are upstream's aliases of `features`
// slices: the golden lists them as the builder found them (by module identity).
TEST(STDCSegGolden, AliasesEqualUpstream) {
  for (const char* stem : {"stdcseg_stdc1", "stdcseg_stdc2"}) {
    const auto g = golden::Golden::load(stem);
    const auto net = std::dynamic_pointer_cast<nn::SegNet>(g.build());
    ASSERT_TRUE(net);
    std::vector<std::pair<std::string, std::string>> expected;
    for (const auto& a : g.json().at("state_dict_aliases")) expected.emplace_back(a.at(0), a.at(1));
    EXPECT_EQ(net->state_dict_aliases(), expected) << stem;
  }
}

TEST(STDCSegGolden, EvalLogitsSTDC1) {
  const auto g = golden::Golden::load("stdcseg_stdc1");
  ASSERT_EQ(g.num_cases(), 2u);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i)) << g.case_name(i);
}

TEST(STDCSegGolden, EvalLogitsSTDC2) {
  const auto g = golden::Golden::load("stdcseg_stdc2");
  ASSERT_EQ(g.num_cases(), 1u);
  EXPECT_TRUE(golden::check_eval(g, 0));
}

// In double against the float64 goldens: train-mode BatchNorm over the two
// values per channel of the ARM and global-average branches amplifies
// float32 rounding beyond the step's tolerances.
TEST(STDCSegGolden, TrainStepSTDC1At64x64) {
  const auto g = golden::Golden::load("stdcseg_stdc1_f64");
  EXPECT_TRUE(golden::check_train_step(g, 0, stdcseg_loss(), {}, golden::float64_tolerances()));
}

TEST(STDCSegGolden, TrainStepSTDC2At64x96) {
  const auto g = golden::Golden::load("stdcseg_stdc2_f64");
  EXPECT_TRUE(golden::check_train_step(g, 0, stdcseg_loss(), {}, golden::float64_tolerances()));
}

TEST(STDCSegGolden, WrongVariantLoadNamesTheNetAndTheTensors) {
  nn::ModulePtr stdc1 = nn::create_net(model("STDCNet813"));
  nn::ModulePtr stdc2 = nn::create_net(model("STDCNet1446"));
  EXPECT_TRUE(ct::throws_mentioning([&] { stdc1->load_state_dict(golden::state_map(*stdc2)); },
                                    {"BiSeNet", "unexpected", "cp.backbone.features.13.conv_list.0.conv.weight"}));
  EXPECT_TRUE(ct::throws_mentioning([&] { stdc2->load_state_dict(golden::state_map(*stdc1)); },
                                    {"BiSeNet", "missing", "cp.backbone.features.13.conv_list.0.conv.weight"}));
}

TEST(STDCSeg, RegistryArguments) {
  const nn::Json resolved = nn::resolve_model_config({{"name", "stdcseg"}, {"num_classes", 19}});
  EXPECT_EQ(resolved.at("backbone"), "STDCNet813");
  for (const char* key : {"use_boundary_2", "use_boundary_4", "use_boundary_8", "use_boundary_16", "use_conv_last"})
    EXPECT_EQ(resolved.at(key), false) << key;
  EXPECT_TRUE(ct::throws_mentioning([&] { nn::create_net(model("STDCNet813", {{"use_boundary8", true}})); },
                                    {"use_boundary8", "use_boundary_8"}));
  EXPECT_TRUE(ct::throws_mentioning([&] { nn::create_net(model("CatNetSmall")); }, {"CatNetSmall", "STDCNet1446"}));
  // Upstream's forward returns None for these sets.
  EXPECT_TRUE(ct::throws_mentioning([&] { nn::create_net(model("STDCNet813", {{"use_boundary_4", true}})); },
                                    {"stdcseg", "use_boundary_2/4/8"}));
  EXPECT_TRUE(ct::throws_mentioning(
      [&] { nn::create_net(model("STDCNet813", {{"use_boundary_2", true}, {"use_boundary_8", true}})); },
      {"stdcseg", "use_boundary_2/4/8"}));
}

TEST(STDCSeg, TrainOutputsAndNetLosses) {
  auto net = std::dynamic_pointer_cast<nets::STDCSeg>(
      nn::create_net({{"name", "stdcseg"}, {"num_classes", 5}, {"use_boundary_4", true}, {"use_boundary_8", true}}));
  ASSERT_TRUE(net);
  const Tensor x = ct::uniform({2, 3, 64, 96}, -1, 1, 3, DType::f32);
  const auto outs = net->forward_train(x);
  ASSERT_EQ(outs.size(), 5u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(outs[i].shape(), (Shape{2, 5, 64, 96})) << i;
  EXPECT_EQ(outs[3].shape(), (Shape{2, 1, 16, 24}));
  EXPECT_EQ(outs[4].shape(), (Shape{2, 1, 8, 12}));
  const auto losses = net->net_losses({});
  ASSERT_EQ(losses.size(), 1u);
  EXPECT_EQ(losses[0].name, "detail");
  EXPECT_EQ(losses[0].first_output, 3);
  net->eval();
  EXPECT_EQ(net->forward(x).shape(), (Shape{2, 5, 64, 96}));
  auto plain = std::dynamic_pointer_cast<nn::SegNet>(nn::create_net({{"name", "stdcseg"}, {"num_classes", 5}}));
  EXPECT_EQ(plain->forward_train(x).size(), 3u);
  EXPECT_TRUE(plain->net_losses({}).empty());
}

// One pixel of class 1 at (4, 4) in an 8 x 8 map of 0: the stride-1
// Laplacian marks (4, 4); the stride-2 one marks its output (2, 2), nearest-
// resized to rows and columns 4..5; the stride-4 one its output (1, 1), rows
// and columns 4..7. Fused 0.6 / 0.3 / 0.1 and > 0.1: the stride-1 and -2
// pixels are targets, the stride-4-only ones (0.1f, not > 0.1f) are not in
// float32. In float64 they are, as in upstream's loss run in double: its
// fuse_kernel holds float32 values, and 0.1f > 0.1.
TEST(STDCSeg, DetailTargetsFuseTheStrides) {
  std::vector<double> v(64, 0.0);
  v[4 * 8 + 4] = 1;
  const Tensor labels = Tensor::from_vector(v, {1, 8, 8}, DType::i64);
  for (DType dtype : {DType::f32, DType::f64}) {
    const Tensor t = nets::stdcseg_detail_targets(labels, dtype);
    ASSERT_EQ(t.shape(), (Shape{1, 1, 8, 8}));
    const std::vector<double> got = t.to_vector();
    for (int64_t r = 0; r < 8; ++r)
      for (int64_t c = 0; c < 8; ++c) {
        const int64_t last = dtype == DType::f32 ? 5 : 7;
        const bool target = r >= 4 && r <= last && c >= 4 && c <= last;
        EXPECT_EQ(got[static_cast<size_t>(r * 8 + c)], target ? 1.0 : 0.0) << dtype_name(dtype) << " " << r << "," << c;
      }
  }
}
