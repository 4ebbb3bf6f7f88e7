// Gradchecks of dropout with a fixed generator state, so every evaluation
// draws the same mask.
#include <gtest/gtest.h>

#include "autograd/dropout.h"
#include "autograd/arith.h"
#include "autograd/engine.h"
#include "common/testing.h"

namespace cudaseg {
using testing::gradcheck_ok;

TEST(DropoutGrad, DropoutAndDropout2dWithFixedGenerator) {
  auto d = [](const std::vector<Tensor>& in) {
    Generator gen(5, 12);
    return fn::dropout(in[0], 0.4, true, gen);
  };
  EXPECT_TRUE(gradcheck_ok(d, {testing::leaf({3, 7}, 1)}));
  auto d2 = [](const std::vector<Tensor>& in) {
    Generator gen(6);
    return fn::dropout2d(in[0], 0.5, true, gen);
  };
  EXPECT_TRUE(gradcheck_ok(d2, {testing::leaf({2, 3, 2, 2}, 2)}));
}

TEST(DropoutGrad, BackwardUsesTheForwardMask) {
  Tensor x = testing::leaf({5, 8}, 3);
  Generator gen(8);
  Tensor y = fn::dropout(x, 0.5, true, gen);
  autograd::backward(fn::sum(y));
  const std::vector<double> g = x.grad().to_vector(), yv = y.to_vector();
  for (size_t i = 0; i < g.size(); ++i) EXPECT_DOUBLE_EQ(g[i], yv[i] == 0 ? 0.0 : 2.0) << i;
}

TEST(DropoutGrad, EvalIsIdentityForGradients) {
  Tensor x = testing::leaf({4}, 4);
  Generator gen(1);
  Tensor y = fn::dropout(x, 0.5, false, gen);
  EXPECT_TRUE(y.is_same(x));
  autograd::backward(fn::sum(fn::mul(y, 3.0)));
  EXPECT_EQ(x.grad().to_vector(), std::vector<double>(4, 3.0));
}

}  // namespace cudaseg
