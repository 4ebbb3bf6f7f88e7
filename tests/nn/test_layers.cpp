#include <gtest/gtest.h>

#include <cmath>

#include "common/testing.h"
#include "nn/layers.h"
#include "ops/conv.h"
#include "ops/norm.h"

using namespace cudaseg;
namespace ct = cudaseg::testing;

TEST(Layers, Conv2dHasTorchNamesShapesAndInitBounds) {
  nn::manual_seed(3);
  nn::Conv2d conv(6, 8, nn::Conv2dOptions{{3, 5}, {2, 1}, {1, 2}, {1, 1}, 2, true});
  auto sd = conv.state_dict();
  ASSERT_EQ(sd.size(), 2u);
  EXPECT_EQ(sd[0].first, "weight");
  EXPECT_EQ(sd[0].second.shape(), (Shape{8, 3, 3, 5}));
  EXPECT_EQ(sd[1].first, "bias");
  const double bound = 1.0 / std::sqrt(3.0 * 3 * 5);
  for (double v : conv.weight.to_vector()) EXPECT_LE(std::abs(v), bound);
  EXPECT_GT(ct::max_abs_diff(conv.weight, Tensor::zeros(conv.weight.shape())), bound / 2);  // not all zero
  Tensor x = ct::randn({2, 6, 7, 13}, 1, DType::f32);
  Tensor y = conv.forward(x);
  EXPECT_TRUE(ct::all_close(y, ops::conv2d(x, conv.weight, conv.bias, conv.params()), 0, 0));
  EXPECT_EQ(y.shape(), (Shape{2, 8, 4, 13}));
  nn::Conv2d no_bias(4, 4, 1, 1, 0, 1, 1, false);
  EXPECT_EQ(no_bias.state_dict().size(), 1u);
  EXPECT_THROW(nn::Conv2d(6, 8, 3, 1, 1, 1, 4), Error);  // 4 does not divide 6
}

TEST(Layers, ManualSeedMakesConstructionReproducible) {
  nn::manual_seed(11);
  nn::Linear a(5, 3);
  nn::manual_seed(11);
  nn::Linear b(5, 3);
  EXPECT_EQ(a.weight.to_vector(), b.weight.to_vector());
  EXPECT_EQ(a.bias.to_vector(), b.bias.to_vector());
  nn::Linear c(5, 3);
  EXPECT_NE(a.weight.to_vector(), c.weight.to_vector());
}

TEST(Layers, BatchNorm2dTracksStatsInTrainingAndUsesThemInEval) {
  nn::BatchNorm2d bn(3);
  auto sd = bn.state_dict();
  ASSERT_EQ(sd.size(), 5u);
  EXPECT_EQ(sd[4].first, "num_batches_tracked");
  EXPECT_EQ(sd[4].second.dtype(), DType::i64);
  EXPECT_EQ(sd[4].second.dim(), 0);
  Tensor x = ct::randn({4, 3, 5, 7}, 2, DType::f32);
  bn.train();
  Tensor y = bn.forward(x);
  EXPECT_EQ(bn.num_batches_tracked.item(), 1.0);
  // running_mean = 0.9 * 0 + 0.1 * batch mean
  std::vector<double> xv = x.to_vector(), rm = bn.running_mean.to_vector();
  for (int c = 0; c < 3; ++c) {
    double m = 0;
    for (int n = 0; n < 4; ++n)
      for (int i = 0; i < 35; ++i) m += xv[(n * 3 + c) * 35 + i];
    EXPECT_NEAR(rm[c], 0.1 * m / 140, 1e-6);
  }
  bn.eval();
  Tensor ye = bn.forward(x);
  EXPECT_EQ(bn.num_batches_tracked.item(), 1.0);
  EXPECT_TRUE(ct::all_close(ye, ops::batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, false),
                            0, 0));
  EXPECT_FALSE(ct::all_close(ye, y, 1e-3, 1e-3));
}

// InPlaceABN (STDC-Seg's checkpoints): the same statistics, no count.
TEST(Layers, BatchNorm2dWithoutBatchCountKeepsNoNumBatchesTracked) {
  nn::BatchNorm2d counted(3);
  nn::BatchNorm2d abn(3, 1e-5, 0.1, true, true, false);
  auto sd = abn.state_dict();
  ASSERT_EQ(sd.size(), 4u);
  EXPECT_EQ(sd[3].first, "running_var");
  EXPECT_FALSE(abn.num_batches_tracked.defined());
  const Tensor x = ct::randn({4, 3, 5, 7}, 2, DType::f32);
  EXPECT_TRUE(ct::all_close(abn.forward(x), counted.forward(x), 0, 0));
  EXPECT_EQ(abn.running_mean.to_vector(), counted.running_mean.to_vector());
  EXPECT_EQ(abn.running_var.to_vector(), counted.running_var.to_vector());
}

