#include "autograd/pool.h"

#include "autograd/engine.h"

namespace cudaseg::fn {
namespace {

using autograd::Node;
using autograd::SavedTensor;

// Max pooling of either kind: the gradient goes to the argmax of each window.
struct MaxPoolBackward : Node {
  explicit MaxPoolBackward(const char* n) : node_name(n) {}
  const char* name() const override { return node_name; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    return {ops::max_pool2d_backward(g[0], indices.unpack(*this), input_shape)};
  }
  void release_saved() override { indices.reset(); }
  const char* node_name;
  SavedTensor indices;
  Shape input_shape;
};

struct MaxUnpoolBackward : Node {
  const char* name() const override { return "MaxUnpool2DBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    return {ops::max_unpool2d_backward(g[0], indices.unpack(*this))};
  }
  void release_saved() override { indices.reset(); }
  SavedTensor indices;
};

struct AvgPoolBackward : Node {
  const char* name() const override { return "AvgPool2DBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    return {ops::avg_pool2d_backward(g[0], input_shape, params)};
  }
  Shape input_shape;
  ops::AvgPool2dParams params;
};

struct AdaptiveAvgPoolBackward : Node {
  const char* name() const override { return "AdaptiveAvgPool2DBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    return {ops::adaptive_avg_pool2d_backward(g[0], input_shape)};
  }
  Shape input_shape;
};

std::pair<Tensor, Tensor> record_max(const char* name, const Tensor& input, std::pair<Tensor, Tensor> result) {
  if (autograd::any_requires_grad({&input})) {
    auto node = std::make_shared<MaxPoolBackward>(name);
    node->indices = SavedTensor(result.second);
    node->input_shape = input.shape();
    autograd::record(node, {&input}, {&result.first});
  }
  return result;
}

}  // namespace

std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& input, const ops::MaxPool2dParams& params) {
  return record_max("MaxPool2DWithIndicesBackward", input, ops::max_pool2d_with_indices(input, params));
}

Tensor max_pool2d(const Tensor& input, const ops::MaxPool2dParams& params) {
  if (!autograd::any_requires_grad({&input})) return ops::max_pool2d(input, params);
  return fn::max_pool2d_with_indices(input, params).first;
}

std::pair<Tensor, Tensor> adaptive_max_pool2d_with_indices(const Tensor& input, std::array<int64_t, 2> output_size) {
  return record_max("AdaptiveMaxPool2DBackward", input, ops::adaptive_max_pool2d_with_indices(input, output_size));
}

Tensor adaptive_max_pool2d(const Tensor& input, std::array<int64_t, 2> output_size) {
  return adaptive_max_pool2d_with_indices(input, output_size).first;
}

Tensor max_unpool2d(const Tensor& input, const Tensor& indices, std::array<int64_t, 2> output_size) {
  Tensor out = ops::max_unpool2d(input, indices, output_size);
  if (autograd::any_requires_grad({&input})) {
    auto node = std::make_shared<MaxUnpoolBackward>();
    node->indices = SavedTensor(indices);
    autograd::record(node, {&input}, {&out});
  }
  return out;
}

Tensor avg_pool2d(const Tensor& input, const ops::AvgPool2dParams& params) {
  Tensor out = ops::avg_pool2d(input, params);
  if (autograd::any_requires_grad({&input})) {
    auto node = std::make_shared<AvgPoolBackward>();
    node->input_shape = input.shape();
    node->params = params;
    autograd::record(node, {&input}, {&out});
  }
  return out;
}

Tensor adaptive_avg_pool2d(const Tensor& input, std::array<int64_t, 2> output_size) {
  Tensor out = ops::adaptive_avg_pool2d(input, output_size);
  if (autograd::any_requires_grad({&input})) {
    auto node = std::make_shared<AdaptiveAvgPoolBackward>();
    node->input_shape = input.shape();
    autograd::record(node, {&input}, {&out});
  }
  return out;
}

}  // namespace cudaseg::fn
