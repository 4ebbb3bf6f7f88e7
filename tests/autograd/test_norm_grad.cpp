// Gradchecks of the normalisations, for every differentiable input.
#include <gtest/gtest.h>

#include "autograd/arith.h"
#include "autograd/engine.h"
#include "autograd/norm.h"
#include "common/testing.h"

namespace cudaseg {
using testing::gradcheck_ok;
using testing::leaf;

namespace {
using Inputs = std::vector<Tensor>;
}

TEST(NormGrad, BatchNormTrainingAllInputs) {
  Tensor rm = Tensor::zeros({3}, DType::f64), rv = Tensor::ones({3}, DType::f64);
  auto f = [&](const Inputs& in) { return fn::batch_norm(in[0], rm, rv, in[1], in[2], true, 0.1, 1e-3); };
  EXPECT_TRUE(gradcheck_ok(f, {leaf({2, 3, 2, 3}, 1), leaf({3}, 2), leaf({3}, 3)}));
  // Without affine parameters or running stats, and on [N, C].
  auto g = [](const Inputs& in) { return fn::batch_norm(in[0], Tensor(), Tensor(), Tensor(), Tensor(), true); };
  EXPECT_TRUE(gradcheck_ok(g, {leaf({2, 3, 5}, 4)}));
  EXPECT_TRUE(gradcheck_ok(g, {leaf({5, 2}, 5)}));
}

TEST(NormGrad, BatchNormEvalAllInputs) {
  const Tensor rm = testing::randn({3}, 6), rv = testing::uniform({3}, 0.5, 2.0, 7);
  auto f = [&](const Inputs& in) { return fn::batch_norm(in[0], rm, rv, in[1], in[2], false, 0.1, 1e-3); };
  EXPECT_TRUE(gradcheck_ok(f, {leaf({2, 3, 2, 3}, 8), leaf({3}, 9), leaf({3}, 10)}));
}

TEST(NormGrad, BatchNormWeightOnlyAndInputOnlyRequireGrad) {
  Tensor x = testing::randn({3, 2, 4}, 11);
  auto f = [&](const Inputs& in) { return fn::batch_norm(in[0], Tensor(), Tensor(), in[1], in[2], true); };
  EXPECT_TRUE(gradcheck_ok(f, {x, leaf({2}, 12), testing::randn({2}, 13)}));
  EXPECT_TRUE(gradcheck_ok(f, {leaf({3, 2, 4}, 14), testing::randn({2}, 12), Tensor()}));
}

TEST(NormGrad, BatchNormRejectsRunningStatsThatRequireGrad) {
  Tensor rm = leaf({2}, 15), rv = Tensor::ones({2}, DType::f64);
  EXPECT_TRUE(testing::throws_mentioning([&] { fn::batch_norm(leaf({3, 2}, 16), rm, rv, Tensor(), Tensor(), true); },
                                         {"batch_norm", "running statistics", "[2]"}));
}

TEST(NormGrad, RunningStatUpdateInvalidatesAnEvalGraphThatSavedThem) {
  Tensor rm = Tensor::zeros({2}, DType::f64), rv = Tensor::ones({2}, DType::f64);
  Tensor x = leaf({3, 2}, 30);
  Tensor y = fn::batch_norm(x, rm, rv, Tensor(), Tensor(), false);
  fn::batch_norm(x.detach(), rm, rv, Tensor(), Tensor(), true);  // updates rm and rv in place
  EXPECT_TRUE(testing::throws_mentioning([&] { autograd::backward(fn::sum(y)); }, {"modified in place"}));
}

TEST(NormGrad, LayerNormLastDims) {
  auto f = [](const Inputs& in) { return fn::layer_norm(in[0], {3, 4}, in[1], in[2], 1e-3); };
  EXPECT_TRUE(gradcheck_ok(f, {leaf({2, 3, 4}, 17), leaf({3, 4}, 18), leaf({3, 4}, 19)}));
  auto g = [](const Inputs& in) { return fn::layer_norm(in[0], {5}); };
  EXPECT_TRUE(gradcheck_ok(g, {leaf({3, 5}, 20)}));
}

TEST(NormGrad, LayerNormChannels) {
  auto f = [](const Inputs& in) { return fn::layer_norm_channels(in[0], in[1], in[2], 1e-6); };
  EXPECT_TRUE(gradcheck_ok(f, {leaf({2, 3, 2, 3}, 21), leaf({3}, 22), leaf({3}, 23)}));
  auto g = [](const Inputs& in) { return fn::layer_norm_channels(in[0]); };
  EXPECT_TRUE(gradcheck_ok(g, {leaf({2, 4, 3}, 24)}));
}

TEST(NormGrad, GroupNorm) {
  for (int64_t groups : {1, 2, 4}) {
    auto f = [groups](const Inputs& in) { return fn::group_norm(in[0], groups, in[1], in[2], 1e-4); };
    EXPECT_TRUE(gradcheck_ok(f, {leaf({2, 4, 3}, 25), leaf({4}, 26), leaf({4}, 27)})) << groups;
  }
  auto g = [](const Inputs& in) { return fn::group_norm(in[0], 3); };
  EXPECT_TRUE(gradcheck_ok(g, {leaf({2, 6, 2, 2}, 28)}));
}

TEST(NormGrad, Normalize) {
  for (double p : {2.0, 1.0, 3.0})
    for (int64_t dim : {0, 1, -1}) {
      auto f = [p, dim](const Inputs& in) { return fn::normalize(in[0], p, dim); };
      EXPECT_TRUE(gradcheck_ok(f, {leaf({3, 4, 2}, 29)})) << p << " " << dim;
    }
  // Rows below eps are divided by eps, a constant.
  auto g = [](const Inputs& in) { return fn::normalize(in[0], 2.0, 1, 1e-1); };
  const Tensor small = Tensor::from_vector({0.01, -0.02, 0.03, 1.0, 2.0, -0.5}, {2, 3}, DType::f64);
  EXPECT_TRUE(gradcheck_ok(g, {small.clone().set_requires_grad(true)}));
}

}  // namespace cudaseg
