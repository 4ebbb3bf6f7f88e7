#include <gtest/gtest.h>

#include "common/testing.h"
#include "nn/layers.h"
#include "train/optim.h"

using namespace cudaseg;
using namespace cudaseg::train;
namespace ct = cudaseg::testing;

namespace {

// A float64 leaf [2] holding `values`, with a settable gradient.
Tensor param(std::vector<double> values) {
  Tensor t = Tensor::from_vector(values, {2}, DType::f64);
  t.set_requires_grad(true);
  return t;
}

void set_grad(const Tensor& p, std::vector<double> g) { p.set_grad(Tensor::from_vector(g, {2}, DType::f64)); }

void expect_values(const Tensor& t, std::vector<double> want, double tol = 1e-12) {
  const auto got = t.to_vector();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
}

// Two steps with gradients [0.5, 0.25] on p = [1, -2], lr 0.5, weight decay 0.1.
Tensor run_sgd(bool nesterov, std::vector<Tensor>* after_first = nullptr) {
  OptimizerConfig c;
  c.lr = 0.5;
  c.momentum = 0.9;
  c.weight_decay = 0.1;
  c.nesterov = nesterov;
  Tensor p = param({1, -2});
  Optimizer opt({{"w", p, 1.0, 0.1}}, c);
  set_grad(p, {0.5, 0.25});
  opt.step();
  if (after_first) after_first->push_back(p.clone());
  set_grad(p, {0.5, 0.25});
  opt.step();
  return p;
}

}  // namespace

TEST(Optim, SgdMomentumWeightDecayByHand) {
  std::vector<Tensor> first;
  Tensor p = run_sgd(false, &first);
  // d1 = g + 0.1 p = [0.6, 0.05] = buf; p1 = p - 0.5 d1
  expect_values(first[0], {0.7, -2.025});
  // d2 = [0.57, 0.0475]; buf = 0.9 buf + d2 = [1.11, 0.0925]
  expect_values(p, {0.145, -2.07125});
}

TEST(Optim, SgdNesterovByHand) {
  std::vector<Tensor> first;
  Tensor p = run_sgd(true, &first);
  // d1 = [0.6, 0.05], buf = d1, step with d1 + 0.9 buf = [1.14, 0.095]
  expect_values(first[0], {0.43, -2.0475});
  // d2 = [0.543, 0.04525]; buf = [1.083, 0.09025]; step [1.5177, 0.126475]
  expect_values(p, {-0.32885, -2.1107375});
}

namespace {
Tensor run_adam(const std::string& type, double wd, std::vector<Tensor>* first) {
  OptimizerConfig c;
  c.type = type;
  c.lr = 0.1;
  c.weight_decay = wd;
  Tensor p = param({1, -2});
  Optimizer opt({{"w", p, 1.0, wd}}, c);
  set_grad(p, {0.5, -0.1});
  opt.step();
  first->push_back(p.clone());
  set_grad(p, {-0.25, 0.3});
  opt.step();
  return p;
}
}  // namespace

// Expected values from torch.optim.Adam/AdamW's update written out in double.
TEST(Optim, AdamBiasCorrectionByHand) {
  std::vector<Tensor> first;
  Tensor p = run_adam("adam", 0.0, &first);
  // Bias correction makes the first step lr * sign(g) whatever the gradient's size.
  expect_values(first[0], {0.9000000019999999, -1.900000009999999});
  expect_values(p, {0.8733662987078462, -1.9494189911200654});
}

TEST(Optim, AdamL2DecayAndAdamWDecoupledDecay) {
  std::vector<Tensor> first;
  Tensor adam = run_adam("adam", 0.5, &first);
  expect_values(first[0], {0.9000000009999999, -1.900000000909091});
  expect_values(adam, {0.8196959042420041, -1.8044499214763983});
  first.clear();
  Tensor adamw = run_adam("adamw", 0.5, &first);
  expect_values(first[0], {0.8500000019999998, -1.8000000099999989});
  expect_values(adamw, {0.7808662986078462, -1.7594189906200652});
}

TEST(Optim, LrMultiplierAndSkippedParameters) {
  OptimizerConfig c;
  c.lr = 0.1;
  c.momentum = 0;
  c.weight_decay = 0;
  Tensor a = param({1, 2}), b = param({3, 4});
  Optimizer opt({{"backbone.w", a, 0.1, 0.0}, {"head.w", b, 1.0, 0.0}}, c);
  set_grad(a, {1, -1});
  opt.step();  // b has no gradient: untouched, no state
  expect_values(a, {0.99, 2.01});
  expect_values(b, {3, 4});
  EXPECT_EQ(opt.state().size(), 1u);  // only a's step count (no momentum buffer)
  opt.set_lr(1.0);
  set_grad(b, {1, 1});
  opt.step();
  expect_values(b, {2, 3});
}

