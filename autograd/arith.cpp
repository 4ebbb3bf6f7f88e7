#include "autograd/arith.h"

#include "autograd/engine.h"
#include "ops/binary.h"
#include "ops/reduce.h"

namespace cudaseg::fn {
namespace {

using autograd::Node;
using autograd::SavedTensor;

struct AddSubBackward : Node {
  const char* name() const override { return sign > 0 ? "AddBackward" : "SubBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    std::vector<Tensor> out(2);
    if (next_edges[0].valid()) out[0] = ops::sum_to(g[0], a_shape);
    if (next_edges[1].valid()) out[1] = ops::sum_to(ops::mul(g[0], sign * alpha), b_shape);
    return out;
  }
  Shape a_shape, b_shape;
  double alpha = 1.0, sign = 1.0;
};

struct MulBackward : Node {
  const char* name() const override { return "MulBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    std::vector<Tensor> out(2);
    if (next_edges[0].valid()) out[0] = ops::sum_to(ops::mul(g[0], b.unpack(*this)), a_shape);
    if (next_edges[1].valid()) out[1] = ops::sum_to(ops::mul(g[0], a.unpack(*this)), b_shape);
    return out;
  }
  void release_saved() override {
    a.reset();
    b.reset();
  }
  SavedTensor a, b;
  Shape a_shape, b_shape;
};

struct DivBackward : Node {
  const char* name() const override { return "DivBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    std::vector<Tensor> out(2);
    const Tensor bt = b.unpack(*this);
    const Tensor ga = ops::div(g[0], bt);
    if (next_edges[0].valid()) out[0] = ops::sum_to(ga, a_shape);
    // d(a/b)/db = -a/b^2 = -(g/b) * (a/b)
    if (next_edges[1].valid())
      out[1] = ops::sum_to(ops::mul(ops::mul(ga, result.unpack(*this)), -1.0), b_shape);
    return out;
  }
  void release_saved() override {
    b.reset();
    result.reset();
  }
  SavedTensor b, result;
  Shape a_shape, b_shape;
};

struct ScaleBackward : Node {
  const char* name() const override { return "MulScalarBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override { return {scale == 1.0 ? g[0] : ops::mul(g[0], scale)}; }
  double scale = 1.0;
};

struct SumBackward : Node {
  const char* name() const override { return "SumBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    return {g[0].reshape(kept_shape).expand(input_shape).contiguous()};
  }
  Shape input_shape, kept_shape;
};

Tensor add_sub(const Tensor& a, const Tensor& b, double alpha, double sign) {
  Tensor out = sign > 0 ? ops::add(a, b, alpha) : ops::sub(a, b, alpha);
  if (autograd::any_requires_grad({&a, &b})) {
    auto node = std::make_shared<AddSubBackward>();
    node->a_shape = a.shape();
    node->b_shape = b.shape();
    node->alpha = alpha;
    node->sign = sign;
    autograd::record(node, {&a, &b}, {&out});
  }
  return out;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b, double alpha) { return add_sub(a, b, alpha, 1.0); }
Tensor sub(const Tensor& a, const Tensor& b, double alpha) { return add_sub(a, b, alpha, -1.0); }

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = ops::mul(a, b);
  if (autograd::any_requires_grad({&a, &b})) {
    auto node = std::make_shared<MulBackward>();
    if (b.requires_grad()) node->a = SavedTensor(a);
    if (a.requires_grad()) node->b = SavedTensor(b);
    node->a_shape = a.shape();
    node->b_shape = b.shape();
    autograd::record(node, {&a, &b}, {&out});
  }
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = ops::div(a, b);
  if (autograd::any_requires_grad({&a, &b})) {
    auto node = std::make_shared<DivBackward>();
    node->b = SavedTensor(b);
    if (b.requires_grad()) node->result = SavedTensor(out);
    node->a_shape = a.shape();
    node->b_shape = b.shape();
    autograd::record(node, {&a, &b}, {&out});
  }
  return out;
}

Tensor add(const Tensor& a, double b) {
  Tensor out = ops::add(a, b);
  if (autograd::any_requires_grad({&a})) autograd::record(std::make_shared<ScaleBackward>(), {&a}, {&out});
  return out;
}

Tensor mul(const Tensor& a, double b) {
  Tensor out = ops::mul(a, b);
  if (autograd::any_requires_grad({&a})) {
    auto node = std::make_shared<ScaleBackward>();
    node->scale = b;
    autograd::record(node, {&a}, {&out});
  }
  return out;
}

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  Tensor out = ops::sum(x, dims, keepdim);
  if (autograd::any_requires_grad({&x})) {
    auto node = std::make_shared<SumBackward>();
    node->input_shape = x.shape();
    node->kept_shape = dims.empty() ? Shape(x.shape().size(), 1) : x.shape();
    for (int64_t d : dims) node->kept_shape[wrap_dim(d, x.dim(), "sum")] = 1;
    autograd::record(node, {&x}, {&out});
  }
  return out;
}

}  // namespace cudaseg::fn
