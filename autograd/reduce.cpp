#include "autograd/reduce.h"

#include <functional>

#include "autograd/engine.h"
#include "ops/binary.h"
#include "ops/compare.h"
#include "ops/unary.h"

namespace cudaseg::fn {
namespace {

using autograd::Node;
using autograd::SavedTensor;

// x's shape with the reduced dims set to 1, the shape a keepdim result has.
Shape kept_shape(const Tensor& x, const std::vector<int64_t>& dims) {
  if (dims.empty()) return Shape(x.shape().size(), 1);
  Shape kept = x.shape();
  for (int64_t d : dims) kept[wrap_dim(d, x.dim(), "reduce")] = 1;
  return kept;
}

int64_t reduced_count(const Tensor& x, const std::vector<int64_t>& dims) {
  return x.numel() / std::max<int64_t>(shape_numel(kept_shape(x, dims)), 1);
}

// A one-input reduction node: grad_fn(grad reshaped to the kept shape, saved tensors).
struct ReduceBackward : Node {
  using GradFn = std::function<Tensor(const Tensor&, const std::vector<Tensor>&)>;
  ReduceBackward(const char* name, Shape kept, GradFn fn)
      : name_(name), kept_(std::move(kept)), fn_(std::move(fn)) {}
  const char* name() const override { return name_; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    std::vector<Tensor> values;
    for (const SavedTensor& s : saved) values.push_back(s.unpack(*this));
    return {fn_(g[0].reshape(kept_), values)};
  }
  void release_saved() override {
    for (SavedTensor& s : saved) s.reset();
  }
  std::vector<SavedTensor> saved;

 private:
  const char* name_;
  Shape kept_;
  GradFn fn_;
};

Tensor record_reduce(const Tensor& x, const std::vector<int64_t>& dims, Tensor out, const char* name,
                     std::vector<Tensor> saved, ReduceBackward::GradFn fn) {
  if (autograd::any_requires_grad({&x})) {
    auto node = std::make_shared<ReduceBackward>(name, kept_shape(x, dims), std::move(fn));
    for (const Tensor& s : saved) node->saved.emplace_back(s);
    autograd::record(node, {&x}, {&out});
  }
  return out;
}

Tensor zero_scalar(const Tensor& like) { return Tensor::zeros({}, like.dtype(), like.device()); }

// Shares the gradient evenly among the elements equal to the extreme.
Tensor extreme(const char* name, const Tensor& x, const std::vector<int64_t>& dims, Tensor out) {
  const Shape kept = kept_shape(x, dims);
  return record_reduce(x, dims, out, name, {x, out},
                       [dims, kept](const Tensor& g, const std::vector<Tensor>& s) {
                         const Tensor mask = ops::to_dtype(ops::eq(s[0], s[1].reshape(kept)), g.dtype());
                         const Tensor count = ops::sum(mask, dims, true);
                         return ops::mul(mask, ops::div(g, count));
                       });
}

ops::ValuesIndices along_dim(const char* name, const Tensor& x, int64_t dim, bool keepdim,
                             ops::ValuesIndices out) {
  if (autograd::any_requires_grad({&x})) {
    const Shape input_shape = x.shape();
    auto node = std::make_shared<ReduceBackward>(
        name, out.values.shape(), [dim, keepdim, input_shape](const Tensor& g, const std::vector<Tensor>& s) {
          return ops::value_selecting_reduction_backward(g, dim, s[0], input_shape, keepdim);
        });
    node->saved.emplace_back(out.indices);
    autograd::record(node, {&x}, {&out.values});
  }
  return out;
}

// var and std share (x - mean) * g / (N - correction), std dividing by std as well.
Tensor centered_grad(const Tensor& g, const Tensor& x, const std::vector<int64_t>& dims, double correction) {
  const double denom = static_cast<double>(reduced_count(x, dims)) - correction;
  return ops::div(ops::mul(g, ops::sub(x, ops::mean(x, dims, true))), denom);
}

}  // namespace

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  Tensor out = ops::mean(x, dims, keepdim);
  const Shape input_shape = x.shape();
  const double count = static_cast<double>(reduced_count(x, dims));
  return record_reduce(x, dims, out, "MeanBackward", {},
                       [input_shape, count](const Tensor& g, const std::vector<Tensor>&) {
                         return ops::div(g.expand(input_shape), count);
                       });
}

Tensor amax(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return extreme("AmaxBackward", x, dims, ops::amax(x, dims, keepdim));
}
Tensor amin(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return extreme("AminBackward", x, dims, ops::amin(x, dims, keepdim));
}
Tensor max(const Tensor& x) { return extreme("MaxBackward", x, {}, ops::max(x)); }
Tensor min(const Tensor& x) { return extreme("MinBackward", x, {}, ops::min(x)); }

ops::ValuesIndices max(const Tensor& x, int64_t dim, bool keepdim) {
  return along_dim("MaxBackward", x, dim, keepdim, ops::max(x, dim, keepdim));
}
ops::ValuesIndices min(const Tensor& x, int64_t dim, bool keepdim) {
  return along_dim("MinBackward", x, dim, keepdim, ops::min(x, dim, keepdim));
}

Tensor var(const Tensor& x, const std::vector<int64_t>& dims, double correction, bool keepdim) {
  return record_reduce(x, dims, ops::var(x, dims, correction, keepdim), "VarBackward", {x},
                       [dims, correction](const Tensor& g, const std::vector<Tensor>& s) {
                         return ops::mul(centered_grad(g, s[0], dims, correction), 2.0);
                       });
}

Tensor std(const Tensor& x, const std::vector<int64_t>& dims, double correction, bool keepdim) {
  Tensor out = ops::std(x, dims, correction, keepdim);
  const Shape kept = kept_shape(x, dims);
  return record_reduce(x, dims, out, "StdBackward", {x, out},
                       [dims, correction, kept](const Tensor& g, const std::vector<Tensor>& s) {
                         // A zero std passes no gradient (PyTorch masks it rather than dividing by 0).
                         const Tensor sd = s[1].reshape(kept);
                         const Tensor scaled = ops::where(ops::eq(sd, 0.0), zero_scalar(g), ops::div(g, sd));
                         return centered_grad(scaled, s[0], dims, correction);
                       });
}

Tensor norm(const Tensor& x, double p, const std::vector<int64_t>& dims, bool keepdim) {
  Tensor out = ops::norm(x, p, dims, keepdim);
  if (p == 1.0)
    return record_reduce(
        x, dims, out, "NormBackward", {x},
        [](const Tensor& g, const std::vector<Tensor>& s) { return ops::mul(g, ops::sign(s[0])); });
  const Shape kept = kept_shape(x, dims);
  return record_reduce(x, dims, out, "NormBackward", {x, out},
                       [kept](const Tensor& g, const std::vector<Tensor>& s) {
                         const Tensor n = s[1].reshape(kept);
                         return ops::mul(s[0], ops::where(ops::eq(n, 0.0), zero_scalar(g), ops::div(g, n)));
                       });
}

}  // namespace cudaseg::fn
