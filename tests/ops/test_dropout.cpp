// Dropout: mask statistics, scaling, reproducibility, identity cases.
#include <gtest/gtest.h>

#include <cmath>

#include "common/testing.h"
#include "ops/dropout.h"
#include "runtime/philox.h"

namespace cudaseg {
using testing::all_close;
using testing::throws_mentioning;

TEST(DropoutOps, KeepsAboutOneMinusPAndScalesKeptValues) {
  const Tensor x = testing::uniform({64, 33, 17}, 0.5, 2.0, 1);  // never zero, so zeros are drops
  const std::vector<double> xv = x.to_vector();
  for (double p : {0.1, 0.5, 0.8}) {
    Generator gen(42);
    const ops::DropoutResult r = ops::dropout(testing::noncontiguous(x), p, true, gen);
    const std::vector<double> y = r.output.to_vector(), m = r.mask.to_vector();
    size_t kept = 0;
    for (size_t i = 0; i < y.size(); ++i) {
      if (y[i] != 0) {
        ++kept;
        EXPECT_NEAR(y[i], xv[i] / (1 - p), 1e-12);
        EXPECT_NEAR(m[i], 1 / (1 - p), 1e-12);
      } else {
        EXPECT_EQ(m[i], 0.0);
      }
    }
    const double n = static_cast<double>(y.size()), frac = kept / n;
    // Five binomial standard deviations.
    EXPECT_NEAR(frac, 1 - p, 5 * std::sqrt(p * (1 - p) / n)) << "p " << p;
    EXPECT_EQ(gen.offset(), (y.size() + 3) / 4 * 4);
  }
}

TEST(DropoutOps, MaskFollowsThePhiloxStreamOfTheGenerator) {
  const Tensor x = testing::randn({7, 13}, 2, DType::f32);
  Generator gen(9, 8);
  const ops::DropoutResult r = ops::dropout(x, 0.3, true, gen);
  const std::vector<double> m = r.mask.to_vector();
  for (size_t i = 0; i < m.size(); ++i)
    EXPECT_EQ(m[i] != 0, philox::uniform(9, 8 + i) < 0.7) << i;
  EXPECT_EQ(r.output.dtype(), DType::f32);
}

TEST(DropoutOps, SameSeedSameMaskAndDrawsAdvance) {
  const Tensor x = testing::randn({5, 9}, 3);
  Generator a(7), b(7);
  const Tensor ya = ops::dropout(x, 0.5, true, a).output, yb = ops::dropout(x, 0.5, true, b).output;
  EXPECT_TRUE(all_close(ya, yb, 0, 0));
  const Tensor ya2 = ops::dropout(x, 0.5, true, a).output;
  EXPECT_FALSE(all_close(ya, ya2, 0, 0));  // the second draw continues the stream
}

TEST(DropoutOps, IdentityInEvalAndForZeroPZerosForOne) {
  const Tensor x = testing::randn({4, 6}, 4);
  Generator gen(1);
  const ops::DropoutResult eval = ops::dropout(x, 0.5, false, gen), p0 = ops::dropout(x, 0.0, true, gen);
  EXPECT_TRUE(eval.output.is_same(x));
  EXPECT_TRUE(p0.output.is_same(x));
  EXPECT_FALSE(eval.mask.defined());
  EXPECT_EQ(gen.offset(), 0u);
  EXPECT_TRUE(ops::dropout2d(testing::randn({2, 3, 4, 4}, 5), 0.4, false, gen).output.defined());
  const ops::DropoutResult all = ops::dropout(x, 1.0, true, gen);
  EXPECT_TRUE(all_close(all.output, Tensor::zeros({4, 6}, DType::f64), 0, 0));
}

TEST(DropoutOps, Dropout2dZeroesWholeChannels) {
  const Shape shape{16, 24, 5, 7};
  const Tensor x = testing::uniform(shape, 0.5, 2.0, 6);
  const std::vector<double> xv = x.to_vector();
  Generator gen(11);
  const double p = 0.4;
  const ops::DropoutResult r = ops::dropout2d(x, p, true, gen);
  EXPECT_EQ(r.mask.shape(), (Shape{16, 24, 1, 1}));
  const std::vector<double> y = r.output.to_vector();
  size_t kept = 0;
  for (int64_t ch = 0; ch < 16 * 24; ++ch) {
    const bool keep = y[ch * 35] != 0;
    kept += keep;
    for (int64_t i = 0; i < 35; ++i)
      EXPECT_NEAR(y[ch * 35 + i], keep ? xv[ch * 35 + i] / (1 - p) : 0.0, 1e-12);
  }
  EXPECT_NEAR(kept / 384.0, 1 - p, 5 * std::sqrt(p * (1 - p) / 384.0));
  EXPECT_EQ(gen.offset(), 384u);
  // [N, C, L] inputs drop channels too.
  const ops::DropoutResult r3 = ops::dropout2d(testing::randn({2, 3, 8}, 7), 0.5, true, gen);
  EXPECT_EQ(r3.mask.shape(), (Shape{2, 3, 1}));
}

TEST(DropoutOps, BackwardAppliesTheMask) {
  const Tensor x = testing::randn({6, 5}, 8), g = testing::randn({6, 5}, 9);
  Generator gen(3);
  const ops::DropoutResult r = ops::dropout(x, 0.5, true, gen);
  const std::vector<double> m = r.mask.to_vector(), gv = g.to_vector();
  std::vector<double> want(gv.size());
  for (size_t i = 0; i < gv.size(); ++i) want[i] = gv[i] * m[i];
  EXPECT_TRUE(all_close(ops::dropout_backward(g, r.mask), Tensor::from_vector(want, {6, 5}, DType::f64), 0, 0));
}

TEST(DropoutOps, MisuseErrors) {
  const Tensor x = testing::randn({2, 3}, 10);
  Generator gen(0);
  EXPECT_TRUE(throws_mentioning([&] { ops::dropout(x, 1.5, true, gen); }, {"dropout", "p must be in [0, 1]", "1.5"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::dropout(x, -0.1, false, gen); }, {"dropout", "-0.1"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::dropout2d(x, 0.5, true, gen); }, {"dropout2d", "[N, C, H, W]", "[2, 3]"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::dropout(Tensor::ones({3}, DType::i64), 0.5, true, gen); },
                                {"dropout", "input", "float32 or float64"}));
}

}  // namespace cudaseg
