#include "autograd/linalg.h"

#include "autograd/engine.h"
#include "ops/activation.h"
#include "ops/linalg.h"

namespace cudaseg::fn {
namespace {

using autograd::Node;
using autograd::SavedTensor;

struct MatmulBackward : Node {
  explicit MatmulBackward(const char* n) : op_name(n) {}
  const char* name() const override { return op_name; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    const bool need_a = next_edges[0].valid(), need_b = next_edges[1].valid();
    ops::MatmulGrads r = ops::matmul_backward(g[0], a.unpack(*this), b.unpack(*this), need_a, need_b);
    return {r.a, r.b};
  }
  void release_saved() override {
    a.reset();
    b.reset();
  }
  const char* op_name;
  SavedTensor a, b;
};

struct LinearBackward : Node {
  const char* name() const override { return "LinearBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    const bool has_bias = next_edges.size() == 3;
    ops::LinearGrads r = ops::linear_backward(g[0], x.unpack(*this), weight.unpack(*this), next_edges[0].valid(),
                                              next_edges[1].valid(), has_bias && next_edges[2].valid());
    std::vector<Tensor> out = {r.input, r.weight};
    if (has_bias) out.push_back(r.bias);
    return out;
  }
  void release_saved() override {
    x.reset();
    weight.reset();
  }
  SavedTensor x, weight;
};

// The activation's backward, then the linear's: `saved` is the output for
// ReLU (y > 0 exactly where the pre-activation is) and the pre-activation
// for the GELUs.
struct LinearActBackward : Node {
  const char* name() const override { return "LinearActBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    const Tensor s = saved.unpack(*this);
    const Tensor gz = act == ops::LinearAct::relu
                          ? ops::relu_backward(g[0], s)
                          : ops::gelu_backward(g[0], s, act == ops::LinearAct::gelu ? "none" : "tanh");
    const bool has_bias = next_edges.size() == 3;
    ops::LinearGrads r = ops::linear_backward(gz, x.unpack(*this), weight.unpack(*this), next_edges[0].valid(),
                                              next_edges[1].valid(), has_bias && next_edges[2].valid());
    std::vector<Tensor> out = {r.input, r.weight};
    if (has_bias) out.push_back(r.bias);
    return out;
  }
  void release_saved() override {
    x.reset();
    weight.reset();
    saved.reset();
  }
  SavedTensor x, weight, saved;
  ops::LinearAct act = ops::LinearAct::relu;
};

Tensor product(const char* name, Tensor out, const Tensor& a, const Tensor& b) {
  if (autograd::any_requires_grad({&a, &b})) {
    auto node = std::make_shared<MatmulBackward>(name);
    node->a = SavedTensor(a);
    node->b = SavedTensor(b);
    autograd::record(node, {&a, &b}, {&out});
  }
  return out;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) { return product("MatmulBackward", ops::matmul(a, b), a, b); }

Tensor bmm(const Tensor& a, const Tensor& b) { return product("BmmBackward", ops::bmm(a, b), a, b); }

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  Tensor out = ops::linear(x, weight, bias);
  if (autograd::any_requires_grad({&x, &weight, &bias})) {
    auto node = std::make_shared<LinearBackward>();
    node->x = SavedTensor(x);
    node->weight = SavedTensor(weight);
    std::vector<const Tensor*> inputs = {&x, &weight};
    if (bias.defined()) inputs.push_back(&bias);
    autograd::record(node, inputs, {&out});
  }
  return out;
}

Tensor linear_act(const Tensor& x, const Tensor& weight, const Tensor& bias, ops::LinearAct act) {
  if (act == ops::LinearAct::none) return linear(x, weight, bias);
  if (!autograd::any_requires_grad({&x, &weight, &bias})) return ops::linear_act(x, weight, bias, act);
  auto node = std::make_shared<LinearActBackward>();
  node->act = act;
  Tensor out;
  if (act == ops::LinearAct::relu) {
    out = ops::linear_act(x, weight, bias, act);
    node->saved = SavedTensor(out.detach());  // the output itself would hold this node: a cycle
  } else {
    const Tensor z = ops::linear(x, weight, bias);
    out = ops::gelu(z, act == ops::LinearAct::gelu ? "none" : "tanh");
    node->saved = SavedTensor(z);
  }
  node->x = SavedTensor(x);
  node->weight = SavedTensor(weight);
  std::vector<const Tensor*> inputs = {&x, &weight};
  if (bias.defined()) inputs.push_back(&bias);
  autograd::record(node, inputs, {&out});
  return out;
}

}  // namespace cudaseg::fn