TEST(Optim, ParamGroupsFromNamesAndModuleTypes) {
  nn::Sequential net;
  net.push_back(std::make_shared<nn::Conv2d>(3, 4, 3));
  net.push_back(std::make_shared<nn::BatchNorm2d>(4));
  net.push_back(std::make_shared<nn::Conv2d>(4, 2, 1, 1, 0, 1, 1, false));
  OptimizerConfig c;
  c.weight_decay = 0.01;
  c.no_decay_norm_bias = true;
  c.lr_mult = {{"1.", 0.5}, {"2", 10.0}, {"2.weight", 3.0}};
  const auto groups = make_param_groups(net, c);
  ASSERT_EQ(groups.size(), 5u);
  std::map<std::string, OptimParam> by_name;
  for (const auto& g : groups) by_name[g.name] = g;
  EXPECT_EQ(by_name["0.weight"].weight_decay, 0.01);
  EXPECT_EQ(by_name["0.bias"].weight_decay, 0.0);
  EXPECT_EQ(by_name["1.weight"].weight_decay, 0.0);
  EXPECT_EQ(by_name["1.bias"].weight_decay, 0.0);
  EXPECT_EQ(by_name["2.weight"].weight_decay, 0.01);
  EXPECT_EQ(by_name["0.weight"].lr_mult, 1.0);
  EXPECT_EQ(by_name["1.weight"].lr_mult, 0.5);
  EXPECT_EQ(by_name["2.weight"].lr_mult, 3.0);  // the longest matching prefix
  c.no_decay_norm_bias = false;
  for (const auto& g : make_param_groups(net, c)) EXPECT_EQ(g.weight_decay, 0.01) << g.name;
}

TEST(Optim, ClipsTheGlobalGradientNorm) {
  Tensor a = param({0, 0}), b = param({0, 0});
  set_grad(a, {3, 0});
  set_grad(b, {0, 4});
  std::vector<OptimParam> ps{{"a", a, 1, 0}, {"b", b, 1, 0}};
  EXPECT_NEAR(clip_grad_norm(ps, 1.0), 5.0, 1e-12);
  expect_values(a.grad(), {3 / (5 + 1e-6), 0});
  expect_values(b.grad(), {0, 4 / (5 + 1e-6)});
  EXPECT_NEAR(clip_grad_norm(ps, 10.0), 1.0, 1e-6);  // under the limit: unchanged
  expect_values(b.grad(), {0, 4 / (5 + 1e-6)});
}

TEST(Optim, StateRoundTripContinuesIdentically) {
  for (const std::string type : {"sgd", "adamw"}) {
    OptimizerConfig c;
    c.type = type;
    c.lr = 0.05;
    Tensor p = param({1, -2}), q = param({1, -2});
    Optimizer a({{"w", p, 1, 0.01}}, c), b({{"w", q, 1, 0.01}}, c);
    for (int i = 0; i < 3; ++i) {
      set_grad(p, {0.3 * i - 0.2, 0.7});
      a.step();
    }
    q.copy_(p);
    b.load_state(a.state(), a.hyper());
    set_grad(p, {0.9, -0.4});
    set_grad(q, {0.9, -0.4});
    a.step();
    b.step();
    EXPECT_EQ(p.to_vector(), q.to_vector()) << type;
  }
  OptimizerConfig sgd;
  Tensor p = param({1, 2});
  Optimizer a({{"w", p, 1, 0}}, sgd);
  nlohmann::json hyper = a.hyper();
  hyper["type"] = "adam";
  EXPECT_TRUE(ct::throws_mentioning([&] { a.load_state({}, hyper); }, {"adam", "sgd"}));
  weights::TensorDict bad;
  bad.insert("momentum_buffer/nope", Tensor::zeros({2}, DType::f64));
  EXPECT_TRUE(ct::throws_mentioning([&] { a.load_state(bad, a.hyper()); }, {"momentum_buffer/nope"}));
}

TEST(Optim, RejectsUnknownTypeAndBadNesterov) {
  OptimizerConfig c;
  c.type = "rmsprop";
  EXPECT_TRUE(ct::throws_mentioning([&] { Optimizer({}, c); }, {"rmsprop", "sgd, adam, adamw"}));
  c.type = "adam";
  c.nesterov = true;
  EXPECT_TRUE(ct::throws_mentioning([&] { Optimizer({}, c); }, {"nesterov"}));
}
