// Gradchecks of the differentiable elementwise ops, with inputs kept away
// from kinks (abs at 0, clamp bounds) and domains (sqrt/log of positives).
#include <gtest/gtest.h>

#include <cmath>

#include "autograd/arith.h"
#include "autograd/engine.h"
#include "autograd/unary.h"
#include "common/testing.h"
#include "ops/compare.h"

using namespace cudaseg;
using cudaseg::testing::gradcheck_ok;
using cudaseg::testing::leaf;

namespace {

using Inputs = std::vector<Tensor>;

Tensor positive_leaf(const Shape& shape, uint64_t seed) {
  Tensor t = cudaseg::testing::uniform(shape, 0.5, 2.0, seed);
  t.set_requires_grad(true);
  return t;
}

// Values at least `gap` away from every point in `kinks`.
Tensor leaf_away_from(const Shape& shape, uint64_t seed, const std::vector<double>& kinks,
                      double gap = 0.05) {
  std::vector<double> v = cudaseg::testing::randn(shape, seed).to_vector();
  for (double& e : v)
    for (double k : kinks)
      if (std::abs(e - k) < gap) e = k + (e < k ? -gap : gap);
  Tensor t = Tensor::from_vector(v, shape, DType::f64);
  t.set_requires_grad(true);
  return t;
}

}  // namespace

TEST(ElementwiseGrad, BroadcastBinary) {
  const Inputs in = {leaf({3, 1, 5}, 1), leaf({4, 1}, 2)};
  EXPECT_TRUE(gradcheck_ok([](const Inputs& x) { return fn::add(x[0], x[1], -0.7); }, in));
  EXPECT_TRUE(gradcheck_ok([](const Inputs& x) { return fn::sub(x[0], x[1], 1.3); }, in));
  EXPECT_TRUE(gradcheck_ok([](const Inputs& x) { return fn::mul(x[0], x[1]); }, in));
  EXPECT_TRUE(gradcheck_ok([](const Inputs& x) { return fn::div(x[0], x[1]); },
                           {leaf({3, 1, 5}, 1), positive_leaf({4, 1}, 2)}));
}

TEST(ElementwiseGrad, ScalarForms) {
  const Inputs in = {leaf({3, 4}, 3)};
  EXPECT_TRUE(gradcheck_ok([](const Inputs& x) { return fn::add(x[0], 2.0); }, in));
  EXPECT_TRUE(gradcheck_ok([](const Inputs& x) { return fn::sub(x[0], 2.0); }, in));
  EXPECT_TRUE(gradcheck_ok([](const Inputs& x) { return fn::rsub(x[0], 2.0); }, in));
  EXPECT_TRUE(gradcheck_ok([](const Inputs& x) { return fn::mul(x[0], -1.5); }, in));
  EXPECT_TRUE(gradcheck_ok([](const Inputs& x) { return fn::div(x[0], -1.5); }, in));
}

TEST(ElementwiseGrad, PowTensorAndScalar) {
  EXPECT_TRUE(gradcheck_ok([](const Inputs& x) { return fn::pow(x[0], x[1]); },
                           {positive_leaf({3, 1, 4}, 4), leaf({2, 1}, 5)}));
  for (double e : {2.0, 3.0, -1.5, 0.5, 0.0})
    EXPECT_TRUE(gradcheck_ok([e](const Inputs& x) { return fn::pow(x[0], e); }, {positive_leaf({3, 4}, 6)}))
        << e;
  EXPECT_TRUE(gradcheck_ok([](const Inputs& x) { return fn::pow(x[0], 3.0); }, {leaf({3, 4}, 7)}));
}

TEST(ElementwiseGrad, PowExponentGradientIsZeroAtZeroBase) {
  Tensor a = Tensor::from_vector({0.0, 2.0}, {2}, DType::f64);
  Tensor b = Tensor::from_vector({2.0, 3.0}, {2}, DType::f64);
  a.set_requires_grad(true);
  b.set_requires_grad(true);
  autograd::backward(fn::sum(fn::pow(a, b)));
  EXPECT_EQ(b.grad().to_vector()[0], 0.0);
  EXPECT_NEAR(b.grad().to_vector()[1], 8.0 * std::log(2.0), 1e-12);
  EXPECT_EQ(a.grad().to_vector(), (std::vector<double>{0.0, 12.0}));
}

