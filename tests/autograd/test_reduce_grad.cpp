// Gradchecks of the differentiable reductions, and PyTorch's tie rules for
// max/min.
#include <gtest/gtest.h>

#include "autograd/arith.h"
#include "autograd/engine.h"
#include "autograd/reduce.h"
#include "common/testing.h"

using namespace cudaseg;
using cudaseg::testing::gradcheck_ok;
using cudaseg::testing::leaf;

namespace {
using Inputs = std::vector<Tensor>;
const std::vector<std::vector<int64_t>> kDimSets = {{}, {1}, {-1, 0}};

Tensor leaf_from(const std::vector<double>& v, const Shape& shape) {
  Tensor t = Tensor::from_vector(v, shape, DType::f64);
  t.set_requires_grad(true);
  return t;
}
}  // namespace

TEST(ReduceGrad, SumMean) {
  for (const auto& dims : kDimSets)
    for (bool keep : {false, true}) {
      EXPECT_TRUE(
          gradcheck_ok([&](const Inputs& x) { return fn::sum(x[0], dims, keep); }, {leaf({3, 4, 2}, 1)}));
      EXPECT_TRUE(
          gradcheck_ok([&](const Inputs& x) { return fn::mean(x[0], dims, keep); }, {leaf({3, 4, 2}, 2)}));
    }
}

TEST(ReduceGrad, VarStdNorm) {
  for (const auto& dims : kDimSets)
    for (bool keep : {false, true}) {
      for (double c : {0.0, 1.0}) {
        EXPECT_TRUE(gradcheck_ok([&](const Inputs& x) { return fn::var(x[0], dims, c, keep); },
                                 {leaf({3, 4, 2}, 3)}));
        EXPECT_TRUE(gradcheck_ok([&](const Inputs& x) { return fn::std(x[0], dims, c, keep); },
                                 {leaf({3, 4, 2}, 4)}));
      }
      EXPECT_TRUE(gradcheck_ok([&](const Inputs& x) { return fn::norm(x[0], 2.0, dims, keep); },
                               {leaf({3, 4, 2}, 5)}));
      EXPECT_TRUE(gradcheck_ok([&](const Inputs& x) { return fn::norm(x[0], 1.0, dims, keep); },
                               {leaf({3, 4, 2}, 6)}));
    }
}

TEST(ReduceGrad, ZeroNormAndZeroStdPassNoGradient) {
  Tensor z = leaf_from({0, 0, 0}, {3});
  autograd::backward(fn::norm(z));
  EXPECT_EQ(z.grad().to_vector(), std::vector<double>(3, 0.0));
  Tensor c = leaf_from({2, 2, 2}, {3});
  autograd::backward(fn::std(c));
  EXPECT_EQ(c.grad().to_vector(), std::vector<double>(3, 0.0));
}

TEST(ReduceGrad, MaxMinDistinctValues) {
  for (const auto& dims : kDimSets)
    for (bool keep : {false, true}) {
      EXPECT_TRUE(
          gradcheck_ok([&](const Inputs& x) { return fn::amax(x[0], dims, keep); }, {leaf({3, 4, 2}, 7)}));
      EXPECT_TRUE(
          gradcheck_ok([&](const Inputs& x) { return fn::amin(x[0], dims, keep); }, {leaf({3, 4, 2}, 8)}));
    }
  EXPECT_TRUE(gradcheck_ok([](const Inputs& x) { return fn::max(x[0]); }, {leaf({3, 4}, 9)}));
  EXPECT_TRUE(gradcheck_ok([](const Inputs& x) { return fn::min(x[0]); }, {leaf({3, 4}, 10)}));
  for (int64_t dim : {0, 1, -1})
    for (bool keep : {false, true}) {
      EXPECT_TRUE(gradcheck_ok([&](const Inputs& x) { return fn::max(x[0], dim, keep).values; },
                               {leaf({3, 4, 2}, 11)}));
      EXPECT_TRUE(gradcheck_ok([&](const Inputs& x) { return fn::min(x[0], dim, keep).values; },
                               {leaf({3, 4, 2}, 12)}));
    }
}

TEST(ReduceGrad, FullMaxSharesTiesEvenly) {
  Tensor x = leaf_from({1, 3, 3, 2}, {4});
  autograd::backward(fn::max(x));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{0, 0.5, 0.5, 0}));
  Tensor y = leaf_from({1, 3, 3, 2, 1, 1}, {2, 3});
  autograd::backward(fn::amin(y, {1}), Tensor::from_vector({1, 6}, {2}, DType::f64));
  EXPECT_EQ(y.grad().to_vector(), (std::vector<double>{1, 0, 0, 0, 3, 3}));
}

TEST(ReduceGrad, MaxAlongDimSendsGradToFirstTie) {
  Tensor x = leaf_from({1, 3, 3, 2, 7, 7}, {2, 3});
  const ops::ValuesIndices r = fn::max(x, 1);
  EXPECT_FALSE(r.indices.requires_grad());
  autograd::backward(fn::sum(r.values));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{0, 1, 0, 0, 1, 0}));
}
