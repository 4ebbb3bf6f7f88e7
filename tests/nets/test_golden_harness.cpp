// The loss helpers of the shared golden harness (tests/common/golden.h)
// against values computed once with Debian's torch 1.13 from zh320's
// core/loss.py DetailLoss, models/stdc.py LaplacianConv and
// nn.CrossEntropyLoss(ignore_index=255), on det_uniform / det_labels tensors.
#include <gtest/gtest.h>

#include "autograd/resize.h"
#include "common/golden.h"
#include "nn/param_init.h"

using namespace cudaseg;
namespace golden = cudaseg::testing::golden;

namespace {

bool near(double ours, double torch_value) { return std::abs(ours - torch_value) <= 1e-6 * std::abs(torch_value); }

}  // namespace

TEST(GoldenHarness, LossHelpersMatchTorch) {
  const Tensor logits = nn::det_uniform("harness/logits", {2, 19, 8, 12}, -3, 3, 0);
  const Tensor labels = nn::det_labels("harness/labels", {2, 32, 48}, 19, 0);
  const Tensor detail = nn::det_uniform("harness/detail", {2, 1, 8, 12}, -2, 2, 0);
  const Tensor weight = Tensor::from_vector({0.6, 0.3, 0.1}, {1, 3, 1, 1});

  EXPECT_PRED2(near, golden::aux_ce_loss(logits, labels).item(), 3.9378163814544678);
  const Tensor big = fn::interpolate(logits, std::array<int64_t, 2>{32, 48}, std::nullopt, "bilinear", false);
  EXPECT_PRED2(near, golden::ce_loss(big, labels).item(), 3.5637400150299072);
  const golden::DetailTerms d = golden::detail_loss(detail, labels, weight);
  EXPECT_PRED2(near, d.total.item(), 1.5713930130004883);
  EXPECT_PRED2(near, d.dice.item(), 0.7907038927078247);
  EXPECT_PRED2(near, d.bce.item(), 0.7806890606880188);
  EXPECT_EQ(d.target_ones, 991);
}

TEST(GoldenHarness, MatchesStatsReportsTheWorstError) {
  const Tensor t = Tensor::from_vector({1, -2, 3, -4}, {2, 2});
  golden::Json stats = {{"shape", {2, 2}}, {"sum", -2.0},  {"abs_sum", 10.0}, {"sq_sum", 30.0},
                        {"min", -4.0},     {"max", 3.0},   {"samples", {{"index", {0, 3}}, {"value", {1.0, -4.0}}}}};
  golden::StatsReport r;
  EXPECT_TRUE(golden::matches_stats(t, stats, 0.0, &r));
  EXPECT_EQ(r.worst(), 0.0);
  stats["samples"]["value"][1] = -4.1;
  const auto bad = golden::matches_stats(t, stats, 1e-3, &r);
  EXPECT_FALSE(bad);
  EXPECT_NE(std::string(bad.message()).find("samples rel L2"), std::string::npos);
  EXPECT_FALSE(golden::matches_stats(Tensor::zeros({4}), stats, 1.0));
}
