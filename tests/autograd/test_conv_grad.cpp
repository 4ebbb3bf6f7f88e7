// Finite-difference gradchecks of fn::conv2d and fn::conv_transpose2d with
// respect to input, weight and bias, in float64 on small shapes.
#include <gtest/gtest.h>

#include "autograd/conv.h"
#include "autograd/engine.h"
#include "common/testing.h"

using namespace cudaseg;
namespace tt = cudaseg::testing;
using ops::Conv2dParams;
using ops::ConvTranspose2dParams;

namespace {

Conv2dParams conv(std::array<int64_t, 2> stride, std::array<int64_t, 2> padding,
                  std::array<int64_t, 2> dilation = {1, 1}, int64_t groups = 1) {
  Conv2dParams p;
  p.stride = stride;
  p.padding = padding;
  p.dilation = dilation;
  p.groups = groups;
  return p;
}

ConvTranspose2dParams transpose(std::array<int64_t, 2> stride, std::array<int64_t, 2> padding,
                                std::array<int64_t, 2> output_padding, std::array<int64_t, 2> dilation = {1, 1},
                                int64_t groups = 1) {
  ConvTranspose2dParams p;
  p.stride = stride;
  p.padding = padding;
  p.output_padding = output_padding;
  p.dilation = dilation;
  p.groups = groups;
  return p;
}

::testing::AssertionResult conv_gradcheck(const Shape& x, const Shape& w, const Conv2dParams& p, uint64_t seed) {
  const std::vector<Tensor> in = {tt::leaf(x, seed), tt::leaf(w, seed + 1), tt::leaf({w[0]}, seed + 2)};
  return tt::gradcheck_ok([p](const std::vector<Tensor>& t) { return fn::conv2d(t[0], t[1], t[2], p); }, in);
}

::testing::AssertionResult transpose_gradcheck(const Shape& x, const Shape& w, const ConvTranspose2dParams& p,
                                               uint64_t seed) {
  const std::vector<Tensor> in = {tt::leaf(x, seed), tt::leaf(w, seed + 1),
                                  tt::leaf({w[1] * p.groups}, seed + 2)};
  return tt::gradcheck_ok(
      [p](const std::vector<Tensor>& t) { return fn::conv_transpose2d(t[0], t[1], t[2], p); }, in);
}

}  // namespace

TEST(Conv2dGrad, Dense) { EXPECT_TRUE(conv_gradcheck({2, 3, 5, 6}, {4, 3, 3, 3}, conv({1, 1}, {1, 1}), 1)); }
TEST(Conv2dGrad, Strided) { EXPECT_TRUE(conv_gradcheck({1, 3, 7, 6}, {2, 3, 3, 2}, conv({2, 3}, {1, 0}), 2)); }
TEST(Conv2dGrad, Dilated) { EXPECT_TRUE(conv_gradcheck({1, 2, 7, 8}, {3, 2, 3, 3}, conv({1, 1}, {2, 1}, {2, 3}), 3)); }
TEST(Conv2dGrad, Grouped) { EXPECT_TRUE(conv_gradcheck({1, 6, 5, 5}, {4, 3, 3, 3}, conv({1, 1}, {1, 1}, {1, 1}, 2), 4)); }
TEST(Conv2dGrad, Depthwise) {
  EXPECT_TRUE(conv_gradcheck({2, 3, 6, 7}, {3, 1, 3, 3}, conv({2, 2}, {1, 1}, {1, 2}, 3), 5));
  EXPECT_TRUE(conv_gradcheck({1, 2, 5, 5}, {4, 1, 3, 3}, conv({1, 1}, {1, 1}, {1, 1}, 2), 6));
}
TEST(Conv2dGrad, Pointwise) { EXPECT_TRUE(conv_gradcheck({2, 4, 3, 5}, {3, 4, 1, 1}, conv({1, 1}, {0, 0}), 7)); }

TEST(Conv2dGrad, WithoutBiasAndPartialRequiresGrad) {
  // Only the weight requires grad: the input is not saved for its own gradient.
  const Tensor x = tt::randn({1, 2, 5, 4}, 8);
  EXPECT_TRUE(tt::gradcheck_ok(
      [x](const std::vector<Tensor>& t) { return fn::conv2d(x, t[0], Tensor(), conv({1, 1}, {1, 0})); },
      {tt::leaf({3, 2, 3, 3}, 9)}));
  const Tensor w = tt::randn({3, 2, 3, 3}, 10);
  EXPECT_TRUE(tt::gradcheck_ok(
      [w](const std::vector<Tensor>& t) { return fn::conv2d(t[0], w, Tensor(), conv({1, 1}, {1, 0})); },
      {tt::leaf({1, 2, 5, 4}, 11)}));
}

TEST(ConvTranspose2dGrad, Dense) {
  EXPECT_TRUE(transpose_gradcheck({2, 3, 3, 4}, {3, 2, 3, 3}, transpose({2, 2}, {1, 1}, {1, 1}), 20));
}
TEST(ConvTranspose2dGrad, StridedDilatedOutputPadding) {
  EXPECT_TRUE(transpose_gradcheck({1, 2, 3, 3}, {2, 3, 3, 2}, transpose({1, 3}, {1, 0}, {1, 2}, {2, 1}), 21));
}
TEST(ConvTranspose2dGrad, GroupedAndDepthwise) {
  EXPECT_TRUE(transpose_gradcheck({1, 4, 3, 3}, {4, 2, 3, 3}, transpose({2, 2}, {1, 1}, {0, 1}, {1, 1}, 2), 22));
  EXPECT_TRUE(transpose_gradcheck({1, 3, 3, 4}, {3, 1, 4, 4}, transpose({2, 2}, {1, 1}, {0, 0}, {1, 1}, 3), 23));
}

TEST(ConvGrad, BackwardReachesLeavesThroughAChain) {
  // conv2d then conv_transpose2d: the gradient of the sum flows through both nodes.
  Tensor x = tt::leaf({1, 2, 6, 6}, 30), w1 = tt::leaf({4, 2, 3, 3}, 31), w2 = tt::leaf({4, 2, 2, 2}, 32);
  Tensor y = fn::conv_transpose2d(fn::conv2d(x, w1, Tensor(), conv({2, 2}, {1, 1})), w2, Tensor(),
                                  transpose({2, 2}, {0, 0}, {0, 0}));
  ASSERT_EQ(y.shape(), (Shape{1, 2, 6, 6}));
  autograd::backward(y, Tensor::ones(y.shape(), DType::f64));
  EXPECT_EQ(x.grad().shape(), x.shape());
  EXPECT_EQ(w1.grad().shape(), w1.shape());
  EXPECT_EQ(w2.grad().shape(), w2.shape());
}

// Where a gradient is needed, fn::depthwise_conv2d_tokens runs through the
// map's differentiable ops: gradients for the tokens, weight and bias.
TEST(ConvGrad, DepthwiseTokensThroughTheMap) {
  auto f = [](const std::vector<Tensor>& x) { return fn::depthwise_conv2d_tokens(x[0], 3, 4, x[1], x[2], true); };
  EXPECT_TRUE(cudaseg::testing::gradcheck_ok(f, {cudaseg::testing::leaf({2, 12, 5}, 82),
                                                 cudaseg::testing::leaf({5, 1, 3, 3}, 83),
                                                 cudaseg::testing::leaf({5}, 84)}));
}
