#include "autograd/arith.h"

#include "autograd/engine.h"
#include "ops/binary.h"
#include "ops/compare.h"
#include "ops/reduce.h"
#include "ops/unary.h"

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

struct DivScalarBackward : Node {
  const char* name() const override { return "DivScalarBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override { return {ops::div(g[0], divisor)}; }
  double divisor = 1.0;
};

Tensor zero_like_scalar(const Tensor& t) { return Tensor::zeros({}, t.dtype(), t.device()); }

struct PowBackward : Node {
  const char* name() const override { return "PowBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    std::vector<Tensor> out(2);
    const Tensor at = a.unpack(*this), bt = b.unpack(*this);
    // d/da a^b = b * a^(b-1)
    if (next_edges[0].valid())
      out[0] = ops::sum_to(ops::mul(g[0], ops::mul(bt, ops::pow(at, ops::sub(bt, 1.0)))), a_shape);
    // d/db a^b = a^b * log(a), defined as 0 where a == 0 and b >= 0 (PyTorch's convention).
    if (next_edges[1].valid()) {
      const Tensor r = result.unpack(*this);
      const Tensor no = Tensor::zeros({}, DType::boolean, r.device());
      const Tensor zero_base = ops::where(ops::eq(at, 0.0), ops::ge(bt, 0.0), no);
      const Tensor masked = ops::where(zero_base, zero_like_scalar(r), ops::mul(r, ops::log(at)));
      out[1] = ops::sum_to(ops::mul(g[0], masked), b_shape);
    }
    return out;
  }
  void release_saved() override {
    a.reset();
    b.reset();
    result.reset();
  }
  SavedTensor a, b, result;
  Shape a_shape, b_shape;
};

struct PowScalarBackward : Node {
  const char* name() const override { return "PowBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    const Tensor at = a.unpack(*this);
    if (exponent == 0.0) return {Tensor::zeros(at.shape(), g[0].dtype(), g[0].device())};
    return {ops::mul(ops::mul(g[0], ops::pow(at, exponent - 1.0)), exponent)};
  }
  void release_saved() override { a.reset(); }
  SavedTensor a;
  double exponent = 1.0;
};

struct WhereBackward : Node {
  const char* name() const override { return "WhereBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    std::vector<Tensor> out(3);
    const Tensor c = cond.unpack(*this), zero = zero_like_scalar(g[0]);
    if (next_edges[1].valid()) out[1] = ops::sum_to(ops::where(c, g[0], zero), a_shape);
    if (next_edges[2].valid()) out[2] = ops::sum_to(ops::where(c, zero, g[0]), b_shape);
    return out;
  }
  void release_saved() override { cond.reset(); }
  SavedTensor cond;
  Shape a_shape, b_shape;
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
    if (b.requires_grad()) node->result = SavedTensor(out.detach());  // the output itself would hold this node: a cycle
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

Tensor sub(const Tensor& a, double b) {
  Tensor out = ops::sub(a, b);
  if (autograd::any_requires_grad({&a})) autograd::record(std::make_shared<ScaleBackward>(), {&a}, {&out});
  return out;
}

Tensor rsub(const Tensor& a, double b) {
  Tensor out = ops::rsub(a, b);
  if (autograd::any_requires_grad({&a})) {
    auto node = std::make_shared<ScaleBackward>();
    node->scale = -1.0;
    autograd::record(node, {&a}, {&out});
  }
  return out;
}

Tensor div(const Tensor& a, double b) {
  Tensor out = ops::div(a, b);
  if (autograd::any_requires_grad({&a})) {
    auto node = std::make_shared<DivScalarBackward>();
    node->divisor = b;
    autograd::record(node, {&a}, {&out});
  }
  return out;
}

Tensor pow(const Tensor& a, const Tensor& b) {
  Tensor out = ops::pow(a, b);
  if (autograd::any_requires_grad({&a, &b})) {
    auto node = std::make_shared<PowBackward>();
    node->a = SavedTensor(a);
    node->b = SavedTensor(b);
    if (b.requires_grad()) node->result = SavedTensor(out.detach());  // the output itself would hold this node: a cycle
    node->a_shape = a.shape();
    node->b_shape = b.shape();
    autograd::record(node, {&a, &b}, {&out});
  }
  return out;
}

Tensor pow(const Tensor& a, double exponent) {
  Tensor out = ops::pow(a, exponent);
  if (autograd::any_requires_grad({&a})) {
    auto node = std::make_shared<PowScalarBackward>();
    node->a = SavedTensor(a);
    node->exponent = exponent;
    autograd::record(node, {&a}, {&out});
  }
  return out;
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  Tensor out = ops::where(cond, a, b);
  if (autograd::any_requires_grad({&a, &b})) {
    auto node = std::make_shared<WhereBackward>();
    node->cond = SavedTensor(cond);
    node->a_shape = a.shape();
    node->b_shape = b.shape();
    autograd::record(node, {&cond, &a, &b}, {&out});
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
