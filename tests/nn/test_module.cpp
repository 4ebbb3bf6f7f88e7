#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "autograd/arith.h"
#include "common/testing.h"
#include "nn/module.h"

using namespace cudaseg;
namespace ct = cudaseg::testing;

namespace {

// A leaf with one parameter and one buffer: y = x * scale + shift(buffer).
struct ScaleShift : nn::Module {
  explicit ScaleShift(int64_t c, uint64_t seed) : nn::Module("ScaleShift") {
    scale = register_parameter("weight", ct::randn({c}, seed, DType::f32));
    shift = register_buffer("running_mean", ct::randn({c}, seed + 1, DType::f32));
    register_buffer("scratch", Tensor::zeros({1}), false);
  }
  Tensor forward(const Tensor& x) override { return fn::add(fn::mul(x, scale), shift); }
  void on_train(bool on) override { last_mode = on; }
  Tensor scale, shift;
  bool last_mode = true;
};

struct Net : nn::Module {
  Net() : nn::Module("Net") {
    stem = register_module("stem", std::make_shared<ScaleShift>(3, 1));
    auto seq = std::make_shared<nn::Sequential>();
    seq->push_back(std::make_shared<ScaleShift>(3, 10)).push_back(std::make_shared<nn::Identity>());
    seq->push_back(std::make_shared<ScaleShift>(3, 20));
    body = register_module("body", seq);
    head_bias = register_parameter("bias", ct::randn({3}, 30, DType::f32));
  }
  Tensor forward(const Tensor& x) override { return fn::add(body->forward(stem->forward(x)), head_bias); }
  std::shared_ptr<ScaleShift> stem;
  std::shared_ptr<nn::Sequential> body;
  Tensor head_bias;
};

// A forward of another signature: two tensors and a number in, two tensors out.
struct SumDiff : nn::Module {
  SumDiff() : nn::Module("SumDiff") { inner = register_module("inner", std::make_shared<ScaleShift>(3, 40)); }
  std::pair<Tensor, Tensor> apply(const Tensor& a, const Tensor& b, double k) {
    return observed_call({a, b}, [&] {
      const Tensor s = (*inner)(fn::add(a, b));
      return std::pair<Tensor, Tensor>{s, fn::mul(fn::sub(a, b), k)};
    });
  }
  std::shared_ptr<ScaleShift> inner;
};

// Logs "before TYPE n_inputs" and "after TYPE n_inputs n_outputs" per call.
struct CallLog : nn::ForwardHook {
  void before(const nn::Module& m, const std::vector<Tensor>& in) override {
    log.push_back("before " + m.type_name() + " " + std::to_string(in.size()));
  }
  void after(const nn::Module& m, const std::vector<Tensor>& in, const std::vector<Tensor>& out) override {
    log.push_back("after " + m.type_name() + " " + std::to_string(in.size()) + " " + std::to_string(out.size()));
    outputs.push_back(out);
  }
  std::vector<std::string> log;
  std::vector<std::vector<Tensor>> outputs;
};

std::vector<std::string> names(const nn::NamedTensors& v) {
  std::vector<std::string> out;
  for (auto& [n, t] : v) out.push_back(n);
  return out;
}

}  // namespace

TEST(Module, StateDictFollowsTorchOrder) {
  Net net;
  // torch: own params, own buffers, then children in registration order.
  EXPECT_EQ(names(net.state_dict()),
            (std::vector<std::string>{"bias", "stem.weight", "stem.running_mean", "body.0.weight",
                                      "body.0.running_mean", "body.2.weight", "body.2.running_mean"}));
  EXPECT_EQ(names(net.named_parameters()),
            (std::vector<std::string>{"bias", "stem.weight", "body.0.weight", "body.2.weight"}));
  EXPECT_EQ(net.named_buffers().size(), 6u);  // the non-persistent scratch buffers too
  for (const Tensor& p : net.parameters()) EXPECT_TRUE(p.requires_grad());
  EXPECT_TRUE(net.get("body.2.weight").is_same(std::dynamic_pointer_cast<ScaleShift>((*net.body)[2])->scale));
  EXPECT_TRUE(ct::throws_mentioning([&] { net.get("body.2.wieght"); }, {"body.2.wieght", "body.2.weight"}));
}

TEST(Module, LoadStateDictCopiesIntoTheSameTensors) {
  Net a, b;
  std::map<std::string, Tensor> state;
  for (auto& [n, t] : a.state_dict()) state[n] = ct::randn(t.shape(), 99, DType::f64);  // converted to f32
  Tensor held = b.stem->scale;
  b.load_state_dict(state);
  EXPECT_TRUE(ct::all_close(held, state["stem.weight"].to(DType::f32), 0, 0));
  EXPECT_TRUE(ct::all_close(b.get("body.2.running_mean"), state["body.2.running_mean"].to(DType::f32), 0, 0));
}

