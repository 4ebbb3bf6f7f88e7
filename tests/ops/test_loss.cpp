#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>

#include "common/testing.h"
#include "ops/loss.h"

using namespace cudaseg;
using cudaseg::testing::all_close;
using cudaseg::testing::noncontiguous;
using cudaseg::testing::randn;
using cudaseg::testing::throws_mentioning;
using cudaseg::testing::uniform;
using ops::Reduction;

namespace {

// Class targets [N, d...] in [0, classes) with every `ignore_every`-th one set to `ignore`.
Tensor class_targets(const Shape& shape, int64_t classes, uint64_t seed, int64_t ignore = -100, int ignore_every = 0) {
  std::vector<double> t = uniform(shape, 0, static_cast<double>(classes), seed).to_vector();
  for (size_t i = 0; i < t.size(); ++i) {
    t[i] = std::min<double>(std::floor(t[i]), classes - 1);
    if (ignore_every > 0 && i % ignore_every == 3) t[i] = static_cast<double>(ignore);
  }
  return Tensor::from_vector(t, shape, DType::i64);
}

Tensor scalar(double v) { return Tensor::from_vector({v}, {}, DType::f64); }

// Per-position cross entropy -w[t] log softmax(x)[t] (0 where ignored), logits [N, C, S].
std::vector<double> naive_ce(const Tensor& logits, const Tensor& target, const std::vector<double>& w, int64_t ignore,
                             double* total_weight) {
  const int64_t n = logits.size(0), c = logits.size(1), s = logits.numel() / (n * c);
  const std::vector<double> x = logits.to_vector(), t = target.to_vector();
  std::vector<double> out(n * s);
  *total_weight = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < s; ++j) {
      const int64_t tc = static_cast<int64_t>(t[i * s + j]);
      if (tc == ignore) continue;
      double total = 0;
      for (int64_t k = 0; k < c; ++k) total += std::exp(x[(i * c + k) * s + j]);
      const double wt = w.empty() ? 1.0 : w[tc];
      out[i * s + j] = wt * (std::log(total) - x[(i * c + tc) * s + j]);
      *total_weight += wt;
    }
  return out;
}

double sum_of(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0); }

}  // namespace

TEST(Loss, CrossEntropyEachReductionWithWeightsAndIgnore) {
  const Tensor logits = randn({2, 5, 7, 13}, 1);
  const Tensor target = class_targets({2, 7, 13}, 5, 2, 255, 9);
  const Tensor weight = uniform({5}, 0.5, 2.0, 3);
  double tw = 0;
  const std::vector<double> ref = naive_ce(logits, target, weight.to_vector(), 255, &tw);
  ops::CrossEntropyOptions o;
  o.weight = weight;
  o.ignore_index = 255;
  EXPECT_TRUE(all_close(ops::cross_entropy(noncontiguous(logits), target, o), scalar(sum_of(ref) / tw), 1e-12, 1e-12));
  o.reduction = Reduction::sum;
  EXPECT_TRUE(all_close(ops::cross_entropy(logits, target, o), scalar(sum_of(ref)), 1e-12, 1e-12));
  o.reduction = Reduction::none;
  EXPECT_TRUE(all_close(ops::cross_entropy(logits, target, o), Tensor::from_vector(ref, {2, 7, 13}, DType::f64),
                        1e-12, 1e-12));
}

// The CPU kernels take positions in tiles of one image: maps larger than a
// tile and not a multiple of it, in float32 and float64, forward and backward.
TEST(Loss, CrossEntropyAcrossPositionTiles) {
  for (DType dt : {DType::f64, DType::f32}) {
    const Tensor logits = randn({3, 19, 23, 29}, 11).to(dt);
    const Tensor target = class_targets({3, 23, 29}, 19, 12, 255, 9);
    const Tensor weight = uniform({19}, 0.5, 2.0, 13).to(dt);
    double tw = 0;
    const std::vector<double> ref = naive_ce(logits, target, weight.to_vector(), 255, &tw);
    ops::CrossEntropyOptions o;
    o.weight = weight;
    o.ignore_index = 255;
    o.reduction = Reduction::none;
    const double tol = dt == DType::f64 ? 1e-12 : 2e-6;
    EXPECT_TRUE(all_close(ops::cross_entropy(logits, target, o), Tensor::from_vector(ref, {3, 23, 29}, dt), tol, tol));
    o.reduction = Reduction::mean;
    const ops::CrossEntropyForward f = ops::cross_entropy_forward(logits, target, o);
    const Tensor g = ops::cross_entropy_backward(scalar(2.0).to(dt), f.log_probs, target, o, f.total_weight);
    // 2 w[t] (softmax - onehot(t)) / tw per position, 0 where ignored.
    const std::vector<double> x = logits.to_vector(), t = target.to_vector(), w = weight.to_vector();
    std::vector<double> expect(x.size(), 0.0);
    const int64_t c = 19, s = 23 * 29;
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t j = 0; j < s; ++j) {
        const int64_t tc = static_cast<int64_t>(t[i * s + j]);
        if (tc == 255) continue;
        double total = 0;
        for (int64_t k = 0; k < c; ++k) total += std::exp(x[(i * c + k) * s + j]);
        for (int64_t k = 0; k < c; ++k)
          expect[(i * c + k) * s + j] = 2 * w[tc] * (std::exp(x[(i * c + k) * s + j]) / total - (k == tc)) / tw;
      }
    EXPECT_TRUE(all_close(g, Tensor::from_vector(expect, logits.shape(), dt), tol, tol));
  }
}

