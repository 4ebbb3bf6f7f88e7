#include "autograd/activation.h"

#include <functional>

#include "autograd/engine.h"
#include "ops/activation.h"

namespace cudaseg::fn {
namespace {

using autograd::Node;
using autograd::SavedTensor;
using BackwardFn = std::function<Tensor(const Tensor& grad, const Tensor& saved)>;

// One node type for the pointwise activations: the backward is an ops::
// *_backward of the saved input (or output).
struct ActivationBackward : Node {
  ActivationBackward(const char* name, BackwardFn backward) : name_(name), backward_(std::move(backward)) {}
  const char* name() const override { return name_; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override { return {backward_(g[0], saved.unpack(*this))}; }
  void release_saved() override { saved.reset(); }
  SavedTensor saved;

 private:
  const char* name_;
  BackwardFn backward_;
};

// Records `out` = f(input). Saving the output detached keeps it from owning
// its own grad_fn (a reference cycle); the version check still applies, as
// the detached tensor shares the storage.
Tensor record_unary(const char* name, const Tensor& input, Tensor out, BackwardFn backward,
                    bool save_output = false) {
  if (!autograd::any_requires_grad({&input})) return out;
  auto node = std::make_shared<ActivationBackward>(name, std::move(backward));
  node->saved = SavedTensor(save_output ? out.detach() : input);
  autograd::record(node, {&input}, {&out});
  return out;
}

struct PreluBackward : Node {
  const char* name() const override { return "PreluBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    ops::PreluGrads r = ops::prelu_backward(g[0], input.unpack(*this), weight.unpack(*this),
                                            next_edges[0].valid(), next_edges[1].valid());
    return {r.input, r.weight};
  }
  void release_saved() override {
    input.reset();
    weight.reset();
  }
  SavedTensor input, weight;
};

}  // namespace

Tensor relu(const Tensor& x) { return record_unary("ReluBackward", x, ops::relu(x), ops::relu_backward); }
Tensor relu6(const Tensor& x) { return record_unary("Relu6Backward", x, ops::relu6(x), ops::relu6_backward); }
Tensor leaky_relu(const Tensor& x, double slope) {
  return record_unary("LeakyReluBackward", x, ops::leaky_relu(x, slope),
                      [slope](const Tensor& g, const Tensor& s) { return ops::leaky_relu_backward(g, s, slope); });
}
Tensor elu(const Tensor& x, double alpha) {
  return record_unary("EluBackward", x, ops::elu(x, alpha),
                      [alpha](const Tensor& g, const Tensor& s) { return ops::elu_backward(g, s, alpha); });
}
Tensor celu(const Tensor& x, double alpha) {
  return record_unary("CeluBackward", x, ops::celu(x, alpha),
                      [alpha](const Tensor& g, const Tensor& s) { return ops::celu_backward(g, s, alpha); });
}
Tensor selu(const Tensor& x) { return record_unary("SeluBackward", x, ops::selu(x), ops::selu_backward); }
Tensor gelu(const Tensor& x, const std::string& approximate) {
  return record_unary("GeluBackward", x, ops::gelu(x, approximate), [approximate](const Tensor& g, const Tensor& s) {
    return ops::gelu_backward(g, s, approximate);
  });
}
Tensor silu(const Tensor& x) { return record_unary("SiluBackward", x, ops::silu(x), ops::silu_backward); }
Tensor hardswish(const Tensor& x) {
  return record_unary("HardswishBackward", x, ops::hardswish(x), ops::hardswish_backward);
}
Tensor hardsigmoid(const Tensor& x) {
  return record_unary("HardsigmoidBackward", x, ops::hardsigmoid(x), ops::hardsigmoid_backward);
}
Tensor hardtanh(const Tensor& x, double min_val, double max_val) {
  return record_unary("HardtanhBackward", x, ops::hardtanh(x, min_val, max_val),
                      [min_val, max_val](const Tensor& g, const Tensor& s) {
                        return ops::hardtanh_backward(g, s, min_val, max_val);
                      });
}
Tensor sigmoid(const Tensor& x) {
  return record_unary("SigmoidBackward", x, ops::sigmoid(x), ops::sigmoid_backward, true);
}
Tensor tanh(const Tensor& x) { return record_unary("TanhBackward", x, ops::tanh(x), ops::tanh_backward, true); }
Tensor glu(const Tensor& x, int64_t dim) {
  return record_unary("GluBackward", x, ops::glu(x, dim),
                      [dim](const Tensor& g, const Tensor& s) { return ops::glu_backward(g, s, dim); });
}

Tensor prelu(const Tensor& x, const Tensor& weight) {
  Tensor out = ops::prelu(x, weight);
  if (!autograd::any_requires_grad({&x, &weight})) return out;
  auto node = std::make_shared<PreluBackward>();
  node->input = SavedTensor(x);
  node->weight = SavedTensor(weight);
  autograd::record(node, {&x, &weight}, {&out});
  return out;
}

}  // namespace cudaseg::fn
