// Forward of the normalisations against naive double-precision loops.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "common/testing.h"
#include "ops/norm.h"

namespace cudaseg {
using testing::all_close;
using testing::throws_mentioning;

namespace {

using Index = std::function<int64_t(int64_t)>;

struct Moments {
  std::vector<double> mean, var, count;
};

// Per-key mean and biased variance of x, where key(i) says which set flat
// element i belongs to.
Moments naive_moments(const std::vector<double>& x, int64_t keys, const Index& key) {
  Moments m{std::vector<double>(keys, 0.0), std::vector<double>(keys, 0.0), std::vector<double>(keys, 0.0)};
  for (size_t i = 0; i < x.size(); ++i) {
    m.mean[key(i)] += x[i];
    m.count[key(i)] += 1;
  }
  for (int64_t k = 0; k < keys; ++k) m.mean[k] /= m.count[k];
  for (size_t i = 0; i < x.size(); ++i) m.var[key(i)] += (x[i] - m.mean[key(i)]) * (x[i] - m.mean[key(i)]);
  for (int64_t k = 0; k < keys; ++k) m.var[k] /= m.count[k];
  return m;
}

// (x - mean) / sqrt(var + eps) * w[ch] + b[ch], the statistics given per key.
Tensor naive_apply(const Tensor& input, const std::vector<double>& mean, const std::vector<double>& var,
                   const Index& key, const Index& ch, const Tensor& w, const Tensor& b, double eps) {
  const std::vector<double> x = input.to_vector();
  const std::vector<double> wv = w.defined() ? w.to_vector() : std::vector<double>();
  const std::vector<double> bv = b.defined() ? b.to_vector() : std::vector<double>();
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const int64_t k = key(i), c = ch(i);
    y[i] = (x[i] - mean[k]) / std::sqrt(var[k] + eps) * (wv.empty() ? 1.0 : wv[c]) + (bv.empty() ? 0.0 : bv[c]);
  }
  return Tensor::from_vector(y, input.shape(), DType::f64);
}

Tensor naive_norm(const Tensor& input, int64_t keys, const Index& key, const Index& ch, const Tensor& w,
                  const Tensor& b, double eps) {
  const Moments m = naive_moments(input.to_vector(), keys, key);
  return naive_apply(input, m.mean, m.var, key, ch, w, b, eps);
}

// A permuted (non-contiguous) view holding the values of x [N, C, H, W].
Tensor permuted_copy(const Tensor& x) {
  Tensor buf = Tensor::empty({x.size(0), x.size(2), x.size(3), x.size(1)}, x.dtype());
  Tensor view = buf.permute({0, 3, 1, 2});
  view.copy_(x);
  EXPECT_FALSE(view.is_contiguous());
  return view;
}

const Shape kShape{3, 5, 7, 13};

}  // namespace

TEST(NormOps, BatchNormTrainingMatchesNaiveAndUpdatesRunningStats) {
  const int64_t C = 5, HW = 7 * 13;
  const Tensor x = testing::randn(kShape, 1);
  const Tensor w = testing::randn({C}, 2), b = testing::randn({C}, 3);
  const Tensor rm0 = testing::randn({C}, 4), rv0 = testing::uniform({C}, 0.5, 2.0, 5);
  const Index ch = [&](int64_t i) { return (i / HW) % C; };
  for (double momentum : {0.1, 0.35}) {
    for (bool affine : {true, false}) {
      Tensor rm = rm0.clone(), rv = rv0.clone();
      const Tensor wa = affine ? w : Tensor(), ba = affine ? b : Tensor();
      const Tensor y = ops::batch_norm(permuted_copy(x), rm, rv, wa, ba, true, momentum, 1e-3);
      EXPECT_TRUE(all_close(y, naive_norm(x, C, ch, ch, wa, ba, 1e-3), 1e-12, 1e-12));
      // Running stats: momentum blend with the batch mean and UNBIASED variance.
      const Moments m = naive_moments(x.to_vector(), C, ch);
      std::vector<double> em(C), ev(C);
      const double n = 3.0 * HW;
      for (int64_t c = 0; c < C; ++c) {
        em[c] = (1 - momentum) * rm0.to_vector()[c] + momentum * m.mean[c];
        ev[c] = (1 - momentum) * rv0.to_vector()[c] + momentum * m.var[c] * n / (n - 1);
      }
      EXPECT_TRUE(all_close(rm, Tensor::from_vector(em, {C}, DType::f64), 1e-13, 1e-12));
      EXPECT_TRUE(all_close(rv, Tensor::from_vector(ev, {C}, DType::f64), 1e-13, 1e-12));
    }
  }
}