TEST(Loss, CrossEntropyTwoDimensionalDefaults) {
  const Tensor logits = randn({9, 4}, 4);
  const Tensor target = class_targets({9}, 4, 5);
  double tw = 0;
  const std::vector<double> ref = naive_ce(logits, target, {}, -100, &tw);
  EXPECT_TRUE(all_close(ops::cross_entropy(logits, target), scalar(sum_of(ref) / 9), 1e-12, 1e-12));
  // The default ignore_index is -100.
  const Tensor with_ignore = class_targets({9}, 4, 5, -100, 4);
  const std::vector<double> ref2 = naive_ce(logits, with_ignore, {}, -100, &tw);
  EXPECT_TRUE(all_close(ops::cross_entropy(logits, with_ignore), scalar(sum_of(ref2) / tw), 1e-12, 1e-12));
  const Tensor f32 = ops::cross_entropy(logits.to(DType::f32), target);
  EXPECT_TRUE(all_close(f32, scalar(sum_of(ref) / 9).to(DType::f32), 1e-6, 1e-6));
}

TEST(Loss, OhemKeepsLossesAboveThreshold) {
  const Tensor logits = randn({2, 5, 7, 13}, 6);
  const Tensor target = class_targets({2, 7, 13}, 5, 7, 255, 11);
  double tw = 0;
  const std::vector<double> l = naive_ce(logits, target, {}, 255, &tw);
  const double thr = -std::log(0.7);
  double kept_sum = 0;
  int kept = 0;
  for (double x : l)
    if (x > thr) kept_sum += x, ++kept;
  ASSERT_GT(kept, static_cast<int>(tw) / 16);  // the hard set is large enough: no top-k
  EXPECT_TRUE(all_close(ops::ohem_cross_entropy(logits, target), scalar(kept_sum / kept), 1e-12, 1e-12));
}

TEST(Loss, OhemFallsBackToTopKWhenTooFewAreHard) {
  const Tensor logits = randn({2, 5, 7, 13}, 8);
  const Tensor target = class_targets({2, 7, 13}, 5, 9, 255, 11);
  double tw = 0;
  std::vector<double> l = naive_ce(logits, target, {}, 255, &tw);
  ops::OhemOptions o;
  o.thresh = 1e-3;  // -log(1e-3) = 6.9: no pixel is that hard
  const int64_t n_min = static_cast<int64_t>(tw) / 16;
  ASSERT_GT(n_min, 0);
  std::vector<double> sorted = l;
  std::sort(sorted.rbegin(), sorted.rend());
  ASSERT_LT(sorted[0], -std::log(o.thresh));
  const double top = std::accumulate(sorted.begin(), sorted.begin() + n_min, 0.0) / n_min;
  const ops::OhemForward f = ops::ohem_cross_entropy_forward(logits, target, o);
  EXPECT_EQ(f.kept, n_min);
  EXPECT_TRUE(all_close(f.loss, scalar(top), 1e-12, 1e-12));
  // An explicit min_kept replaces n_valid / 16.
  o.min_kept = 25;
  EXPECT_TRUE(all_close(ops::ohem_cross_entropy(logits, target, o),
                        scalar(std::accumulate(sorted.begin(), sorted.begin() + 25, 0.0) / 25), 1e-12, 1e-12));
}

