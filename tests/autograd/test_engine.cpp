#include <gtest/gtest.h>

#include <set>

#include "autograd/arith.h"
#include "autograd/engine.h"
#include "autograd/gradcheck.h"
#include "runtime/rng.h"

using namespace cudaseg;

namespace {
Tensor leaf(const Shape& shape, uint64_t seed) {
  Tensor t = Generator(seed).normal(shape, 0.0, 1.0, DType::f64);
  t.set_requires_grad(true);
  return t;
}
}  // namespace

TEST(Autograd, BroadcastArithmeticGradcheck) {
  const std::vector<Tensor> in = {leaf({3, 1, 5}, 1), leaf({4, 1}, 2), leaf({5}, 3)};
  auto f = [](const std::vector<Tensor>& x) {
    Tensor y = fn::mul(fn::add(x[0], x[1], 0.5), x[2]);
    y = fn::sub(y, fn::div(x[1], fn::add(fn::mul(x[2], x[2]), 1.0)), 2.0);
    return fn::sum(fn::mul(y, 3.0), {0, 2}, true);
  };
  auto r = autograd::gradcheck(autograd::SingleFn(f), in);
  EXPECT_TRUE(r.ok) << r.report;
}

TEST(Autograd, GradcheckCatchesAWrongGradient) {
  // x * x recorded as mul(x, x.detach()) has half the true gradient.
  auto wrong = [](const std::vector<Tensor>& x) { return fn::mul(x[0], x[0].detach()); };
  EXPECT_FALSE(autograd::gradcheck(autograd::SingleFn(wrong), {leaf({4}, 9)}).ok);
}

TEST(Autograd, GradientsAccumulateAcrossUsesAndCalls) {
  Tensor x = leaf({3}, 4);
  Tensor y = fn::sum(fn::add(fn::mul(x, 2.0), x));  // dy/dx = 3
  autograd::backward(y);
  EXPECT_EQ(x.grad().to_vector(), std::vector<double>(3, 3.0));
  autograd::backward(fn::sum(x));
  EXPECT_EQ(x.grad().to_vector(), std::vector<double>(3, 4.0));
}

TEST(Autograd, NoGradGuardAndDetachRecordNothing) {
  Tensor x = leaf({2}, 5);
  {
    autograd::NoGradGuard guard;
    Tensor y = fn::mul(x, 2.0);
    EXPECT_FALSE(y.requires_grad());
    EXPECT_TRUE(y.is_leaf());
  }
  Tensor d = x.detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_FALSE(fn::mul(d, 3.0).requires_grad());
}

TEST(Autograd, ExplicitGradientForNonScalarRoot) {
  Tensor x = leaf({2, 2}, 6);
  Tensor y = fn::mul(x, 5.0);
  EXPECT_THROW(autograd::backward(y), Error);
  autograd::backward(y, Tensor::from_vector({1, 2, 3, 4}, {2, 2}, DType::f64));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{5, 10, 15, 20}));
}

TEST(Autograd, InPlaceWriteToSavedTensorIsDetected) {
  Tensor x = leaf({3}, 7);
  Tensor w = Generator(8).normal({3}, 0, 1, DType::f64);
  Tensor y = fn::sum(fn::mul(x, w));
  w.fill_(1.0);  // w was saved for x's gradient
  try {
    autograd::backward(y);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("modified in place"), std::string::npos) << e.what();
  }
}

TEST(Autograd, SecondBackwardNeedsRetainGraph) {
  Tensor x = leaf({3}, 10);
  Tensor y = fn::sum(fn::mul(x, x));
  autograd::backward(y, Tensor(), true);
  autograd::backward(y);
  std::vector<double> xv = x.to_vector(), g = x.grad().to_vector();
  for (size_t i = 0; i < 3; ++i) EXPECT_DOUBLE_EQ(g[i], 4 * xv[i]);
  EXPECT_THROW(autograd::backward(y), Error);
}

TEST(Autograd, GraphIsFreedWithItsOutputs) {
  // A node saving its own output would keep itself alive through the output's grad_fn.
  std::weak_ptr<autograd::Node> node;
  {
    Tensor a = leaf({3}, 11), b = leaf({3}, 12);
    Tensor q = fn::div(a, b);
    node = q.grad_fn();
    EXPECT_FALSE(node.expired());
  }
  EXPECT_TRUE(node.expired());
}

// A GradReadyHook sees each leaf once, as soon as its gradient is complete:
// down a chain of products the last factor's gradient is final first, before
// the backward of the earlier products runs (data-parallel training starts
// reducing it then); outside the hook's scope nothing is reported.
TEST(Autograd, GradReadyHookReportsLeavesAsEarlyAsTheGraphAllows) {
  std::vector<Tensor> w;
  for (uint64_t i = 0; i < 6; ++i) w.push_back(leaf({4}, 10 + i));
  Tensor h = w[0];
  for (size_t i = 1; i < w.size(); ++i) h = fn::mul(h, w[i]);
  std::vector<const void*> order;
  size_t calls = 0;
  {
    autograd::GradReadyHook hook([&](const Tensor& l) {
      ++calls;
      EXPECT_TRUE(l.grad().defined());
      order.push_back(&l.impl());
    });
    autograd::backward(fn::sum(h));
  }
  // w[0] and w[1] meet in the first product, whose backward gives both at once.
  ASSERT_EQ(order.size(), w.size());
  for (size_t k = 0; k + 2 < w.size(); ++k) EXPECT_EQ(order[k], &w[w.size() - 1 - k].impl()) << k;
  const std::set<const void*> last{order[4], order[5]};
  EXPECT_EQ(last, (std::set<const void*>{&w[0].impl(), &w[1].impl()}));
  Tensor again = w[0];
  for (size_t i = 1; i < w.size(); ++i) again = fn::mul(again, w[i]);
  autograd::backward(fn::sum(again));
  EXPECT_EQ(calls, w.size());
}
