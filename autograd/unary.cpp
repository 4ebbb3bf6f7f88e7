#include "autograd/unary.h"

#include <functional>

#include "autograd/engine.h"
#include "ops/binary.h"
#include "ops/compare.h"
#include "ops/unary.h"

namespace cudaseg::fn {
namespace {

using autograd::Node;
using autograd::SavedTensor;

// A one-input node whose gradient is grad_fn(grad, saved tensors).
struct UnaryBackward : Node {
  using GradFn = std::function<Tensor(const Tensor&, const std::vector<Tensor>&)>;
  UnaryBackward(const char* name, GradFn fn) : name_(name), fn_(std::move(fn)) {}
  const char* name() const override { return name_; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    std::vector<Tensor> values;
    for (const SavedTensor& s : saved) values.push_back(s.unpack(*this));
    return {fn_(g[0], values)};
  }
  void release_saved() override {
    for (SavedTensor& s : saved) s.reset();
  }
  std::vector<SavedTensor> saved;

 private:
  const char* name_;
  GradFn fn_;
};

Tensor record_unary(const Tensor& x, Tensor out, const char* name, std::vector<Tensor> saved,
                    UnaryBackward::GradFn fn) {
  if (autograd::any_requires_grad({&x})) {
    auto node = std::make_shared<UnaryBackward>(name, std::move(fn));
    for (const Tensor& s : saved) node->saved.emplace_back(s);
    autograd::record(node, {&x}, {&out});
  }
  return out;
}

Tensor zero_scalar(const Tensor& like) { return Tensor::zeros({}, like.dtype(), like.device()); }

}  // namespace

Tensor neg(const Tensor& x) {
  return record_unary(x, ops::neg(x), "NegBackward", {},
                      [](const Tensor& g, const std::vector<Tensor>&) { return ops::neg(g); });
}

Tensor sqrt(const Tensor& x) {
  Tensor out = ops::sqrt(x);
  return record_unary(x, out, "SqrtBackward", {out}, [](const Tensor& g, const std::vector<Tensor>& s) {
    return ops::div(g, ops::mul(s[0], 2.0));
  });
}

Tensor rsqrt(const Tensor& x) {
  Tensor out = ops::rsqrt(x);
  // d/dx x^(-1/2) = -1/2 x^(-3/2) = -1/2 out^3
  return record_unary(x, out, "RsqrtBackward", {out}, [](const Tensor& g, const std::vector<Tensor>& s) {
    return ops::mul(ops::mul(g, ops::pow(s[0], 3.0)), -0.5);
  });
}

Tensor exp(const Tensor& x) {
  Tensor out = ops::exp(x);
  return record_unary(x, out, "ExpBackward", {out},
                      [](const Tensor& g, const std::vector<Tensor>& s) { return ops::mul(g, s[0]); });
}

Tensor log(const Tensor& x) {
  return record_unary(x, ops::log(x), "LogBackward", {x},
                      [](const Tensor& g, const std::vector<Tensor>& s) { return ops::div(g, s[0]); });
}

Tensor abs(const Tensor& x) {
  return record_unary(x, ops::abs(x), "AbsBackward", {x}, [](const Tensor& g, const std::vector<Tensor>& s) {
    return ops::mul(g, ops::sign(s[0]));
  });
}

Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max) {
  return record_unary(x, ops::clamp(x, min, max), "ClampBackward", {x},
                      [min, max](const Tensor& g, const std::vector<Tensor>& s) {
                        Tensor out = g;
                        if (min) out = ops::where(ops::ge(s[0], *min), out, zero_scalar(g));
                        if (max) out = ops::where(ops::le(s[0], *max), out, zero_scalar(g));
                        return out;
                      });
}

Tensor to_dtype(const Tensor& x, DType dtype) {
  if (x.defined() && x.dtype() == dtype) return x;
  const DType from = x.defined() ? x.dtype() : dtype;
  Tensor out = ops::to_dtype(x, dtype);
  if (!is_floating(dtype) || !is_floating(from)) return out;
  return record_unary(x, out, "ToCopyBackward", {},
                      [from](const Tensor& g, const std::vector<Tensor>&) { return ops::to_dtype(g, from); });
}

}  // namespace cudaseg::fn
