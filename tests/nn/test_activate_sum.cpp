// nn::activate_sum: act(a + b) through ops::add_act where it may (relu,
// relu6, PReLU, directly or through a parameter-free wrapper; inference, no
// hook), the module on the sum otherwise; the same values either way, the
// gradient where one is wanted, and a hook's view of the activation kept.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <memory>
#include <string>

#include "autograd/arith.h"
#include "autograd/engine.h"
#include "common/testing.h"
#include "nn/fuse.h"
#include "nn/hooks.h"
#include "nn/layers.h"
#include "ops/activation.h"
#include "ops/binary.h"
#include "ops/unary.h"

using namespace cudaseg;

namespace {

// A parameter-free wrapper whose only child is the activation (zh320's
// Activation has this shape).
class Wrapper : public nn::Module {
 public:
  explicit Wrapper(nn::ModulePtr act) : nn::Module("Wrapper") { act_ = register_module("activation", act); }
  Tensor forward(const Tensor& x) override { return (*act_)(x); }

 private:
  nn::ModulePtr act_;
};

void expect_same_bits(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  const std::vector<double> a = got.to_vector(), b = want.to_vector();
  ASSERT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(double)), 0) << what;
}

class Counter : public nn::ForwardHook {
 public:
  void after(const nn::Module& module, const std::vector<Tensor>&, const std::vector<Tensor>&) override {
    ++calls[module.type_name()];
  }
  std::map<std::string, int> calls;
};

TEST(ActivateSum, EqualsTheModuleOnTheSum) {
  const Tensor a = cudaseg::testing::randn({2, 4, 5, 6}, 1).to(DType::f32), b = cudaseg::testing::randn({2, 4, 5, 6}, 2).to(DType::f32);
  auto prelu = std::make_shared<nn::PReLU>(4, 0.3);
  const std::vector<std::pair<std::string, nn::ModulePtr>> modules = {
      {"relu", std::make_shared<nn::Activation>(nn::ActKind::relu)},
      {"relu6", std::make_shared<nn::Activation>(nn::ActKind::relu6)},
      {"prelu", prelu},
      {"wrapped relu", std::make_shared<Wrapper>(std::make_shared<nn::Activation>(nn::ActKind::relu))},
      {"silu (not fused)", std::make_shared<nn::Activation>(nn::ActKind::silu)},
      {"gelu (not fused)", std::make_shared<nn::Activation>(nn::ActKind::gelu)},
      {"identity (not an activation)", std::make_shared<nn::Identity>()},
  };
  autograd::NoGradGuard no_grad;
  for (const auto& [name, m] : modules) {
    m->eval();
    expect_same_bits(nn::activate_sum(*m, a, b), (*m)(fn::add(a, b)), name);
  }
  // Broadcast operands take the module on the sum.
  const Tensor row = cudaseg::testing::randn({1, 4, 1, 6}, 3).to(DType::f32);
  auto relu = std::make_shared<nn::Activation>(nn::ActKind::relu);
  expect_same_bits(nn::activate_sum(*relu, a, row), (*relu)(fn::add(a, row)), "broadcast");
  // A bypassed activation (fused elsewhere) leaves the sum.
  relu->set_bypassed(true);
  expect_same_bits(nn::activate_sum(*relu, a, b), fn::add(a, b), "bypassed");
}

// ERFNet's join: a Sequential of a BatchNorm2d and the activation, one pass
// in evaluation; in training the BatchNorm takes the batch's statistics.
TEST(ActivateSum, TakesTheBatchNormBeforeTheActivation) {
  const Tensor a = cudaseg::testing::randn({2, 4, 5, 6}, 8).to(DType::f32);
  const Tensor b = cudaseg::testing::randn({2, 4, 5, 6}, 9).to(DType::f32);
  auto bn = std::make_shared<nn::BatchNorm2d>(4);
  {
    autograd::NoGradGuard no_grad;
    bn->running_mean.copy_(cudaseg::testing::randn({4}, 10));
    bn->running_var.copy_(ops::add(ops::abs(cudaseg::testing::randn({4}, 11)), 0.5));
    bn->weight.copy_(cudaseg::testing::randn({4}, 12));
    bn->bias.copy_(cudaseg::testing::randn({4}, 13));
  }
  auto seq = std::make_shared<nn::Sequential>();
  seq->push_back(bn);
  seq->push_back(std::make_shared<Wrapper>(std::make_shared<nn::PReLU>(4, 0.1)));
  seq->eval();
  {
    autograd::NoGradGuard no_grad;
    expect_same_bits(nn::activate_sum(*seq, a, b), (*seq)(fn::add(a, b)), "eval");
  }
  seq->train();
  autograd::NoGradGuard no_grad;
  expect_same_bits(nn::activate_sum(*seq, a, b), (*seq)(fn::add(a, b)), "training");
}

TEST(ActivateSum, DifferentiatesWhereAGradientIsWanted) {
  Tensor a = cudaseg::testing::randn({1, 3, 4, 4}, 4).to(DType::f32);
  const Tensor b = cudaseg::testing::randn({1, 3, 4, 4}, 5).to(DType::f32);
  a.set_requires_grad(true);
  auto prelu = std::make_shared<nn::PReLU>(3, 0.2);
  const Tensor y = nn::activate_sum(*prelu, a, b);
  ASSERT_TRUE(y.requires_grad());
  autograd::backward(y, Tensor::ones(y.shape(), DType::f32));
  ASSERT_TRUE(a.grad().defined());
  ASSERT_TRUE(prelu->weight.grad().defined());
  // d/da of PReLU(a + b): 1 where the sum is positive, the slope elsewhere.
  const std::vector<double> g = a.grad().to_vector(), s = fn::add(a, b).to_vector();
  for (size_t i = 0; i < g.size(); ++i) EXPECT_EQ(g[i], s[i] > 0 ? 1.0 : static_cast<double>(0.2f)) << i;
}

TEST(ActivateSum, AHookStillSeesTheActivation) {
  const Tensor a = cudaseg::testing::randn({1, 2, 3, 3}, 6), b = cudaseg::testing::randn({1, 2, 3, 3}, 7);
  auto relu = std::make_shared<nn::Activation>(nn::ActKind::relu);
  autograd::NoGradGuard no_grad;
  Counter counter;
  {
    nn::ForwardHookGuard guard(&counter);
    expect_same_bits(nn::activate_sum(*relu, a, b), ops::relu(ops::add(a, b)), "under a hook");
  }
  EXPECT_EQ(counter.calls["Activation"], 1);
}

}  // namespace