TEST(ElementwiseGrad, Unary) {
  EXPECT_TRUE(gradcheck_ok([](const Inputs& x) { return fn::neg(x[0]); }, {leaf({3, 5}, 8)}));
  EXPECT_TRUE(gradcheck_ok([](const Inputs& x) { return fn::exp(x[0]); }, {leaf({3, 5}, 9)}));
  EXPECT_TRUE(gradcheck_ok([](const Inputs& x) { return fn::sqrt(x[0]); }, {positive_leaf({3, 5}, 10)}));
  EXPECT_TRUE(gradcheck_ok([](const Inputs& x) { return fn::rsqrt(x[0]); }, {positive_leaf({3, 5}, 11)}));
  EXPECT_TRUE(gradcheck_ok([](const Inputs& x) { return fn::log(x[0]); }, {positive_leaf({3, 5}, 12)}));
  EXPECT_TRUE(
      gradcheck_ok([](const Inputs& x) { return fn::abs(x[0]); }, {leaf_away_from({3, 5}, 13, {0.0})}));
}

TEST(ElementwiseGrad, AbsAtZeroIsZero) {
  Tensor x = Tensor::from_vector({0.0, -2.0, 3.0}, {3}, DType::f64);
  x.set_requires_grad(true);
  autograd::backward(fn::sum(fn::abs(x)));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{0, -1, 1}));
}

TEST(ElementwiseGrad, ClampEveryOption) {
  const Tensor x = leaf_away_from({4, 5}, 14, {-0.4, 0.3});
  EXPECT_TRUE(gradcheck_ok([](const Inputs& v) { return fn::clamp(v[0], -0.4, 0.3); }, {x}));
  EXPECT_TRUE(gradcheck_ok([](const Inputs& v) { return fn::clamp(v[0], -0.4, std::nullopt); }, {x}));
  EXPECT_TRUE(gradcheck_ok([](const Inputs& v) { return fn::clamp(v[0], std::nullopt, 0.3); }, {x}));
  // At the bounds the gradient passes (PyTorch: min <= x <= max).
  Tensor b = Tensor::from_vector({0.0, 0.5, 1.0, 2.0}, {4}, DType::f64);
  b.set_requires_grad(true);
  autograd::backward(fn::sum(fn::clamp(b, 0.0, 1.0)));
  EXPECT_EQ(b.grad().to_vector(), (std::vector<double>{1, 1, 1, 0}));
}

TEST(ElementwiseGrad, WhereBroadcasting) {
  const Tensor cond = ops::gt(cudaseg::testing::randn({3, 1}, 15), 0.0);
  EXPECT_TRUE(gradcheck_ok([cond](const Inputs& x) { return fn::where(cond, x[0], x[1]); },
                           {leaf({1, 4}, 16), leaf({3, 4}, 17)}));
}

TEST(ElementwiseGrad, ToDtypeCastsTheGradientBack) {
  Tensor x = cudaseg::testing::randn({2, 3}, 18, DType::f32);
  x.set_requires_grad(true);
  const Tensor w = cudaseg::testing::randn({2, 3}, 19);
  Tensor y = fn::to_dtype(x, DType::f64);
  EXPECT_EQ(y.dtype(), DType::f64);
  autograd::backward(fn::sum(fn::mul(y, w)));
  EXPECT_EQ(x.grad().dtype(), DType::f32);
  EXPECT_TRUE(cudaseg::testing::all_close(x.grad(), w.to(DType::f32), 0, 0));
  EXPECT_TRUE(fn::to_dtype(x, DType::f32).is_same(x));
  EXPECT_FALSE(fn::to_dtype(x, DType::i64).requires_grad());
}
