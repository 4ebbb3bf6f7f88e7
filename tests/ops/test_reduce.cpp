// Reductions against naive double loops: sum, mean, amax/amin, max/min
// (full and along a dim with indices), argmax/argmin, var/std, norm.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>

#include "common/testing.h"
#include "ops/binary.h"
#include "ops/reduce.h"
#include "ops/unary.h"

using namespace cudaseg;
using cudaseg::testing::all_close;
using cudaseg::testing::noncontiguous;
using cudaseg::testing::randn;
using cudaseg::testing::throws_mentioning;

namespace {

// For each output element (row-major over the kept dims), the reduced
// elements in row-major order of the reduced dims.
std::vector<std::vector<double>> groups(const Tensor& x, std::vector<int64_t> dims) {
  const Shape& s = x.shape();
  const int64_t nd = x.dim();
  if (dims.empty())
    for (int64_t d = 0; d < nd; ++d) dims.push_back(d);
  std::vector<bool> red(static_cast<size_t>(nd), false);
  for (int64_t d : dims) red[d < 0 ? d + nd : d] = true;
  int64_t n_out = 1;
  for (int64_t d = 0; d < nd; ++d)
    if (!red[d]) n_out *= s[d];
  std::vector<std::vector<double>> g(static_cast<size_t>(n_out));
  const std::vector<double> v = x.to_vector();
  for (size_t flat = 0; flat < v.size(); ++flat) {
    int64_t rem = static_cast<int64_t>(flat), out = 0, mult = 1;
    for (int64_t d = nd - 1; d >= 0; --d) {
      const int64_t i = rem % s[d];
      rem /= s[d];
      if (!red[d]) {
        out += i * mult;
        mult *= s[d];
      }
    }
    g[static_cast<size_t>(out)].push_back(v[flat]);
  }
  return g;
}

Shape reduced_shape(const Shape& s, std::vector<int64_t> dims, bool keepdim) {
  const int64_t nd = static_cast<int64_t>(s.size());
  if (dims.empty())
    for (int64_t d = 0; d < nd; ++d) dims.push_back(d);
  Shape out;
  for (int64_t d = 0; d < nd; ++d) {
    const bool r = std::find_if(dims.begin(), dims.end(),
                                [&](int64_t e) { return (e < 0 ? e + nd : e) == d; }) != dims.end();
    if (!r)
      out.push_back(s[d]);
    else if (keepdim)
      out.push_back(1);
  }
  return out;
}

Tensor naive(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim,
             const std::function<double(const std::vector<double>&)>& f) {
  std::vector<double> r;
  for (const auto& g : groups(x, dims)) r.push_back(f(g));
  return Tensor::from_vector(r, reduced_shape(x.shape(), dims, keepdim), DType::f64);
}

double vsum(const std::vector<double>& g) { return std::accumulate(g.begin(), g.end(), 0.0); }
double vmean(const std::vector<double>& g) { return vsum(g) / static_cast<double>(g.size()); }
double vvar(const std::vector<double>& g, double correction) {
  double acc = 0;
  const double m = vmean(g);
  for (double e : g) acc += (e - m) * (e - m);
  return acc / (static_cast<double>(g.size()) - correction);
}

const std::vector<std::vector<int64_t>> kDimSets = {{}, {0}, {-1}, {1}, {0, 2}, {-1, 0}, {0, 1, 2}};

// Integer-valued data with many ties.
Tensor with_ties(const Shape& shape, uint64_t seed) {
  return ops::to_dtype(ops::mul(randn(shape, seed), 1.5), DType::i32).to(DType::f64);
}

}  // namespace