TEST(NormOps, BatchNormTrainingWithoutRunningStatsAndOnLowerRanks) {
  for (const Shape& shape : {Shape{6, 4}, Shape{3, 4, 11}}) {
    const int64_t C = 4, S = shape.size() == 3 ? shape[2] : 1;
    const Tensor x = testing::randn(shape, 6);
    const Index ch = [&](int64_t i) { return (i / S) % C; };
    const Tensor y = ops::batch_norm(testing::noncontiguous(x), Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 1e-5);
    EXPECT_TRUE(all_close(y, naive_norm(x, C, ch, ch, Tensor(), Tensor(), 1e-5), 1e-12, 1e-12));
  }
}

TEST(NormOps, BatchNormEvalUsesRunningStatsAndLeavesThemAlone) {
  const int64_t C = 5, HW = 7 * 13;
  const Tensor x = testing::randn(kShape, 7);
  const Tensor w = testing::randn({C}, 8), b = testing::randn({C}, 9);
  const Tensor rm = testing::randn({C}, 10), rv = testing::uniform({C}, 0.5, 2.0, 11);
  const std::vector<double> rm_before = rm.to_vector(), rv_before = rv.to_vector();
  const Index ch = [&](int64_t i) { return (i / HW) % C; };
  for (bool affine : {true, false}) {
    const Tensor wa = affine ? w : Tensor(), ba = affine ? b : Tensor();
    const Tensor y = ops::batch_norm(permuted_copy(x), rm, rv, wa, ba, false, 0.1, 1e-2);
    EXPECT_TRUE(all_close(y, naive_apply(x, rm.to_vector(), rv.to_vector(), ch, ch, wa, ba, 1e-2), 1e-12, 1e-12));
  }
  EXPECT_EQ(rm.to_vector(), rm_before);
  EXPECT_EQ(rv.to_vector(), rv_before);
}

TEST(NormOps, BatchNormFloat32MatchesDoubleWithLargeOffset) {
  // A large common offset breaks one-pass E[x^2] - E[x]^2 variance formulas.
  const int64_t C = 5, HW = 7 * 13;
  const Tensor shifted = testing::randn(kShape, 12);
  std::vector<double> v = shifted.to_vector();
  for (double& e : v) e = 1000.0 + e;
  const Tensor x32 = Tensor::from_vector(v, kShape, DType::f32);
  const Index ch = [&](int64_t i) { return (i / HW) % C; };
  const Tensor y = ops::batch_norm(x32, Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 1e-5);
  EXPECT_EQ(y.dtype(), DType::f32);
  EXPECT_TRUE(all_close(y, naive_norm(x32.to(DType::f64), C, ch, ch, Tensor(), Tensor(), 1e-5), 1e-4, 1e-4));
}

TEST(NormOps, LayerNormLastDimsMatchesNaive) {
  const Tensor x = testing::randn(kShape, 13);
  for (const Shape& ns : {Shape{13}, Shape{7, 13}, Shape{5, 7, 13}}) {
    const int64_t K = shape_numel(ns);
    const Tensor w = testing::randn(ns, 14), b = testing::randn(ns, 15);
    const Index key = [&](int64_t i) { return i / K; };
    const Index ch = [&](int64_t i) { return i % K; };
    for (bool affine : {true, false}) {
      const Tensor wa = affine ? w : Tensor(), ba = affine ? b : Tensor();
      const Tensor y = ops::layer_norm(permuted_copy(x), ns, wa, ba, 1e-4);
      EXPECT_TRUE(all_close(y, naive_norm(x, x.numel() / K, key, ch, wa, ba, 1e-4), 1e-12, 1e-12))
          << shape_str(ns);
    }
  }
}

