// Gradchecks of the differentiable views and shape ops.
#include <gtest/gtest.h>

#include "autograd/arith.h"
#include "autograd/engine.h"
#include "autograd/shape.h"
#include "common/testing.h"

using namespace cudaseg;
using cudaseg::testing::gradcheck_ok;
using cudaseg::testing::leaf;

namespace {
using Inputs = std::vector<Tensor>;
}  // namespace

TEST(ShapeGrad, Views) {
  const Inputs in = {leaf({2, 3, 4}, 1)};
  EXPECT_TRUE(gradcheck_ok([](const Inputs& x) { return fn::reshape(x[0], {4, -1}); }, in));
  EXPECT_TRUE(gradcheck_ok([](const Inputs& x) { return fn::view(x[0], {6, 4}); }, in));
  EXPECT_TRUE(gradcheck_ok([](const Inputs& x) { return fn::flatten(x[0], 1); }, in));
  EXPECT_TRUE(gradcheck_ok([](const Inputs& x) { return fn::squeeze(fn::unsqueeze(x[0], -1)); }, in));
  EXPECT_TRUE(gradcheck_ok([](const Inputs& x) { return fn::squeeze(fn::unsqueeze(x[0], 1), 1); }, in));
  EXPECT_TRUE(gradcheck_ok([](const Inputs& x) { return fn::permute(x[0], {2, 0, 1}); }, in));
  EXPECT_TRUE(gradcheck_ok([](const Inputs& x) { return fn::transpose(x[0], 0, -1); }, in));
  EXPECT_TRUE(gradcheck_ok([](const Inputs& x) { return fn::contiguous(fn::permute(x[0], {1, 2, 0})); }, in));
  EXPECT_TRUE(gradcheck_ok([](const Inputs& x) { return fn::slice(x[0], 2, 1, 4, 2); }, in));
  EXPECT_TRUE(gradcheck_ok([](const Inputs& x) { return fn::slice(x[0], -2, -2, 100); }, in));
  EXPECT_TRUE(gradcheck_ok([](const Inputs& x) { return fn::narrow(x[0], 1, -2, 2); }, in));
  EXPECT_TRUE(gradcheck_ok([](const Inputs& x) { return fn::select(x[0], 1, -1); }, in));
  EXPECT_TRUE(gradcheck_ok([](const Inputs& x) { return fn::expand(x[0], {2, 2, 3, 4}); }, in));
  EXPECT_TRUE(gradcheck_ok([](const Inputs& x) { return fn::expand(x[0], {3, 5}); }, {leaf({3, 1}, 2)}));
}

TEST(ShapeGrad, ViewsOfPermutedInputs) {
  // reshape of a non-contiguous tensor copies; its gradient still reaches x.
  EXPECT_TRUE(gradcheck_ok([](const Inputs& x) { return fn::reshape(fn::transpose(x[0], 0, 1), {-1}); },
                           {leaf({3, 4}, 3)}));
}

TEST(ShapeGrad, CatStackSplit) {
  EXPECT_TRUE(gradcheck_ok(
      [](const Inputs& x) {
        return fn::cat({x[0], x[1], x[2]}, -1);
      },
      {leaf({2, 3}, 4), leaf({2, 1}, 5), leaf({2, 2}, 6)}));
  EXPECT_TRUE(gradcheck_ok(
      [](const Inputs& x) {
        return fn::stack({x[0], x[1]}, 1);
      },
      {leaf({2, 3}, 7), leaf({2, 3}, 8)}));
  auto multi = [](std::vector<Tensor> parts) {
    // Use only some pieces, so the engine's zero-filling of unused outputs is exercised.
    return fn::add(fn::sum(fn::mul(parts[0], 2.0), {}, false), fn::sum(fn::mul(parts.back(), parts.back())));
  };
  EXPECT_TRUE(gradcheck_ok([&](const Inputs& x) { return multi(fn::split(x[0], 2, 1)); }, {leaf({3, 5}, 9)}));
  EXPECT_TRUE(gradcheck_ok(
      [&](const Inputs& x) {
        return multi(fn::split_with_sizes(x[0], {1, 3, 1}, 1));
      },
      {leaf({3, 5}, 10)}));
  EXPECT_TRUE(
      gradcheck_ok([&](const Inputs& x) { return multi(fn::chunk(x[0], 2, 0)); }, {leaf({3, 5}, 11)}));
}

TEST(ShapeGrad, PadEveryMode) {
  const Inputs in = {leaf({2, 2, 4, 5}, 12)};
  for (ops::PadMode m : {ops::PadMode::constant, ops::PadMode::reflect, ops::PadMode::replicate}) {
    EXPECT_TRUE(gradcheck_ok([m](const Inputs& x) { return fn::pad(x[0], {3, 1, 0, 2}, m, 0.5); }, in));
    EXPECT_TRUE(gradcheck_ok([m](const Inputs& x) { return fn::pad(x[0], {-1, 2, 1, -2}, m, 0.5); }, in));
  }
}

TEST(ShapeGrad, RepeatRollIndexSelectChannelShuffle) {
  EXPECT_TRUE(gradcheck_ok([](const Inputs& x) { return fn::repeat(x[0], {2, 1, 3}); }, {leaf({2, 3}, 13)}));
  EXPECT_TRUE(gradcheck_ok(
      [](const Inputs& x) {
        return fn::roll(x[0], {-1, 4}, {0, 1});
      },
      {leaf({3, 5}, 14)}));
  EXPECT_TRUE(gradcheck_ok([](const Inputs& x) { return fn::roll(x[0], {-7}); }, {leaf({3, 5}, 15)}));
  const Tensor idx = Tensor::from_vector({2, 0, 2, 3}, {4}, DType::i64);
  EXPECT_TRUE(
      gradcheck_ok([idx](const Inputs& x) { return fn::index_select(x[0], 1, idx); }, {leaf({2, 4, 3}, 16)}));
  EXPECT_TRUE(
      gradcheck_ok([](const Inputs& x) { return fn::channel_shuffle(x[0], 3); }, {leaf({2, 6, 2, 2}, 17)}));
}

TEST(ShapeGrad, ViewsShareStorage) {
  Tensor x = leaf({2, 3}, 18);
  Tensor v = fn::transpose(x, 0, 1);
  EXPECT_EQ(v.storage(), x.storage());
  EXPECT_TRUE(v.requires_grad());
  EXPECT_TRUE(fn::contiguous(x).is_same(x));
}
