// PP-MobileSeg base and tiny against mmsegmentation's projects/pp_mobileseg
// (the original strideformer.py and pp_mobileseg_head.py run with the mmcv
// stand-ins of tools/goldens/upstream_mmseg.py): the state_dict names, eval
// logits at a square and a non-square size, one training step (main CE,
// float64), the configs' sizes, the vim switch and the argument checks.
#include <gtest/gtest.h>

#include "common/golden.h"
#include "common/testing.h"
#include "nets/pp_mobileseg.h"
#include "nn/registry.h"

using namespace cudaseg;
namespace ct = cudaseg::testing;
namespace golden = cudaseg::testing::golden;

namespace {

// Dropout2d of the head and the attention blocks' drop path off, as the golden's step.
const nn::Json kDeterministic = {{"dropout_ratio", 0.0}, {"drop_path_rate", 0.0}};

int64_t parameter_count(const nn::Module& m) {
  int64_t n = 0;
  for (const Tensor& p : m.parameters()) n += p.numel();
  return n;
}

}  // namespace

TEST(PPMobileSegGolden, StateDictNamesEqualUpstream) {
  for (const char* stem : {"pp_mobileseg_base", "pp_mobileseg_tiny"}) {
    const auto g = golden::Golden::load(stem);
    EXPECT_TRUE(golden::state_dict_matches(*g.build(), g)) << stem;
  }
}

TEST(PPMobileSegGolden, EvalLogitsBase) {
  const auto g = golden::Golden::load("pp_mobileseg_base");
  ASSERT_EQ(g.num_cases(), 2u);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i)) << g.case_name(i);
}

TEST(PPMobileSegGolden, EvalLogitsTiny) {
  const auto g = golden::Golden::load("pp_mobileseg_tiny");
  ASSERT_EQ(g.num_cases(), 2u);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i)) << g.case_name(i);
}

// In double against the float64 goldens: train-mode BatchNorm over the
// strided attention's 2x2 maps at 1/64 (128x128 input; 8 values per channel)
// amplifies float32 rounding beyond the step's tolerances (against the
// float32 goldens gradient norms differ by up to 1.9e-3 relative, base
// 128x128, smb1's SE bias; every float64 term here is within 1e-12). (At 64x64 those
// maps are 1x1: BatchNorm over 2 values passes a gradient that is zero in
// exact arithmetic, so part of every gradient is rounding noise even in
// float64; the goldens avoid that size.)
TEST(PPMobileSegGolden, TrainStepBase) {
  const auto g = golden::Golden::load("pp_mobileseg_base_f64");
  for (size_t i = 0; i < g.num_cases(); ++i)
    EXPECT_TRUE(golden::check_train_step(g, i, golden::main_only_loss(), kDeterministic, golden::float64_tolerances()))
        << g.case_name(i);
}

TEST(PPMobileSegGolden, TrainStepTiny) {
  const auto g = golden::Golden::load("pp_mobileseg_tiny_f64");
  for (size_t i = 0; i < g.num_cases(); ++i)
    EXPECT_TRUE(golden::check_train_step(g, i, golden::main_only_loss(), kDeterministic, golden::float64_tolerances()))
        << g.case_name(i);
}

// Counts of upstream's StrideFormer + PPMobileSegHead (150 classes), taken with Debian's torch 1.13.
TEST(PPMobileSeg, VariantsMatchUpstreamCounts) {
  struct Expect {
    const char* variant;
    int64_t parameters, state_entries;
  };
  for (const Expect& e : {Expect{"base", 5943878, 666}, Expect{"tiny", 1492298, 532}}) {
    nn::ModulePtr net = nn::create_net({{"name", "pp_mobileseg"}, {"variant", e.variant}, {"num_classes", 150}});
    EXPECT_EQ(parameter_count(*net), e.parameters) << e.variant;
    EXPECT_EQ(net->state_dict().size(), static_cast<size_t>(e.state_entries)) << e.variant;
  }
}

TEST(PPMobileSeg, InjectionTypeSetsTheHeadResolution) {
  const Tensor x = ct::uniform({1, 3, 64, 96}, -1, 1, 5, DType::f32);
  for (const char* inj : {"AAM", "AAMSx8"}) {
    auto net = std::dynamic_pointer_cast<nets::PPMobileSeg>(nn::create_net(
        {{"name", "pp_mobileseg"}, {"variant", "tiny"}, {"inj_type", inj}, {"num_classes", 40}, {"upsample", "vim"}}));
    ASSERT_TRUE(net);
    net->eval();
    EXPECT_TRUE(net->leaves_upsampling());
    const int64_t stride = std::string(inj) == "AAM" ? 16 : 8;
    EXPECT_EQ(net->forward(x).shape(), (Shape{1, 40, 64 / stride, 96 / stride})) << inj;
  }
}

// Upstream resizes in full in training and below 30 classes whatever `upsample` says.
TEST(PPMobileSeg, VimResizesInTrainingAndBelowThirtyClasses) {
  const Tensor x = ct::uniform({2, 3, 64, 64}, -1, 1, 7, DType::f32);
  auto few = std::dynamic_pointer_cast<nets::PPMobileSeg>(
      nn::create_net({{"name", "pp_mobileseg"}, {"variant", "tiny"}, {"num_classes", 29}, {"upsample", "vim"}}));
  few->eval();
  EXPECT_FALSE(few->leaves_upsampling());
  EXPECT_EQ(few->forward(x).shape(), (Shape{2, 29, 64, 64}));
  auto many = std::dynamic_pointer_cast<nets::PPMobileSeg>(
      nn::create_net({{"name", "pp_mobileseg"}, {"variant", "tiny"}, {"num_classes", 30}, {"upsample", "vim"}}));
  EXPECT_FALSE(many->leaves_upsampling());
  EXPECT_EQ(many->forward_train(x).at(0).shape(), (Shape{2, 30, 64, 64}));
}

TEST(PPMobileSeg, ArgumentErrors) {
  EXPECT_TRUE(ct::throws_mentioning(
      [&] {
        nn::create_net({{"name", "pp_mobileseg"}, {"variant", "small"}, {"num_classes", 5}});
      },
      {"variant"}));
  EXPECT_TRUE(ct::throws_mentioning(
      [&] {
        nn::create_net({{"name", "pp_mobileseg"}, {"upsample", "interpolate"}, {"num_classes", 5}});
      },
      {"upsample"}));
  EXPECT_TRUE(ct::throws_mentioning(
      [&] {
        nn::create_net({{"name", "pp_mobileseg"}, {"drop_path_rate", 1.5}, {"num_classes", 5}});
      },
      {"PP-MobileSeg", "drop_path_rate"}));
  auto net = nn::create_net({{"name", "pp_mobileseg"}, {"variant", "tiny"}, {"num_classes", 5}});
  EXPECT_TRUE(ct::throws_mentioning(
      [&] {
        net->forward(ct::uniform({1, 1, 64, 64}, -1, 1, 3, DType::f32));
      },
      {"StrideFormer", "[N, 3, H, W]"}));
}