TEST(Module, StrictLoadListsEveryProblemAtOnce) {
  Net net;
  std::map<std::string, Tensor> state;
  for (auto& [n, t] : net.state_dict()) state[n] = t;
  state.erase("stem.weight");
  state.erase("body.0.running_mean");
  state["head.extra"] = Tensor::ones({2});
  state["bias"] = Tensor::ones({4});
  EXPECT_TRUE(ct::throws_mentioning([&] { net.load_state_dict(state); },
                                         {"Net", "2 missing", "stem.weight", "body.0.running_mean",
                                          "1 unexpected", "head.extra", "1 mis-shaped", "bias", "[4]", "[3]"}));
  // Non-strict loads what matches, but a wrong shape is still an error.
  EXPECT_THROW(net.load_state_dict(state, false), Error);
  state["bias"] = Tensor::full({3}, 0.5);
  EXPECT_NO_THROW(net.load_state_dict(state, false));
  EXPECT_EQ(net.head_bias.to_vector(), std::vector<double>(3, 0.5));
}

TEST(Module, TrainEvalPropagatesAndForwardRuns) {
  Net net;
  net.eval();
  EXPECT_FALSE(net.is_training());
  EXPECT_FALSE((*net.body)[0]->is_training());
  EXPECT_FALSE(net.stem->last_mode);
  net.train();
  EXPECT_TRUE(net.stem->last_mode);
  Tensor x = ct::randn({2, 3}, 5, DType::f32);
  Tensor y = net.forward(x);
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
  // Reference: three scale-shifts and a bias, in double.
  std::vector<double> xv = x.to_vector();
  auto s = [&](const char* n) { return net.get(n).to_vector(); };
  for (int i = 0; i < 2; ++i)
    for (int c = 0; c < 3; ++c) {
      double v = xv[i * 3 + c];
      v = v * s("stem.weight")[c] + s("stem.running_mean")[c];
      v = v * s("body.0.weight")[c] + s("body.0.running_mean")[c];
      v = v * s("body.2.weight")[c] + s("body.2.running_mean")[c];
      v += s("bias")[c];
      EXPECT_NEAR(y.to_vector()[i * 3 + c], v, 1e-5);
    }
}

TEST(Module, SequentialErrorsNameTheFailingChild) {
  nn::Sequential seq({std::make_shared<nn::Identity>(), std::make_shared<ScaleShift>(3, 1)});
  EXPECT_TRUE(ct::throws_mentioning([&] { seq.forward(Tensor::ones({2, 4})); }, {"1 (ScaleShift)", "[2, 4]"}));
}

TEST(Module, ToDtypeKeepsHandles) {
  Net net;
  Tensor held = net.stem->scale;
  const std::vector<double> before = held.to_vector();
  net.to(DType::f64);
  EXPECT_EQ(held.dtype(), DType::f64);
  EXPECT_EQ(held.to_vector(), before);
  EXPECT_TRUE(held.requires_grad());
}

TEST(Module, DuplicateNamesAreRejected) {
  struct Bad : nn::Module {
    Bad() : nn::Module("Bad") {
      register_parameter("w", Tensor::ones({1}));
      register_buffer("w", Tensor::ones({1}));
    }
  };
  EXPECT_TRUE(ct::throws_mentioning([] { Bad b; }, {"Bad", "'w'", "twice"}));
}

TEST(Module, ObservedCallReportsEveryTensorInAndOut) {
  SumDiff m;
  const Tensor a = ct::randn({2, 3}, 1, DType::f32), b = ct::randn({2, 3}, 2, DType::f32);
  const auto unobserved = m.apply(a, b, 0.5);
  CallLog hook;
  std::pair<Tensor, Tensor> got;
  {
    nn::ForwardHookGuard guard(&hook);
    got = m.apply(a, b, 0.5);
  }
  const std::vector<std::string> want = {"before SumDiff 2", "before ScaleShift 1", "after ScaleShift 1 1",
                                         "after SumDiff 2 2"};
  EXPECT_EQ(hook.log, want);
  ASSERT_EQ(hook.outputs.back().size(), 2u);
  EXPECT_TRUE(hook.outputs.back()[0].is_same(got.first));
  EXPECT_TRUE(hook.outputs.back()[1].is_same(got.second));
  EXPECT_TRUE(ct::all_close(got.first, unobserved.first, 0, 0));
  EXPECT_TRUE(ct::all_close(got.second, unobserved.second, 0, 0));
}
