// softmax and log_softmax against naive double-precision loops.
#include <gtest/gtest.h>

#include <cmath>

#include "common/testing.h"
#include "ops/softmax.h"

namespace cudaseg {
using testing::all_close;
using testing::throws_mentioning;

namespace {

// Naive softmax of x [A, B, C] along d, computed as exp(x - max) / sum.
Tensor naive_softmax(const Tensor& x, int64_t d, bool log) {
  const Shape& s = x.shape();
  const std::vector<double> v = x.to_vector();
  std::vector<double> y(v.size());
  auto flat = [&](int64_t i, int64_t j, int64_t k) { return (i * s[1] + j) * s[2] + k; };
  for (int64_t i = 0; i < s[0]; ++i)
    for (int64_t j = 0; j < s[1]; ++j)
      for (int64_t k = 0; k < s[2]; ++k) {
        double m = -INFINITY, sum = 0;
        for (int64_t t = 0; t < s[d]; ++t) {
          int64_t o[3] = {i, j, k};
          o[d] = t;
          m = std::max(m, v[flat(o[0], o[1], o[2])]);
        }
        for (int64_t t = 0; t < s[d]; ++t) {
          int64_t o[3] = {i, j, k};
          o[d] = t;
          sum += std::exp(v[flat(o[0], o[1], o[2])] - m);
        }
        const double z = v[flat(i, j, k)] - m;
        y[flat(i, j, k)] = log ? z - std::log(sum) : std::exp(z) / sum;
      }
  return Tensor::from_vector(y, s, DType::f64);
}

}  // namespace

TEST(SoftmaxOps, EveryDimIncludingNegativeMatchesNaive) {
  const Tensor x = testing::randn({3, 5, 7}, 1);
  for (int64_t dim : {0, 1, 2, -1, -2, -3}) {
    const int64_t d = dim < 0 ? dim + 3 : dim;
    EXPECT_TRUE(all_close(ops::softmax(testing::noncontiguous(x), dim), naive_softmax(x, d, false), 1e-14, 1e-12))
        << dim;
    EXPECT_TRUE(all_close(ops::log_softmax(x.permute({2, 0, 1}).contiguous().permute({1, 2, 0}), dim),
                          naive_softmax(x, d, true), 1e-13, 1e-12))
        << dim;
  }
}

TEST(SoftmaxOps, StableForLargeMagnitudes) {
  std::vector<double> v = testing::randn({4, 13, 1}, 2).to_vector();
  for (double& e : v) e *= 2000.0;  // exp would overflow without the max shift
  for (DType dt : {DType::f64, DType::f32}) {
    const Tensor x = Tensor::from_vector(v, {4, 13, 1}, dt);
    const Tensor xd = x.to(DType::f64);
    const double tol = dt == DType::f64 ? 1e-12 : 1e-5;
    const Tensor y = ops::softmax(x, 1), ly = ops::log_softmax(x, 1);
    EXPECT_EQ(y.dtype(), dt);
    EXPECT_TRUE(all_close(y, naive_softmax(xd, 1, false), tol, tol));
    // log_softmax values reach -1e4 here; rtol covers float32 rounding of them.
    EXPECT_TRUE(all_close(ly, naive_softmax(xd, 1, true), tol, tol));
  }
}

TEST(SoftmaxOps, RowsSumToOneOnOddSizes) {
  const Tensor y = ops::softmax(testing::randn({7, 13}, 3, DType::f32), -1);
  const std::vector<double> v = y.to_vector();
  for (int r = 0; r < 7; ++r) {
    double s = 0;
    for (int c = 0; c < 13; ++c) s += v[r * 13 + c];
    EXPECT_NEAR(s, 1.0, 1e-6);
  }
}

TEST(SoftmaxOps, BackwardMatchesNaiveFormula) {
  const Tensor x = testing::randn({3, 5, 7}, 4), g = testing::randn({3, 5, 7}, 5);
  const Tensor y = ops::softmax(x, 1), ly = ops::log_softmax(x, 1);
  const std::vector<double> yv = y.to_vector(), gv = g.to_vector();
  std::vector<double> gs(yv.size()), gl(yv.size());
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t k = 0; k < 7; ++k) {
      double dot = 0, sum = 0;
      for (int64_t j = 0; j < 5; ++j) {
        dot += gv[(i * 5 + j) * 7 + k] * yv[(i * 5 + j) * 7 + k];
        sum += gv[(i * 5 + j) * 7 + k];
      }
      for (int64_t j = 0; j < 5; ++j) {
        const int64_t f = (i * 5 + j) * 7 + k;
        gs[f] = yv[f] * (gv[f] - dot);
        gl[f] = gv[f] - yv[f] * sum;
      }
    }
  EXPECT_TRUE(all_close(ops::softmax_backward(testing::noncontiguous(g), y, 1),
                        Tensor::from_vector(gs, {3, 5, 7}, DType::f64), 1e-14, 1e-12));
  EXPECT_TRUE(all_close(ops::log_softmax_backward(g, ly, -2), Tensor::from_vector(gl, {3, 5, 7}, DType::f64),
                        1e-14, 1e-12));
}