TEST(Loss, BinaryCrossEntropyWithLogitsOptions) {
  const Tensor x = randn({3, 4, 5}, 10), y = uniform({3, 4, 5}, 0, 1, 11);
  const Tensor w = uniform({4, 1}, 0.5, 2, 12), pw = uniform({5}, 0.5, 3, 13);
  const std::vector<double> vx = x.to_vector(), vy = y.to_vector(), vw = w.to_vector(), vp = pw.to_vector();
  std::vector<double> plain(60), full(60);
  for (int i = 0; i < 60; ++i) {
    const double s = 1 / (1 + std::exp(-vx[i]));
    plain[i] = -(vy[i] * std::log(s) + (1 - vy[i]) * std::log(1 - s));
    full[i] = -vw[(i / 5) % 4] * (vp[i % 5] * vy[i] * std::log(s) + (1 - vy[i]) * std::log(1 - s));
  }
  EXPECT_TRUE(all_close(ops::binary_cross_entropy_with_logits(noncontiguous(x), y), scalar(sum_of(plain) / 60), 1e-12,
                        1e-12));
  ops::BCEWithLogitsOptions o;
  o.weight = w;
  o.pos_weight = pw;
  o.reduction = Reduction::none;
  EXPECT_TRUE(all_close(ops::binary_cross_entropy_with_logits(x, y, o), Tensor::from_vector(full, {3, 4, 5}, DType::f64),
                        1e-12, 1e-12));
  o.reduction = Reduction::sum;
  EXPECT_TRUE(all_close(ops::binary_cross_entropy_with_logits(x, y, o), scalar(sum_of(full)), 1e-12, 1e-12));
  // Stable for large logits.
  const Tensor big = Tensor::from_vector({800.0, -800.0}, {2}, DType::f64);
  const Tensor yb = Tensor::from_vector({0.0, 1.0}, {2}, DType::f64);
  EXPECT_TRUE(all_close(ops::binary_cross_entropy_with_logits(big, yb, {Tensor(), Tensor(), Reduction::none}),
                        Tensor::from_vector({800.0, 800.0}, {2}, DType::f64), 1e-12, 1e-12));
}

TEST(Loss, DiceWithAndWithoutSigmoid) {
  const Tensor x = randn({3, 1, 7, 13}, 14);
  std::vector<double> g = uniform({3, 1, 7, 13}, 0, 1, 15).to_vector();
  for (double& v : g) v = v > 0.7;
  const Tensor target = Tensor::from_vector(g, {3, 1, 7, 13}, DType::f64);
  for (bool sig : {false, true}) {
    const std::vector<double> vx = x.to_vector();
    std::vector<double> per(3);
    for (int n = 0; n < 3; ++n) {
      double inter = 0, sp = 0, sg = 0;
      for (int i = 0; i < 91; ++i) {
        const double p = sig ? 1 / (1 + std::exp(-vx[n * 91 + i])) : vx[n * 91 + i];
        inter += p * g[n * 91 + i], sp += p, sg += g[n * 91 + i];
      }
      per[n] = 1 - (2 * inter + 1) / (sp + sg + 1);
    }
    ops::DiceOptions o;
    o.apply_sigmoid = sig;
    EXPECT_TRUE(all_close(ops::dice_loss(x, target, o), scalar(sum_of(per) / 3), 1e-12, 1e-12));
    o.reduction = Reduction::none;
    o.smooth = 1.0;
    EXPECT_TRUE(all_close(ops::dice_loss(noncontiguous(x), target, o), Tensor::from_vector(per, {3}, DType::f64), 1e-12,
                          1e-12));
  }
}