TEST(Reduce, SumMeanOverAnyDims) {
  for (DType dt : {DType::f32, DType::f64}) {
    const double t = dt == DType::f32 ? 1e-6 : 1e-12;
    const Tensor x = randn({5, 7, 3}, 1, dt);
    for (const Tensor& in : {x, noncontiguous(x), x.permute({2, 0, 1})})
      for (const auto& dims : kDimSets)
        for (bool keep : {false, true}) {
          EXPECT_TRUE(all_close(ops::sum(in, dims, keep), naive(in, dims, keep, vsum), t, t));
          EXPECT_TRUE(all_close(ops::mean(in, dims, keep), naive(in, dims, keep, vmean), t, t));
        }
  }
  const Tensor xi = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}, DType::i64);
  EXPECT_EQ(ops::sum(xi, {1}).to_vector(), (std::vector<double>{6, 15}));
  EXPECT_EQ(ops::sum(xi, {1}).dtype(), DType::i64);
}

TEST(Reduce, VarStdEveryCorrection) {
  const Tensor x = randn({5, 7, 3}, 2);
  for (const Tensor& in : {x, noncontiguous(x)})
    for (const auto& dims : kDimSets)
      for (bool keep : {false, true})
        for (double c : {0.0, 1.0, 2.5}) {
          auto v = [c](const std::vector<double>& g) { return vvar(g, c); };
          auto s = [c](const std::vector<double>& g) { return std::sqrt(vvar(g, c)); };
          EXPECT_TRUE(all_close(ops::var(in, dims, c, keep), naive(in, dims, keep, v), 1e-12, 1e-12));
          EXPECT_TRUE(all_close(ops::std(in, dims, c, keep), naive(in, dims, keep, s), 1e-12, 1e-12));
        }
  const Tensor xf = randn({7, 13}, 3, DType::f32);
  EXPECT_TRUE(
      all_close(ops::var(xf, {1}), naive(xf, {1}, false, [](auto& g) { return vvar(g, 1); }), 1e-6, 1e-6));
}

TEST(Reduce, NormP1P2AndFrobenius) {
  const Tensor x = randn({5, 7, 3}, 4);
  auto n1 = [](const std::vector<double>& g) {
    double a = 0;
    for (double e : g) a += std::abs(e);
    return a;
  };
  auto n2 = [](const std::vector<double>& g) {
    double a = 0;
    for (double e : g) a += e * e;
    return std::sqrt(a);
  };
  for (const Tensor& in : {x, noncontiguous(x)})
    for (const auto& dims : kDimSets)
      for (bool keep : {false, true}) {
        EXPECT_TRUE(all_close(ops::norm(in, 1.0, dims, keep), naive(in, dims, keep, n1), 1e-12, 1e-12));
        EXPECT_TRUE(all_close(ops::norm(in, 2.0, dims, keep), naive(in, dims, keep, n2), 1e-12, 1e-12));
      }
  EXPECT_EQ(ops::norm(x).dim(), 0);
}

TEST(Reduce, AmaxAminAndFullMaxMin) {
  for (const Tensor& x : {randn({5, 7, 3}, 5), with_ties({5, 7, 3}, 6)}) {
    auto mx = [](const std::vector<double>& g) { return *std::max_element(g.begin(), g.end()); };
    auto mn = [](const std::vector<double>& g) { return *std::min_element(g.begin(), g.end()); };
    for (const Tensor& in : {x, noncontiguous(x)}) {
      for (const auto& dims : kDimSets)
        for (bool keep : {false, true}) {
          EXPECT_TRUE(all_close(ops::amax(in, dims, keep), naive(in, dims, keep, mx), 0, 0));
          EXPECT_TRUE(all_close(ops::amin(in, dims, keep), naive(in, dims, keep, mn), 0, 0));
        }
      EXPECT_TRUE(all_close(ops::max(in), naive(in, {}, false, mx), 0, 0));
      EXPECT_TRUE(all_close(ops::min(in), naive(in, {}, false, mn), 0, 0));
    }
  }
  const Tensor xi = Tensor::from_vector({3, -7, 9, 2}, {2, 2}, DType::i32);
  EXPECT_EQ(ops::max(xi).item(), 9);
  EXPECT_EQ(ops::min(xi).dtype(), DType::i32);
}

