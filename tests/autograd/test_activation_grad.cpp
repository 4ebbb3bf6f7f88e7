// Gradchecks of the activations, on inputs kept away from their kinks.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "autograd/activation.h"
#include "autograd/arith.h"
#include "autograd/engine.h"
#include "common/testing.h"

namespace cudaseg {
using testing::gradcheck_ok;

namespace {

using Inputs = std::vector<Tensor>;

// Random values in [-5, 5], each at least 0.05 from every kink (0, +-1, +-3, 2, 6).
Tensor away_from_kinks(const Shape& shape, uint64_t seed) {
  std::vector<double> v = testing::uniform(shape, -5.0, 5.0, seed).to_vector();
  for (double& e : v)
    for (double k : {0.0, 1.0, -1.0, 3.0, -3.0, 2.0, 6.0})
      if (std::abs(e - k) < 0.05) e = k + (e < k ? -0.05 : 0.05);
  Tensor t = Tensor::from_vector(v, shape, DType::f64);
  t.set_requires_grad(true);
  return t;
}

}  // namespace

TEST(ActivationGrad, EveryPointwiseActivation) {
  const std::vector<std::pair<const char*, std::function<Tensor(const Tensor&)>>> fns = {
      {"relu", [](const Tensor& x) { return fn::relu(x); }},
      {"relu6", [](const Tensor& x) { return fn::relu6(fn::mul(x, 2.0)); }},
      {"leaky_relu", [](const Tensor& x) { return fn::leaky_relu(x, 0.2); }},
      {"elu", [](const Tensor& x) { return fn::elu(x, 1.3); }},
      {"celu", [](const Tensor& x) { return fn::celu(x, 0.6); }},
      {"selu", [](const Tensor& x) { return fn::selu(x); }},
      {"gelu", [](const Tensor& x) { return fn::gelu(x); }},
      {"gelu_tanh", [](const Tensor& x) { return fn::gelu(x, "tanh"); }},
      {"silu", [](const Tensor& x) { return fn::silu(x); }},
      {"hardswish", [](const Tensor& x) { return fn::hardswish(x); }},
      {"hardsigmoid", [](const Tensor& x) { return fn::hardsigmoid(x); }},
      {"hardtanh", [](const Tensor& x) { return fn::hardtanh(x, -1.0, 2.0); }},
      {"sigmoid", [](const Tensor& x) { return fn::sigmoid(x); }},
      {"tanh", [](const Tensor& x) { return fn::tanh(x); }},
  };
  for (const auto& [name, f] : fns) {
    auto g = [&f](const Inputs& in) { return f(in[0]); };
    EXPECT_TRUE(gradcheck_ok(g, {away_from_kinks({4, 5}, 1)})) << name;
  }
}

TEST(ActivationGrad, PreluInputAndWeight) {
  auto f = [](const Inputs& in) { return fn::prelu(in[0], in[1]); };
  EXPECT_TRUE(gradcheck_ok(f, {away_from_kinks({2, 3, 4}, 2), testing::leaf({3}, 3)}));
  EXPECT_TRUE(gradcheck_ok(f, {away_from_kinks({2, 3, 4}, 4), testing::leaf({1}, 5)}));
  EXPECT_TRUE(gradcheck_ok(f, {testing::randn({2, 3}, 6), testing::leaf({3}, 7)}));  // weight only
}

TEST(ActivationGrad, GluEveryDim) {
  for (int64_t dim : {0, 1, -1}) {
    auto f = [dim](const Inputs& in) { return fn::glu(in[0], dim); };
    EXPECT_TRUE(gradcheck_ok(f, {testing::leaf({4, 2, 6}, 8)})) << dim;
  }
}

TEST(ActivationGrad, ChainOfActivationsAccumulates) {
  Tensor x = away_from_kinks({6}, 9);
  auto f = [](const Inputs& in) { return fn::mul(fn::sigmoid(in[0]), fn::tanh(fn::silu(in[0]))); };
  EXPECT_TRUE(gradcheck_ok(f, {x}));
}

}  // namespace cudaseg
