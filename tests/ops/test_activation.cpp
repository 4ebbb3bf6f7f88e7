// Activations, forward and backward, against naive double-precision formulas,
// including PyTorch's conventions at the kinks.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "common/testing.h"
#include "ops/activation.h"

namespace cudaseg {
using testing::all_close;
using testing::throws_mentioning;

namespace {

using Scalar = std::function<double(double)>;

struct Case {
  const char* name;
  std::function<Tensor(const Tensor&)> forward;
  std::function<Tensor(const Tensor& g, const Tensor& x)> backward;  // from the input
  Scalar f, df;
};

double sigm(double v) { return 1.0 / (1.0 + std::exp(-v)); }
const double kScale = 1.0507009873554804934193349852946, kAlpha = 1.6732632423543772848170429916717;
const double kPi = 3.14159265358979323846;

double gelu_tanh(double v) {
  return 0.5 * v * (1 + std::tanh(std::sqrt(2 / kPi) * (v + 0.044715 * v * v * v)));
}

std::vector<Case> cases() {
  return {
      {"relu", [](const Tensor& x) { return ops::relu(x); }, ops::relu_backward,
       [](double v) { return std::max(v, 0.0); }, [](double v) { return v > 0 ? 1.0 : 0.0; }},
      {"relu6", [](const Tensor& x) { return ops::relu6(x); }, ops::relu6_backward,
       [](double v) { return std::min(std::max(v, 0.0), 6.0); }, [](double v) { return v > 0 && v < 6 ? 1.0 : 0.0; }},
      {"leaky_relu", [](const Tensor& x) { return ops::leaky_relu(x, 0.2); },
       [](const Tensor& g, const Tensor& x) { return ops::leaky_relu_backward(g, x, 0.2); },
       [](double v) { return v > 0 ? v : 0.2 * v; }, [](double v) { return v > 0 ? 1.0 : 0.2; }},
      {"leaky_relu_default", [](const Tensor& x) { return ops::leaky_relu(x); },
       [](const Tensor& g, const Tensor& x) { return ops::leaky_relu_backward(g, x); },
       [](double v) { return v > 0 ? v : 0.01 * v; }, [](double v) { return v > 0 ? 1.0 : 0.01; }},
      {"elu", [](const Tensor& x) { return ops::elu(x, 1.5); },
       [](const Tensor& g, const Tensor& x) { return ops::elu_backward(g, x, 1.5); },
       [](double v) { return v > 0 ? v : 1.5 * (std::exp(v) - 1); },
       [](double v) { return v > 0 ? 1.0 : 1.5 * std::exp(v); }},
      {"celu", [](const Tensor& x) { return ops::celu(x, 0.7); },
       [](const Tensor& g, const Tensor& x) { return ops::celu_backward(g, x, 0.7); },
       [](double v) { return std::max(0.0, v) + std::min(0.0, 0.7 * (std::exp(v / 0.7) - 1)); },
       [](double v) { return v > 0 ? 1.0 : std::exp(v / 0.7); }},
      {"selu", [](const Tensor& x) { return ops::selu(x); }, ops::selu_backward,
       [](double v) { return kScale * (std::max(0.0, v) + std::min(0.0, kAlpha * (std::exp(v) - 1))); },
       [](double v) { return v > 0 ? kScale : kScale * kAlpha * std::exp(v); }},
      {"gelu", [](const Tensor& x) { return ops::gelu(x); },
       [](const Tensor& g, const Tensor& x) { return ops::gelu_backward(g, x); },
       [](double v) { return v * 0.5 * std::erfc(-v / std::sqrt(2.0)); },
       [](double v) { return 0.5 * std::erfc(-v / std::sqrt(2.0)) + v * std::exp(-v * v / 2) / std::sqrt(2 * kPi); }},
      {"gelu_tanh", [](const Tensor& x) { return ops::gelu(x, "tanh"); },
       [](const Tensor& g, const Tensor& x) { return ops::gelu_backward(g, x, "tanh"); }, gelu_tanh,
       [](double v) { return (gelu_tanh(v + 1e-6) - gelu_tanh(v - 1e-6)) / 2e-6; }},
      {"silu", [](const Tensor& x) { return ops::silu(x); }, ops::silu_backward,
       [](double v) { return v / (1 + std::exp(-v)); },
       [](double v) { return sigm(v) + v * sigm(v) * (1 - sigm(v)); }},
      {"hardswish", [](const Tensor& x) { return ops::hardswish(x); }, ops::hardswish_backward,
       [](double v) { return v <= -3 ? 0.0 : (v >= 3 ? v : v * (v + 3) / 6); },
       [](double v) { return v < -3 ? 0.0 : (v <= 3 ? (2 * v + 3) / 6 : 1.0); }},
      {"hardsigmoid", [](const Tensor& x) { return ops::hardsigmoid(x); }, ops::hardsigmoid_backward,
       [](double v) { return v <= -3 ? 0.0 : (v >= 3 ? 1.0 : v / 6 + 0.5); },
       [](double v) { return v > -3 && v < 3 ? 1.0 / 6 : 0.0; }},
      {"hardtanh", [](const Tensor& x) { return ops::hardtanh(x, -1.0, 3.0); },
       [](const Tensor& g, const Tensor& x) { return ops::hardtanh_backward(g, x, -1.0, 3.0); },
       [](double v) { return v < -1 ? -1.0 : (v > 3 ? 3.0 : v); }, [](double v) { return v > -1 && v < 3 ? 1.0 : 0.0; }},
      {"hardtanh_default", [](const Tensor& x) { return ops::hardtanh(x); },
       [](const Tensor& g, const Tensor& x) { return ops::hardtanh_backward(g, x); },
       [](double v) { return v < -1 ? -1.0 : (v > 1 ? 1.0 : v); }, [](double v) { return v > -1 && v < 1 ? 1.0 : 0.0; }},
      {"sigmoid", [](const Tensor& x) { return ops::sigmoid(x); },
       [](const Tensor& g, const Tensor& x) { return ops::sigmoid_backward(g, ops::sigmoid(x)); }, sigm,
       [](double v) { return sigm(v) * (1 - sigm(v)); }},
      {"tanh", [](const Tensor& x) { return ops::tanh(x); },
       [](const Tensor& g, const Tensor& x) { return ops::tanh_backward(g, ops::tanh(x)); },
       [](double v) { return std::tanh(v); }, [](double v) { return 1 - std::tanh(v) * std::tanh(v); }},
  };
}

// Random values spread over [-7, 7] plus every kink of the set above.
Tensor test_input(uint64_t seed) {
  std::vector<double> v = testing::randn({7, 13}, seed).to_vector();
  for (double& e : v) e *= 3.0;
  const double kinks[] = {0.0, -3.0, 3.0, -1.0, 1.0, 6.0, 7.0, -7.0};
  for (size_t i = 0; i < sizeof(kinks) / sizeof(kinks[0]); ++i) v[i * 11] = kinks[i];
  return Tensor::from_vector(v, {7, 13}, DType::f64);
}

Tensor map(const Tensor& x, const Scalar& f) {
  std::vector<double> v = x.to_vector();
  for (double& e : v) e = f(e);
  return Tensor::from_vector(v, x.shape(), DType::f64);
}

}  // namespace

TEST(ActivationOps, ForwardMatchesNaiveIncludingKinks) {
  const Tensor x = test_input(1);
  for (const Case& c : cases()) {
    const Tensor want = map(x, c.f);
    EXPECT_TRUE(all_close(c.forward(testing::noncontiguous(x)), want, 1e-14, 1e-13)) << c.name;
    const Tensor y32 = c.forward(x.to(DType::f32));
    EXPECT_EQ(y32.dtype(), DType::f32) << c.name;
    EXPECT_TRUE(all_close(y32, want, 1e-6, 1e-6)) << c.name;
  }
}

// ELU, CELU and SELU in float32 run a SIMD expm1 (ops/cpu/conv_direct.h,
// Isa::elu) where AVX2 exists: within 2 ulp of the value computed in double,
// over the branch points of its expm1 (-0.5, the clamp at -88), both zeros,
// infinities, NaN and large inputs, at lengths off the vector width.
TEST(ActivationOps, EluFamilyFloat32IsWithinTwoUlpOfDouble) {
  std::vector<double> v = {0.0, -0.0, 1e-30, -1e-30, -1e-7, -0.25, -0.4999999, -0.5, -0.5000001, -0.6931, -1.0, -3.7,
                           -20.0, -87.9, -88.0, -88.1, -103.0, -1e30, 2.5, 1e30, INFINITY, -INFINITY};
  for (int i = 0; i < 2000; ++i) v.push_back(-30.0 + 0.0173 * i);
  const Tensor x = Tensor::from_vector(v, {static_cast<int64_t>(v.size())}, DType::f64).to(DType::f32);
  const std::vector<double> xs = x.to_vector();
  struct Kind {
    const char* name;
    std::function<Tensor(const Tensor&)> run;
    std::function<double(double)> ref;
  };
  const double selu_scale = 1.0507009873554804934193349852946, selu_alpha = 1.6732632423543772848170429916717;
  const Kind kinds[] = {
      {"elu", [](const Tensor& t) { return ops::elu(t, 0.7); }, [](double u) { return u > 0 ? u : 0.7 * std::expm1(u); }},
      {"celu", [](const Tensor& t) { return ops::celu(t, 2.0); },
       [](double u) { return u > 0 ? u : 2.0 * std::expm1(u / 2.0); }},
      {"selu", [](const Tensor& t) { return ops::selu(t); },
       [&](double u) { return selu_scale * (u > 0 ? u : selu_alpha * std::expm1(u)); }},
  };
  for (const Kind& k : kinds)
    for (int64_t len : {int64_t{1}, int64_t{7}, int64_t{17}, static_cast<int64_t>(xs.size())}) {
      const std::vector<double> got = k.run(x.narrow(0, 0, len)).to_vector();
      for (int64_t i = 0; i < len; ++i) {
        const float want = static_cast<float>(k.ref(xs[i]));
        if (std::isnan(want)) {
          EXPECT_TRUE(std::isnan(got[i])) << k.name << "(" << xs[i] << ")";
          continue;
        }
        if (std::isinf(want)) {
          EXPECT_EQ(got[i], want) << k.name << "(" << xs[i] << ")";
          continue;
        }
        const double ulp = std::fabs(std::nextafter(want, INFINITY) - want);
        EXPECT_LE(std::fabs(got[i] - want), 2 * ulp) << k.name << "(" << xs[i] << ") = " << got[i] << ", want " << want;
        EXPECT_EQ(std::signbit(got[i]), std::signbit(want)) << k.name << "(" << xs[i] << ")";
      }
    }
  const std::vector<double> nan = ops::selu(Tensor::from_vector({NAN}, {1}, DType::f64).to(DType::f32)).to_vector();
  EXPECT_TRUE(std::isnan(nan[0]));
}

TEST(ActivationOps, BackwardMatchesNaiveIncludingPyTorchKinkConventions) {
  const Tensor x = test_input(2), g = testing::randn({7, 13}, 3);
  const std::vector<double> gv = g.to_vector();
  for (const Case& c : cases()) {
    std::vector<double> d = map(x, c.df).to_vector();
    for (size_t i = 0; i < d.size(); ++i) d[i] *= gv[i];
    // gelu_tanh's reference derivative is a finite difference.
    const double tol = std::string(c.name) == "gelu_tanh" ? 1e-8 : 1e-13;
    EXPECT_TRUE(all_close(c.backward(testing::noncontiguous(g), testing::noncontiguous(x)),
                          Tensor::from_vector(d, x.shape(), DType::f64), tol, tol))
        << c.name;
  }
}

// relu's and hardtanh's masked gradient is PyTorch's threshold_backward: +0
// where masked, whatever the incoming gradient (negative or NaN), in both
// float types and over more elements than one thread's share.
TEST(ActivationOps, MaskedGradientIsPositiveZero) {
  for (DType dt : {DType::f32, DType::f64}) {
    const int64_t n = 100003;
    std::vector<double> xv(n), gv(n);
    for (int64_t i = 0; i < n; ++i) {
      xv[i] = (i % 3 == 0) ? 0.5 : -0.5;
      gv[i] = (i % 5 == 0) ? NAN : -1.0;
    }
    const Tensor x = Tensor::from_vector(xv, {n}, dt), g = Tensor::from_vector(gv, {n}, dt);
    for (const Tensor& got : {ops::relu_backward(g, x), ops::hardtanh_backward(g, x, 0.0, 1.0)}) {
      const std::vector<double> v = got.to_vector();
      for (int64_t i = 0; i < n; ++i) {
        if (i % 3 == 0) {
          ASSERT_TRUE(std::isnan(gv[i]) ? std::isnan(v[i]) : v[i] == gv[i]) << i;
        } else {
          ASSERT_EQ(v[i], 0.0) << i;
          ASSERT_FALSE(std::signbit(v[i])) << i << " " << dtype_name(dt);
        }
      }
    }
  }
}

TEST(ActivationOps, KinkDerivativesAreThoseOfPyTorch) {
  // Values printed by PyTorch 1.13 for x = [-3, 0, 3, -1, 6] and grad 1.
  const Tensor x = Tensor::from_vector({-3, 0, 3, -1, 6}, {5}, DType::f64), one = Tensor::ones({5}, DType::f64);
  auto expect = [&](const Tensor& got, std::vector<double> want, const char* name) {
    EXPECT_TRUE(all_close(got, Tensor::from_vector(want, {5}, DType::f64), 1e-7, 1e-7)) << name;
  };
  expect(ops::relu_backward(one, x), {0, 0, 1, 0, 1}, "relu");
  expect(ops::relu6_backward(one, x), {0, 0, 1, 0, 0}, "relu6");
  expect(ops::leaky_relu_backward(one, x, 0.1), {0.1, 0.1, 1, 0.1, 1}, "leaky_relu");
  expect(ops::elu_backward(one, x, 1.5), {0.07468060, 1.5, 1, 0.55181916, 1}, "elu");
  expect(ops::celu_backward(one, x, 0.7), {0.01376379, 1, 1, 0.23965103, 1}, "celu");
  expect(ops::selu_backward(one, x), {0.08753061, 1.75809934, 1.05070099, 0.64676865, 1.05070099}, "selu");
  expect(ops::hardswish_backward(one, x), {-0.5, 0.5, 1.5, 1.0 / 6, 1}, "hardswish");
  expect(ops::hardsigmoid_backward(one, x), {0, 1.0 / 6, 0, 1.0 / 6, 0}, "hardsigmoid");
  expect(ops::hardtanh_backward(one, x, -1, 3), {0, 1, 0, 0, 0}, "hardtanh");
  expect(ops::prelu_backward(one, x, Tensor::from_vector({0.25}, {1}, DType::f64)).input,
         {0.25, 0.25, 1, 0.25, 1}, "prelu");
}

TEST(ActivationOps, PreluPerChannelAndSharedMatchNaive) {
  const Shape shape{3, 5, 7, 2};
  const Tensor x = testing::randn(shape, 4), g = testing::randn(shape, 5);
  const std::vector<double> xv = x.to_vector(), gv = g.to_vector();
  for (int64_t wn : {5, 1}) {
    const Tensor w = testing::uniform({wn}, 0.05, 0.5, 6);
    const std::vector<double> wv = w.to_vector();
    std::vector<double> y(xv.size()), gx(xv.size()), gw(wn, 0.0);
    for (size_t i = 0; i < xv.size(); ++i) {
      const int64_t c = wn == 1 ? 0 : (static_cast<int64_t>(i) / 14) % 5;
      y[i] = xv[i] > 0 ? xv[i] : wv[c] * xv[i];
      gx[i] = xv[i] > 0 ? gv[i] : wv[c] * gv[i];
      if (xv[i] <= 0) gw[c] += gv[i] * xv[i];
    }
    EXPECT_TRUE(all_close(ops::prelu(testing::noncontiguous(x), w), Tensor::from_vector(y, shape, DType::f64)));
    const ops::PreluGrads r = ops::prelu_backward(g, testing::noncontiguous(x), w);
    EXPECT_TRUE(all_close(r.input, Tensor::from_vector(gx, shape, DType::f64)));
    EXPECT_TRUE(all_close(r.weight, Tensor::from_vector(gw, {wn}, DType::f64), 1e-12, 1e-12));
  }
  // A 1-D input has a single channel.
  EXPECT_TRUE(all_close(ops::prelu(Tensor::from_vector({-2, 3}, {2}, DType::f64), Tensor::full({1}, 0.5, DType::f64)),
                        Tensor::from_vector({-1, 3}, {2}, DType::f64)));
}

TEST(ActivationOps, GluEveryDimMatchesNaive) {
  const Tensor x = testing::randn({4, 6, 2}, 7);
  const std::vector<double> v = x.to_vector();
  for (int64_t dim : {0, 1, 2, -1, -2}) {
    const int64_t d = dim < 0 ? dim + 3 : dim;
    Shape os = x.shape();
    os[d] /= 2;
    std::vector<double> y(v.size() / 2);
    for (int64_t i = 0; i < os[0]; ++i)
      for (int64_t j = 0; j < os[1]; ++j)
        for (int64_t k = 0; k < os[2]; ++k) {
          int64_t b[3] = {i, j, k};
          b[d] += os[d];
          const double a = v[(i * 6 + j) * 2 + k], gate = v[(b[0] * 6 + b[1]) * 2 + b[2]];
          y[(i * os[1] + j) * os[2] + k] = a * sigm(gate);
        }
    EXPECT_TRUE(all_close(ops::glu(testing::noncontiguous(x), dim), Tensor::from_vector(y, os, DType::f64), 1e-14,
                          1e-13))
        << dim;
  }
}

TEST(ActivationOps, MisuseErrors) {
  const Tensor x = testing::randn({2, 5, 3}, 8);
  EXPECT_TRUE(throws_mentioning([&] { ops::glu(x, 1); }, {"glu", "dim 1", "even", "[2, 5, 3]"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::glu(x, 3); }, {"glu", "dim 3"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::prelu(x, Tensor::ones({3}, DType::f64)); },
                                {"prelu", "weight", "[3]", "[2, 5, 3]", "5 channels"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::prelu(x, Tensor::ones({5}, DType::f32)); },
                                {"prelu", "weight", "float32", "float64"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::gelu(x, "fast"); }, {"gelu", "approximate", "'fast'"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::hardtanh(x, 2.0, 1.0); }, {"hardtanh", "min_val 2", "max_val 1"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::celu(x, 0.0); }, {"celu", "alpha"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::relu(Tensor::ones({3}, DType::i32)); },
                                {"relu", "input", "float32 or float64"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::relu_backward(testing::randn({2, 5}, 1), x); },
                                {"relu_backward", "grad_output", "[2, 5]", "[2, 5, 3]"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::sigmoid_backward(x, Tensor()); }, {"sigmoid_backward", "output"}));
}

}  // namespace cudaseg