TEST(Reduce, MaxMinAlongDimWithFirstIndexOnTies) {
  const Tensor x = with_ties({5, 7, 3}, 7);
  auto arg = [](bool largest) {
    return [largest](const std::vector<double>& g) {
      size_t best = 0;
      for (size_t i = 1; i < g.size(); ++i)
        if (largest ? g[i] > g[best] : g[i] < g[best]) best = i;
      return static_cast<double>(best);
    };
  };
  auto val = [](bool largest) {
    return [largest](const std::vector<double>& g) {
      return largest ? *std::max_element(g.begin(), g.end()) : *std::min_element(g.begin(), g.end());
    };
  };
  for (const Tensor& in : {x, noncontiguous(x), x.transpose(0, 2)})
    for (int64_t dim : {0, 1, 2, -1, -3})
      for (bool keep : {false, true})
        for (bool largest : {true, false}) {
          const ops::ValuesIndices r = largest ? ops::max(in, dim, keep) : ops::min(in, dim, keep);
          EXPECT_EQ(r.indices.dtype(), DType::i64);
          EXPECT_TRUE(all_close(r.values, naive(in, {dim}, keep, val(largest)), 0, 0));
          EXPECT_TRUE(all_close(r.indices, naive(in, {dim}, keep, arg(largest)), 0, 0));
          const Tensor a = largest ? ops::argmax(in, dim, keep) : ops::argmin(in, dim, keep);
          EXPECT_TRUE(all_close(a, r.indices, 0, 0));
        }
}

TEST(Reduce, ArgmaxArgminFlattened) {
  const Tensor x = with_ties({5, 7}, 8);
  const std::vector<double> v = x.to_vector();
  const double amax = static_cast<double>(std::max_element(v.begin(), v.end()) - v.begin());
  const double amin = static_cast<double>(std::min_element(v.begin(), v.end()) - v.begin());
  EXPECT_EQ(ops::argmax(noncontiguous(x)).item(), amax);
  EXPECT_EQ(ops::argmin(x).item(), amin);
  EXPECT_EQ(ops::argmax(x).dim(), 0);
  EXPECT_EQ(ops::argmax(x, std::nullopt, true).shape(), (Shape{1, 1}));
}

TEST(Reduce, NanWinsMaxAndMin) {
  const Tensor x = Tensor::from_vector({1, NAN, 3, NAN}, {4}, DType::f64);
  EXPECT_TRUE(std::isnan(ops::max(x).item()));
  EXPECT_TRUE(std::isnan(ops::min(x).item()));
  EXPECT_EQ(ops::max(x, 0).indices.item(), 1);
  EXPECT_EQ(ops::argmin(x).item(), 1);
}

TEST(Reduce, SumToInvertsBroadcast) {
  const Tensor x = randn({4, 5, 3}, 9);
  EXPECT_TRUE(all_close(ops::sum_to(x, {5, 1}), naive(x, {0, 2}, false, vsum).reshape({5, 1}), 1e-12, 1e-12));
}

TEST(Reduce, MisuseErrors) {
  const Tensor x = randn({2, 3}, 1);
  EXPECT_TRUE(throws_mentioning([&] { ops::sum(x, {2}); }, {"sum", "dim 2", "out of range"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::mean(x, {1, -1}); }, {"mean", "repeated", "[2, 3]"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::max(x, -3); }, {"max", "dim -3"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::norm(x, 3.0); }, {"norm", "p must be 1 or 2", "[2, 3]"}));
  EXPECT_TRUE(
      throws_mentioning([&] { ops::var(Tensor::ones({3}, DType::i64)); }, {"var", "floating", "int64"}));
  EXPECT_TRUE(throws_mentioning(
      [&] {
        ops::argmax(Tensor::zeros({2, 0}), 1);
      },
      {"argmax", "empty", "[2, 0]"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::amax(Tensor::zeros({0})); }, {"amax", "empty", "[0]"}));
}