TEST(SoftmaxOps, LargeInputSplitAcrossThreadsMatchesNaive) {
  const Tensor x = testing::randn({64, 301, 1}, 7);
  EXPECT_TRUE(all_close(ops::softmax(x, 1), naive_softmax(x, 1, false), 1e-14, 1e-12));
  EXPECT_TRUE(all_close(ops::log_softmax(x, 0), naive_softmax(x, 0, true), 1e-13, 1e-12));
}

TEST(SoftmaxOps, MisuseErrors) {
  const Tensor x = testing::randn({2, 3}, 6);
  EXPECT_TRUE(throws_mentioning([&] { ops::softmax(x, 2); }, {"softmax", "dim 2"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::log_softmax(x, -3); }, {"log_softmax", "dim -3"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::softmax(Tensor::ones({2}, DType::i32), 0); },
                                {"softmax", "input", "float32 or float64"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::softmax_backward(testing::randn({3, 2}, 1), x, 1); },
                                {"softmax_backward", "grad_output", "[3, 2]", "[2, 3]"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::softmax_backward(x.to(DType::f32), x, 1); },
                                {"softmax_backward", "float32", "float64"}));
}

// float32 softmax over the last dim (the vector row kernel where the CPU has
// one): within 4 ulp of float64 on rows around the vector's length, a row
// with -inf entries (0 there), a row with a NaN (NaN throughout, as torch).
TEST(SoftmaxOps, Float32RowsOfTheVectorKernelMatchFloat64) {
  for (int64_t d : {1, 7, 16, 17, 49, 100}) {
    std::vector<double> v = testing::randn({3, d}, 4).to_vector();
    for (double& e : v) e *= 8.0;
    if (d > 2) v[d] = v[d + 2] = -INFINITY;  // row 1
    v[2 * d + d / 2] = NAN;                    // row 2
    const Tensor x = Tensor::from_vector(v, {3, d}, DType::f32);
    const Tensor y = ops::softmax(x, -1);
    const std::vector<double> got = y.to_vector(), xs = x.to_vector();
    for (int64_t r = 0; r < 3; ++r) {
      // The exponent's float32 rounding (x - max in float32, as torch's float
      // softmax rounds it) is the algorithm's; the rest in double.
      double m = -INFINITY, sum = 0;
      for (int64_t j = 0; j < d; ++j) m = std::max(m, xs[r * d + j]);
      auto t = [&](int64_t j) { return static_cast<double>(static_cast<float>(xs[r * d + j]) - static_cast<float>(m)); };
      for (int64_t j = 0; j < d; ++j) sum += std::exp(t(j));
      for (int64_t j = 0; j < d; ++j) {
        if (r == 2) {
          EXPECT_TRUE(std::isnan(got[r * d + j])) << "d=" << d << " j=" << j;
          continue;
        }
        const double want = std::exp(t(j)) / sum;
        EXPECT_NEAR(got[r * d + j], want, 4 * 1.2e-7 * want + 1e-38) << "d=" << d << " row " << r << " j=" << j;
      }
    }
  }
}

}  // namespace cudaseg