TEST(NormOps, LayerNormFloat32WithLargeMagnitudes) {
  std::vector<double> v = testing::randn({4, 37}, 16).to_vector();
  for (double& e : v) e = 3e4 + 50.0 * e;
  const Tensor x = Tensor::from_vector(v, {4, 37}, DType::f32);
  const Tensor y = ops::layer_norm(x, {37});
  const Index key = [](int64_t i) { return i / 37; };
  const Index ch = [](int64_t i) { return i % 37; };
  EXPECT_TRUE(all_close(y, naive_norm(x.to(DType::f64), 4, key, ch, Tensor(), Tensor(), 1e-5), 1e-4, 1e-4));
}

TEST(NormOps, LayerNormChannelsMatchesNaive) {
  const int64_t C = 5, HW = 7 * 13;
  const Tensor x = testing::randn(kShape, 17);
  const Tensor w = testing::randn({C}, 18), b = testing::randn({C}, 19);
  const Index key = [&](int64_t i) { return (i / (C * HW)) * HW + i % HW; };
  const Index ch = [&](int64_t i) { return (i / HW) % C; };
  for (bool affine : {true, false}) {
    const Tensor wa = affine ? w : Tensor(), ba = affine ? b : Tensor();
    const Tensor y = ops::layer_norm_channels(permuted_copy(x), wa, ba, 1e-6);
    EXPECT_TRUE(all_close(y, naive_norm(x, 3 * HW, key, ch, wa, ba, 1e-6), 1e-12, 1e-12));
  }
  // [N, C] input: a layer norm over C.
  const Tensor x2 = testing::randn({4, 6}, 20);
  EXPECT_TRUE(all_close(ops::layer_norm_channels(x2), ops::layer_norm(x2, {6}), 1e-14, 1e-14));
}

TEST(NormOps, GroupNormMatchesNaive) {
  const Shape shape{3, 6, 7, 5};
  const int64_t C = 6, HW = 35;
  const Tensor x = testing::randn(shape, 21);
  const Tensor w = testing::randn({C}, 22), b = testing::randn({C}, 23);
  const Index ch = [&](int64_t i) { return (i / HW) % C; };
  for (int64_t G : {1, 2, 3, 6}) {
    const Index key = [&](int64_t i) { return (i / (C * HW)) * G + ch(i) / (C / G); };
    for (bool affine : {true, false}) {
      const Tensor wa = affine ? w : Tensor(), ba = affine ? b : Tensor();
      const Tensor y = ops::group_norm(permuted_copy(x), G, wa, ba, 1e-3);
      EXPECT_TRUE(all_close(y, naive_norm(x, 3 * G, key, ch, wa, ba, 1e-3), 1e-12, 1e-12)) << "groups " << G;
    }
  }
  const Tensor x32 = testing::randn({2, 4, 9}, 24, DType::f32);
  const Tensor y32 = ops::group_norm(x32, 2);
  EXPECT_EQ(y32.dtype(), DType::f32);
  EXPECT_TRUE(all_close(y32, ops::group_norm(x32.to(DType::f64), 2), 1e-5, 1e-5));
}

// A sample's GroupNorm is the same bits whether the work is split across
// the batch's groups (8 samples) or within its one group (the sample alone,
// PoolFormer's GroupNorm(1, C) at batch 1).
TEST(NormOps, GroupNormOfASampleDoesNotDependOnTheBatch) {
  const Tensor x = testing::randn({8, 16, 9, 11}, 26, DType::f32);
  const Tensor w = testing::randn({16}, 27, DType::f32), b = testing::randn({16}, 28, DType::f32);
  const Tensor batch = ops::group_norm(x, 1, w, b, 1e-5);
  const Tensor one = ops::group_norm(x.narrow(0, 3, 1).contiguous(), 1, w, b, 1e-5);
  const std::vector<double> a = batch.narrow(0, 3, 1).contiguous().to_vector(), c = one.to_vector();
  ASSERT_EQ(a.size(), c.size());
  for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i], c[i]) << i;
  EXPECT_TRUE(all_close(one, ops::group_norm(x.narrow(0, 3, 1).to(DType::f64), 1, w.to(DType::f64), b.to(DType::f64), 1e-5),
                        1e-5, 1e-5));
}

