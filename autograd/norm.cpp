#include "autograd/norm.h"

#include "autograd/engine.h"
#include "ops/norm.h"

namespace cudaseg::fn {
namespace {

using autograd::Node;
using autograd::SavedTensor;

// The nodes of input/weight/bias normalisations: inputs are (input, weight,
// bias) in that order, with undefined weight or bias as invalid edges.
struct AffineNormBackward : Node {
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    const ops::GradMask mask{next_edges[0].valid(), next_edges[1].valid(), next_edges[2].valid()};
    ops::NormGrads r = compute(g[0], input.unpack(*this), weight.unpack(*this), mask);
    return {mask[0] ? r.input : Tensor(), mask[1] ? r.weight : Tensor(), mask[2] ? r.bias : Tensor()};
  }
  void release_saved() override {
    input.reset();
    weight.reset();
  }
  virtual ops::NormGrads compute(const Tensor& grad, const Tensor& x, const Tensor& w, ops::GradMask mask) = 0;
  SavedTensor input, weight;
  double eps = 0;
};

struct BatchNormBackward : AffineNormBackward {
  const char* name() const override { return "BatchNormBackward"; }
  ops::NormGrads compute(const Tensor& grad, const Tensor& x, const Tensor& w, ops::GradMask mask) override {
    return ops::batch_norm_backward(grad, x, running_mean.unpack(*this), running_var.unpack(*this), w, training,
                                    eps, mask);
  }
  void release_saved() override {
    AffineNormBackward::release_saved();
    running_mean.reset();
    running_var.reset();
  }
  SavedTensor running_mean, running_var;  // evaluation mode only
  bool training = false;
};

struct LayerNormBackward : AffineNormBackward {
  const char* name() const override { return "LayerNormBackward"; }
  ops::NormGrads compute(const Tensor& grad, const Tensor& x, const Tensor& w, ops::GradMask mask) override {
    return ops::layer_norm_backward(grad, x, normalized_shape, w, eps, mask);
  }
  Shape normalized_shape;
};

struct LayerNormChannelsBackward : AffineNormBackward {
  const char* name() const override { return "LayerNormChannelsBackward"; }
  ops::NormGrads compute(const Tensor& grad, const Tensor& x, const Tensor& w, ops::GradMask mask) override {
    return ops::layer_norm_channels_backward(grad, x, w, eps, mask);
  }
};

struct GroupNormBackward : AffineNormBackward {
  const char* name() const override { return "GroupNormBackward"; }
  ops::NormGrads compute(const Tensor& grad, const Tensor& x, const Tensor& w, ops::GradMask mask) override {
    return ops::group_norm_backward(grad, x, num_groups, w, eps, mask);
  }
  int64_t num_groups = 1;
};

struct NormalizeBackward : Node {
  const char* name() const override { return "NormalizeBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    return {ops::normalize_backward(g[0], input.unpack(*this), p, dim, eps)};
  }
  void release_saved() override { input.reset(); }
  SavedTensor input;
  double p = 2.0, eps = 0;
  int64_t dim = 1;
};

Tensor record_affine(std::shared_ptr<AffineNormBackward> node, const Tensor& input, const Tensor& weight,
                     const Tensor& bias, double eps, Tensor out) {
  node->input = SavedTensor(input);
  node->weight = SavedTensor(weight);
  node->eps = eps;
  autograd::record(node, {&input, &weight, &bias}, {&out});
  return out;
}

}  // namespace

Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps) {
  for (const Tensor* t : {&running_mean, &running_var})
    CUDASEG_CHECK(!t->defined() || !t->requires_grad(), "batch_norm: running statistics ", shape_str(t->shape()),
                  " require grad, but they are buffers and are not differentiated");
  Tensor out = ops::batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps);
  if (!autograd::any_requires_grad({&input, &weight, &bias})) return out;
  auto node = std::make_shared<BatchNormBackward>();
  node->training = training;
  if (!training) {
    node->running_mean = SavedTensor(running_mean);
    node->running_var = SavedTensor(running_var);
  }
  return record_affine(node, input, weight, bias, eps, out);
}

Tensor layer_norm(const Tensor& input, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps) {
  Tensor out = ops::layer_norm(input, normalized_shape, weight, bias, eps);
  if (!autograd::any_requires_grad({&input, &weight, &bias})) return out;
  auto node = std::make_shared<LayerNormBackward>();
  node->normalized_shape = normalized_shape;
  return record_affine(node, input, weight, bias, eps, out);
}

Tensor layer_norm_channels(const Tensor& input, const Tensor& weight, const Tensor& bias, double eps) {
  Tensor out = ops::layer_norm_channels(input, weight, bias, eps);
  if (!autograd::any_requires_grad({&input, &weight, &bias})) return out;
  return record_affine(std::make_shared<LayerNormChannelsBackward>(), input, weight, bias, eps, out);
}

Tensor group_norm(const Tensor& input, int64_t num_groups, const Tensor& weight, const Tensor& bias, double eps) {
  Tensor out = ops::group_norm(input, num_groups, weight, bias, eps);
  if (!autograd::any_requires_grad({&input, &weight, &bias})) return out;
  auto node = std::make_shared<GroupNormBackward>();
  node->num_groups = num_groups;
  return record_affine(node, input, weight, bias, eps, out);
}

Tensor normalize(const Tensor& input, double p, int64_t dim, double eps) {
  Tensor out = ops::normalize(input, p, dim, eps);
  if (!autograd::any_requires_grad({&input})) return out;
  auto node = std::make_shared<NormalizeBackward>();
  node->input = SavedTensor(input);
  node->p = p;
  node->dim = dim;
  node->eps = eps;
  autograd::record(node, {&input}, {&out});
  return out;
}

}  // namespace cudaseg::fn