TEST(Layers, GroupNormHasTorchNamesAndNormalisesPerSampleAndGroup) {
  nn::GroupNorm gn(2, 6);
  auto sd = gn.state_dict();
  ASSERT_EQ(sd.size(), 2u);
  EXPECT_EQ(sd[0].first, "weight");
  EXPECT_EQ(sd[1].first, "bias");
  EXPECT_EQ(gn.weight.to_vector(), std::vector<double>(6, 1.0));
  gn.weight.copy_(ct::randn({6}, 6, DType::f32));
  gn.bias.copy_(ct::randn({6}, 7, DType::f32));
  Tensor x = ct::randn({2, 6, 3, 5}, 5, DType::f32);
  const std::vector<double> xv = x.to_vector(), w = gn.weight.to_vector(), b = gn.bias.to_vector();
  const std::vector<double> y = gn.forward(x).to_vector();
  for (int n = 0; n < 2; ++n)
    for (int g = 0; g < 2; ++g) {
      const int begin = (n * 6 + g * 3) * 15, count = 3 * 15;
      double mean = 0, var = 0;
      for (int i = 0; i < count; ++i) mean += xv[begin + i] / count;
      for (int i = 0; i < count; ++i) var += (xv[begin + i] - mean) * (xv[begin + i] - mean) / count;
      for (int i = 0; i < count; ++i) {
        const int c = g * 3 + i / 15;
        EXPECT_NEAR(y[begin + i], (xv[begin + i] - mean) / std::sqrt(var + 1e-5) * w[c] + b[c], 1e-5);
      }
    }
  EXPECT_TRUE(ct::throws_mentioning([] { nn::GroupNorm(4, 6); }, {"GroupNorm", "6", "4"}));
}

TEST(Layers, ActivationsByNameAndPReLU) {
  Tensor x = ct::randn({2, 3, 4, 5}, 3, DType::f32);
  Tensor r = nn::make_activation("relu")->forward(x);
  for (double v : r.to_vector()) EXPECT_GE(v, 0.0);
  auto prelu = nn::make_activation("prelu", 3);
  EXPECT_EQ(prelu->state_dict()[0].second.shape(), (Shape{3}));
  EXPECT_EQ(prelu->state_dict()[0].second.to_vector(), std::vector<double>(3, 0.25));
  EXPECT_TRUE(nn::make_activation("none")->forward(x).is_same(x));
  EXPECT_TRUE(ct::throws_mentioning([] { nn::make_activation("swishy"); }, {"swishy", "relu6"}));
}

TEST(Layers, PoolingUpsampleDropout) {
  Tensor x = ct::randn({1, 2, 9, 13}, 4, DType::f32);
  EXPECT_EQ(nn::MaxPool2d(3, 2, 1).forward(x).shape(), (Shape{1, 2, 5, 7}));
  EXPECT_EQ(nn::AdaptiveAvgPool2d(1).forward(x).shape(), (Shape{1, 2, 1, 1}));
  EXPECT_EQ(nn::Upsample(std::nullopt, std::array<double, 2>{2, 2}, "bilinear", true).forward(x).shape(),
            (Shape{1, 2, 18, 26}));
  EXPECT_THROW(nn::Upsample(std::nullopt, std::nullopt, "nearest"), Error);
  nn::Dropout drop(0.5);
  drop.eval();
  EXPECT_TRUE(ct::all_close(drop.forward(x), x, 0, 0));
  drop.train();
  EXPECT_FALSE(ct::all_close(drop.forward(x), x, 0, 0));
}

TEST(Layers, DropPathZeroesWholeSamplesInTrainingOnly) {
  nn::manual_seed(3);
  nn::DropPath dp(0.5);
  const Tensor ones = Tensor::ones({32, 3, 4});
  const std::vector<double> v = dp.forward(ones).to_vector();
  int dropped = 0;
  for (size_t n = 0; n < 32; ++n) {
    const double first = v[n * 12];
    EXPECT_TRUE(first == 0.0 || first == 2.0);  // dropped, or kept and scaled by 1 / (1 - p)
    for (size_t k = 1; k < 12; ++k) EXPECT_EQ(v[n * 12 + k], first) << "sample " << n;
    dropped += first == 0.0;
  }
  EXPECT_GT(dropped, 0);
  EXPECT_LT(dropped, 32);
  dp.eval();
  EXPECT_TRUE(dp.forward(ones).is_same(ones));
  EXPECT_TRUE(nn::DropPath(0.0).forward(ones).is_same(ones));
  EXPECT_THROW(nn::DropPath(1.5), Error);
}

TEST(Layers, SkipInitGuardDrawsNothing) {
  nn::manual_seed(5);
  {
    nn::SkipInitGuard skip;
    EXPECT_TRUE(nn::init_skipped());
    nn::Conv2d conv(4, 8, 3);
    nn::Linear lin(4, 8);
    EXPECT_EQ(conv.weight.shape(), (Shape{8, 4, 3, 3}));
    EXPECT_EQ(lin.bias.shape(), (Shape{8}));
  }
  EXPECT_FALSE(nn::init_skipped());
  EXPECT_EQ(nn::init_generator().offset(), 0u);
  nn::LayerNorm ln(Shape{6});
  EXPECT_EQ(ln.weight.to_vector(), std::vector<double>(6, 1.0));
}
