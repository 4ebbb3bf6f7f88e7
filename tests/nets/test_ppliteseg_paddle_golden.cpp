// PaddleSeg's PP-LiteSeg-T (STDC1) and -B (STDC2) against
// tools/goldens/paddle_ppliteseg.py, PaddleSeg's release code restated in
// PyTorch with its names (no Paddle framework here): the state_dict names,
// eval logits at a stride-aligned and an unaligned size, one training step
// (the three heads' CE, float64), the configs' sizes and the argument checks.
#include <fstream>

#include <gtest/gtest.h>

#include "common/golden.h"
#include "common/testing.h"
#include "nets/ppliteseg_paddle.h"
#include "nn/registry.h"

using namespace cudaseg;
namespace ct = cudaseg::testing;
namespace golden = cudaseg::testing::golden;

namespace {

int64_t parameter_count(const nn::Module& m) {
  int64_t n = 0;
  for (const Tensor& p : m.parameters()) n += p.numel();
  return n;
}

}  // namespace

TEST(PPLiteSegPaddleGolden, StateDictNamesEqualPaddleSeg) {
  for (const char* stem : {"ppliteseg_paddle_t", "ppliteseg_paddle_b"}) {
    const auto g = golden::Golden::load(stem);
    EXPECT_TRUE(golden::state_dict_matches(*g.build(), g)) << stem;
  }
}

TEST(PPLiteSegPaddleGolden, EvalLogitsT) {
  const auto g = golden::Golden::load("ppliteseg_paddle_t");
  ASSERT_EQ(g.num_cases(), 2u);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i)) << g.case_name(i);
}

TEST(PPLiteSegPaddleGolden, EvalLogitsB) {
  const auto g = golden::Golden::load("ppliteseg_paddle_b");
  ASSERT_EQ(g.num_cases(), 2u);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i)) << g.case_name(i);
}

// In double: train-mode BatchNorm over the SPPM's 1x1 and 2x2 pooled maps
// (batch 2) leaves float32 gradients too noisy to compare at 1e-4. The
// frozen _scale has no gradient (golden null).
TEST(PPLiteSegPaddleGolden, TrainStepT) {
  const auto g = golden::Golden::load("ppliteseg_paddle_t_f64");
  for (size_t i = 0; i < g.num_cases(); ++i)
    EXPECT_TRUE(golden::check_train_step(g, i, golden::main_plus_aux_loss(), {}, golden::float64_tolerances()))
        << g.case_name(i);
}

TEST(PPLiteSegPaddleGolden, TrainStepB) {
  const auto g = golden::Golden::load("ppliteseg_paddle_b_f64");
  for (size_t i = 0; i < g.num_cases(); ++i)
    EXPECT_TRUE(golden::check_train_step(g, i, golden::main_plus_aux_loss(), {}, golden::float64_tolerances()))
        << g.case_name(i);
}

// Counts of the PyTorch restatement (19 classes); the run configs build the same nets.
TEST(PPLiteSegPaddle, ConfigsMatchTheRestatement) {
  struct Expect {
    const char* config;
    int64_t parameters, state_entries;
  };
  for (const Expect& e : {Expect{"pp_liteseg_t_paddle", 8141603, 250}, Expect{"pp_liteseg_b_paddle", 12366467, 370}}) {
    std::ifstream in(std::string(CUDASEG_SOURCE_DIR) + "/nets/" + e.config + ".json");
    nn::Json model = nn::Json::parse(in).at("model");
    model["num_classes"] = 19;
    nn::ModulePtr net = nn::create_net(model);
    EXPECT_EQ(parameter_count(*net), e.parameters) << e.config;
    EXPECT_EQ(net->state_dict().size(), static_cast<size_t>(e.state_entries)) << e.config;
  }
}

TEST(PPLiteSegPaddle, TrainingGivesThreeHeadsAtTheInputSize) {
  auto net = std::dynamic_pointer_cast<nn::SegNet>(
      nn::create_net({{"name", "ppliteseg_paddle"}, {"backbone", "STDC1"}, {"base", 8}, {"num_classes", 4}}));
  ASSERT_TRUE(net);
  const Tensor x = ct::uniform({2, 3, 44, 76}, -1, 1, 3, DType::f32);
  net->train();
  const auto outs = net->forward_train(x);
  ASSERT_EQ(outs.size(), 3u);
  for (const Tensor& o : outs) EXPECT_EQ(o.shape(), (Shape{2, 4, 44, 76}));
  net->eval();
  EXPECT_EQ(net->forward(x).shape(), (Shape{2, 4, 44, 76}));
}

TEST(PPLiteSegPaddle, ArgumentErrors) {
  EXPECT_TRUE(ct::throws_mentioning(
      [&] { nn::create_net({{"name", "ppliteseg_paddle"}, {"backbone", "STDC3"}, {"num_classes", 5}}); },
      {"backbone"}));
  EXPECT_TRUE(ct::throws_mentioning(
      [&] { nn::create_net({{"name", "ppliteseg_paddle"}, {"arm_out_chs", {32, 64}}, {"num_classes", 5}}); },
      {"arm_out_chs", "1 or 3"}));
  EXPECT_TRUE(ct::throws_mentioning(
      [&] { nn::create_net({{"name", "ppliteseg_paddle"}, {"cm_bin_sizes", {1, 0}}, {"num_classes", 5}}); },
      {"cm_bin_sizes", "positive"}));
  EXPECT_TRUE(ct::throws_mentioning(
      [&] { nn::create_net({{"name", "ppliteseg_paddle"}, {"base", 12}, {"num_classes", 5}}); }, {"base", "8"}));
  // PaddleSeg repeats a one-element width list for the three levels.
  auto one = nn::create_net(
      {{"name", "ppliteseg_paddle"}, {"base", 8}, {"arm_out_chs", {16}}, {"seg_head_inter_chs", {8}}, {"num_classes", 2}});
  EXPECT_EQ(one->get("seg_heads.2.conv._conv.weight").shape(), (Shape{8, 16, 3, 3}));
  EXPECT_EQ(one->get("ppseg_head.arm_list.0.conv_out._conv.weight").shape(), (Shape{16, 16, 3, 3}));
}