TEST(Loss, KlDivReductions) {
  const Tensor x = randn({4, 3, 5}, 16);
  std::vector<double> t = uniform({4, 3, 5}, 0, 1, 17).to_vector();
  t[3] = 0.0;  // a zero target contributes 0
  const Tensor target = Tensor::from_vector(t, {4, 3, 5}, DType::f64);
  const std::vector<double> vx = x.to_vector();
  std::vector<double> ref(60), ref_log(60);
  for (int i = 0; i < 60; ++i) {
    ref[i] = t[i] > 0 ? t[i] * (std::log(t[i]) - vx[i]) : 0.0;
    ref_log[i] = std::exp(t[i]) * (t[i] - vx[i]);
  }
  EXPECT_TRUE(all_close(ops::kl_div(x, target, Reduction::none), Tensor::from_vector(ref, {4, 3, 5}, DType::f64), 1e-12,
                        1e-12));
  EXPECT_TRUE(all_close(ops::kl_div(x, target), scalar(sum_of(ref) / 60), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(ops::kl_div(x, target, Reduction::batchmean), scalar(sum_of(ref) / 4), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(ops::kl_div(x, target, Reduction::sum), scalar(sum_of(ref)), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(ops::kl_div(x, target, Reduction::sum, true), scalar(sum_of(ref_log)), 1e-12, 1e-12));
}

TEST(Loss, KdLossIsTemperatureScaledKl) {
  const Tensor s = randn({2, 5, 3, 4}, 18), t = randn({2, 5, 3, 4}, 19);
  const double temp = 4.0;
  const std::vector<double> vs = s.to_vector(), vt = t.to_vector();
  double total = 0;
  for (int n = 0; n < 2; ++n)
    for (int j = 0; j < 12; ++j) {
      double zs = 0, zt = 0;
      for (int c = 0; c < 5; ++c) zs += std::exp(vs[(n * 5 + c) * 12 + j] / temp), zt += std::exp(vt[(n * 5 + c) * 12 + j] / temp);
      for (int c = 0; c < 5; ++c) {
        const double q = std::exp(vt[(n * 5 + c) * 12 + j] / temp) / zt;
        const double log_p = vs[(n * 5 + c) * 12 + j] / temp - std::log(zs);
        total += q * (std::log(q) - log_p);
      }
    }
  EXPECT_TRUE(all_close(ops::kd_loss(noncontiguous(s), t, temp), scalar(total / 120 * 16), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(ops::kd_loss(s, t, temp, Reduction::batchmean), scalar(total / 2 * 16), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(ops::kd_loss(s, t, temp, Reduction::sum), scalar(total * 16), 1e-12, 1e-12));
}

TEST(Loss, RegressionLosses) {
  const Tensor x = randn({7, 13}, 20), y = randn({7, 13}, 21);
  const std::vector<double> vx = x.to_vector(), vy = y.to_vector();
  std::vector<double> mse(91), l1(91), sl1(91);
  const double beta = 0.6;
  for (int i = 0; i < 91; ++i) {
    const double d = vx[i] - vy[i];
    mse[i] = d * d, l1[i] = std::abs(d);
    sl1[i] = std::abs(d) < beta ? 0.5 * d * d / beta : std::abs(d) - 0.5 * beta;
  }
  EXPECT_TRUE(all_close(ops::mse_loss(noncontiguous(x), y), scalar(sum_of(mse) / 91), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(ops::mse_loss(x, y, Reduction::sum), scalar(sum_of(mse)), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(ops::l1_loss(x, y, Reduction::none), Tensor::from_vector(l1, {7, 13}, DType::f64), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(ops::l1_loss(x, y), scalar(sum_of(l1) / 91), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(ops::smooth_l1_loss(x, y, Reduction::none, beta), Tensor::from_vector(sl1, {7, 13}, DType::f64),
                        1e-12, 1e-12));
  EXPECT_TRUE(all_close(ops::smooth_l1_loss(x, y, Reduction::sum, beta), scalar(sum_of(sl1)), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(ops::smooth_l1_loss(x, y, Reduction::mean, 0.0), scalar(sum_of(l1) / 91), 1e-12, 1e-12));
}

TEST(Loss, MisuseErrors) {
  const Tensor logits = randn({2, 4, 3, 5}, 1);
  const Tensor target = class_targets({2, 3, 5}, 4, 2);
  std::vector<double> bad = target.to_vector();
  bad[7] = 7;
  const Tensor bad_target = Tensor::from_vector(bad, {2, 3, 5}, DType::i64);
  EXPECT_TRUE(throws_mentioning([&] { ops::cross_entropy(logits, bad_target); },
                                {"cross_entropy", "target value 7", "4 classes"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::ohem_cross_entropy(logits, bad_target); },
                                {"ohem_cross_entropy", "target value 7"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::cross_entropy(logits, target.to(DType::f32)); },
                                {"cross_entropy", "int64", "float32"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::cross_entropy(logits, class_targets({2, 3, 4}, 4, 3)); },
                                {"cross_entropy", "[2, 3, 4]", "[2, 4, 3, 5]"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::cross_entropy(logits, target, {randn({5}, 4)}); },
                                {"cross_entropy", "weight", "[5]", "[4]"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::cross_entropy(logits, target, {Tensor(), -100, Reduction::batchmean}); },
                                {"cross_entropy", "batchmean"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::ohem_cross_entropy(logits, target, {1.5}); }, {"ohem_cross_entropy", "thresh"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::mse_loss(randn({3, 4}, 5), randn({4, 3}, 6)); },
                                {"mse_loss", "[4, 3]", "[3, 4]"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::kd_loss(randn({2, 3}, 5), randn({2, 4}, 6), 4.0); },
                                {"kd_loss", "[2, 3]", "[2, 4]"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::kd_loss(randn({2, 3}, 5), randn({2, 3}, 6), 4.0, Reduction::none); },
                                {"kd_loss", "none"}));
  EXPECT_TRUE(throws_mentioning(
      [&] { ops::binary_cross_entropy_with_logits(randn({2, 3}, 5), randn({2, 3}, 6), {Tensor(), randn({2}, 7)}); },
      {"binary_cross_entropy_with_logits", "pos_weight", "[2]", "[2, 3]"}));
}