// Float32 group norms take their moments and affine step in double (on
// AVX2/AVX-512 CPUs in vector passes, Isa::moment_sum and Isa::affine):
// each output is the float64 result rounded (within half an ulp), on planes of 1,
// 15, 49 and 3136 pixels (partial vectors of doubles, one group and several).
TEST(NormOps, GroupNormFloat32IsTheFloat64ResultRounded) {
  struct Case {
    Shape shape;
    int64_t groups;
  };
  for (const Case& cs : {Case{{1, 64, 7, 7}, 1}, Case{{2, 6, 3, 5}, 3}, Case{{1, 8, 56, 56}, 1}, Case{{3, 4, 1, 1}, 2},
                         Case{{1, 20, 2, 9}, 4}}) {
    const int64_t c = cs.shape[1];
    const Tensor x = testing::randn(cs.shape, 31, DType::f32);
    const Tensor w = testing::randn({c}, 32, DType::f32), b = testing::randn({c}, 33, DType::f32);
    const Tensor y32 = ops::group_norm(x, cs.groups, w, b, 1e-5);
    const Tensor y64 = ops::group_norm(x.to(DType::f64), cs.groups, w.to(DType::f64), b.to(DType::f64), 1e-5);
    EXPECT_TRUE(all_close(y32, y64, 1e-12, 6e-8)) << cs.shape[2] << "x" << cs.shape[3] << ", " << cs.groups << " groups";
  }
}

TEST(NormOps, NormalizeMatchesNaive) {
  const Shape shape{3, 5, 7};
  const Tensor x = testing::randn(shape, 25);
  const std::vector<double> v = x.to_vector();
  for (int64_t dim : {0, 1, 2, -1, -3}) {
    const int64_t d = dim < 0 ? dim + 3 : dim;
    for (double p : {2.0, 1.0, 3.0}) {
      std::vector<double> y(v.size());
      for (int64_t i = 0; i < 3; ++i)
        for (int64_t j = 0; j < 5; ++j)
          for (int64_t k = 0; k < 7; ++k) {
            int64_t idx[3] = {i, j, k};
            double s = 0;
            for (int64_t t = 0; t < shape[d]; ++t) {
              int64_t o[3] = {idx[0], idx[1], idx[2]};
              o[d] = t;
              s += std::pow(std::abs(v[(o[0] * 5 + o[1]) * 7 + o[2]]), p);
            }
            y[(i * 5 + j) * 7 + k] = v[(i * 5 + j) * 7 + k] / std::max(std::pow(s, 1.0 / p), 1e-12);
          }
      EXPECT_TRUE(all_close(ops::normalize(testing::noncontiguous(x), p, dim),
                            Tensor::from_vector(y, shape, DType::f64), 1e-12, 1e-12))
          << "dim " << dim << " p " << p;
    }
  }
  // Below eps the denominator is eps itself.
  const Tensor tiny = Tensor::from_vector({3e-4, -4e-4, 1.0, 2.0}, {2, 2}, DType::f64);
  EXPECT_TRUE(all_close(ops::normalize(tiny, 2.0, 1, 1e-3),
                        Tensor::from_vector({0.3, -0.4, 1 / std::sqrt(5.0), 2 / std::sqrt(5.0)}, {2, 2}, DType::f64),
                        1e-12, 1e-12));
}

TEST(NormOps, LargeInputsSplitAcrossThreadsMatchNaive) {
  const Shape shape{4, 6, 33, 35};
  const int64_t C = 6, HW = 33 * 35;
  const Tensor x = testing::randn(shape, 30);
  const Index ch = [&](int64_t i) { return (i / HW) % C; };
  EXPECT_TRUE(all_close(ops::batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), true),
                        naive_norm(x, C, ch, ch, Tensor(), Tensor(), 1e-5), 1e-12, 1e-12));
  const Index group = [&](int64_t i) { return (i / (C * HW)) * 3 + ch(i) / 2; };
  EXPECT_TRUE(all_close(ops::group_norm(x, 3), naive_norm(x, 12, group, ch, Tensor(), Tensor(), 1e-5), 1e-12, 1e-12));
}

TEST(NormOps, BackwardKernelsAcceptStridedGradsAndFloat32) {
  const Shape shape{3, 4, 5, 6};
  const Tensor x = testing::randn(shape, 31), g = testing::randn(shape, 32);
  const Tensor w = testing::randn({4}, 33), rm = testing::randn({4}, 34), rv = testing::uniform({4}, 0.5, 2, 35);
  auto same = [](const ops::NormGrads& a, const ops::NormGrads& b, double tol) {
    EXPECT_TRUE(all_close(a.input, b.input, tol, tol));
    EXPECT_TRUE(all_close(a.weight, b.weight, tol, tol));
    EXPECT_TRUE(all_close(a.bias, b.bias, tol, tol));
  };
  auto f32 = [](const Tensor& t) { return t.to(DType::f32); };
  for (bool training : {true, false}) {
    const ops::NormGrads ref = ops::batch_norm_backward(g, x, rm, rv, w, training, 1e-3);
    same(ops::batch_norm_backward(permuted_copy(g), permuted_copy(x), rm, rv, w, training, 1e-3), ref, 1e-13);
    same(ops::batch_norm_backward(f32(g), f32(x), f32(rm), f32(rv), f32(w), training, 1e-3), ref, 1e-4);
  }
  const ops::NormGrads gn = ops::group_norm_backward(g, x, 2, w, 1e-5);
  same(ops::group_norm_backward(permuted_copy(g), permuted_copy(x), 2, w, 1e-5), gn, 1e-13);
  same(ops::group_norm_backward(f32(g), f32(x), 2, f32(w), 1e-5), gn, 1e-4);
  const ops::NormGrads lc = ops::layer_norm_channels_backward(g, x, w, 1e-5);
  same(ops::layer_norm_channels_backward(permuted_copy(g), permuted_copy(x), w, 1e-5), lc, 1e-13);
  // Only the requested gradients are computed.
  const ops::NormGrads some = ops::layer_norm_backward(g, x, {5, 6}, Tensor(), 1e-5, {true, false, false});
  EXPECT_TRUE(some.input.defined());
  EXPECT_FALSE(some.weight.defined());
  EXPECT_FALSE(some.bias.defined());
}

TEST(NormOps, MisuseErrorsNameOpArgumentAndShapes) {
  const Tensor x = testing::randn({2, 3, 5}, 26);
  const Tensor c3 = Tensor::ones({3}, DType::f64), c4 = Tensor::ones({4}, DType::f64);
  EXPECT_TRUE(throws_mentioning([&] { ops::batch_norm(x, c3, c3, c4, Tensor(), true); },
                                {"batch_norm", "weight", "[4]", "[2, 3, 5]"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::batch_norm(x, c4, c4, Tensor(), Tensor(), true); },
                                {"batch_norm", "running_mean", "[4]"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), false); },
                                {"batch_norm", "running_mean must be defined in evaluation mode"}));
  EXPECT_TRUE(throws_mentioning(
      [&] { ops::batch_norm(testing::randn({1, 3}, 1), Tensor(), Tensor(), Tensor(), Tensor(), true); },
      {"batch_norm", "more than 1 value per channel", "[1, 3]"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::batch_norm(testing::randn({3}, 1), c3, c3); },
                                {"batch_norm", "at least 2 dims", "[3]"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::batch_norm(x, c3.to(DType::f32), c3.to(DType::f32)); },
                                {"batch_norm", "running_mean", "float32", "float64"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::layer_norm(x, {4}); }, {"layer_norm", "[4]", "[2, 3, 5]"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::layer_norm(x, {5}, c3); },
                                {"layer_norm", "weight", "[3]", "normalized_shape [5]"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::group_norm(x, 2); }, {"group_norm", "num_groups 2", "[2, 3, 5]"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::group_norm(x, 3, c4); }, {"group_norm", "weight", "[4]", "[2, 3, 5]"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::layer_norm_channels(x, c4); },
                                {"layer_norm_channels", "weight", "[4]", "[2, 3, 5]"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::normalize(x, 2.0, 3); }, {"normalize", "dim 3"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::normalize(x, -1.0); }, {"normalize", "p must be"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::group_norm(Tensor::ones({2, 4}, DType::i64), 2); },
                                {"group_norm", "input", "float32 or float64"}));
  EXPECT_TRUE(throws_mentioning(
      [&] { ops::group_norm_backward(testing::randn({2, 3}, 1), x, 3, Tensor(), 1e-5); },
      {"group_norm_backward", "grad_output", "[2, 3]", "[2, 3, 5]"}));
}

}  // namespace cudaseg
