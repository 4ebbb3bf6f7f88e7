#include "autograd/shape.h"

#include <functional>

#include "autograd/engine.h"
#include "ops/reduce.h"

namespace cudaseg::fn {
namespace {

using autograd::Node;

// A one-input node whose gradient depends only on the incoming gradient and
// on geometry captured at forward time.
struct ShapeBackward : Node {
  using GradFn = std::function<Tensor(const Tensor&)>;
  ShapeBackward(const char* name, GradFn fn) : name_(name), fn_(std::move(fn)) {}
  const char* name() const override { return name_; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override { return {fn_(g[0])}; }

 private:
  const char* name_;
  GradFn fn_;
};

Tensor record_shape(const Tensor& x, Tensor out, const char* name, ShapeBackward::GradFn fn) {
  if (autograd::any_requires_grad({&x}))
    autograd::record(std::make_shared<ShapeBackward>(name, std::move(fn)), {&x}, {&out});
  return out;
}

Tensor record_view(const Tensor& x, Tensor out, const char* name) {
  const Shape input_shape = x.shape();
  return record_shape(x, out, name, [input_shape](const Tensor& g) { return g.reshape(input_shape); });
}

// Many inputs, one output: input i's gradient is part(grad, i).
struct GatherBackward : Node {
  using PartFn = std::function<Tensor(const Tensor&, size_t)>;
  GatherBackward(const char* name, PartFn fn) : name_(name), fn_(std::move(fn)) {}
  const char* name() const override { return name_; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    std::vector<Tensor> out(next_edges.size());
    for (size_t i = 0; i < out.size(); ++i)
      if (next_edges[i].valid()) out[i] = fn_(g[0], i);
    return out;
  }

 private:
  const char* name_;
  PartFn fn_;
};

// One input, many outputs that tile it along `dim`: the gradient is their cat.
struct SplitBackward : Node {
  const char* name() const override { return "SplitBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override { return {ops::cat(g, dim)}; }
  int64_t dim = 0;
};

std::vector<Tensor> record_split(const Tensor& x, std::vector<Tensor> parts, int64_t dim) {
  if (autograd::any_requires_grad({&x}) && x.dim() > 0) {
    auto node = std::make_shared<SplitBackward>();
    node->dim = wrap_dim(dim, x.dim(), "split");
    std::vector<Tensor*> outs;
    for (Tensor& p : parts) outs.push_back(&p);
    autograd::record(node, {&x}, outs);
  }
  return parts;
}

}  // namespace

Tensor reshape(const Tensor& x, const Shape& shape) {
  return record_view(x, x.reshape(shape), "ReshapeBackward");
}
Tensor view(const Tensor& x, const Shape& shape) { return record_view(x, x.view(shape), "ViewBackward"); }
Tensor flatten(const Tensor& x, int64_t start_dim, int64_t end_dim) {
  return record_view(x, x.flatten(start_dim, end_dim), "FlattenBackward");
}
Tensor squeeze(const Tensor& x) { return record_view(x, x.squeeze(), "SqueezeBackward"); }
Tensor squeeze(const Tensor& x, int64_t dim) { return record_view(x, x.squeeze(dim), "SqueezeBackward"); }
Tensor unsqueeze(const Tensor& x, int64_t dim) {
  return record_view(x, x.unsqueeze(dim), "UnsqueezeBackward");
}

Tensor permute(const Tensor& x, const std::vector<int64_t>& dims) {
  Tensor out = x.permute(dims);
  std::vector<int64_t> inverse(dims.size());
  for (size_t i = 0; i < dims.size(); ++i)
    inverse[wrap_dim(dims[i], x.dim(), "permute")] = static_cast<int64_t>(i);
  return record_shape(x, out, "PermuteBackward", [inverse](const Tensor& g) { return g.permute(inverse); });
}

Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1) {
  return record_shape(x, x.transpose(dim0, dim1), "TransposeBackward",
                      [dim0, dim1](const Tensor& g) { return g.transpose(dim0, dim1); });
}

Tensor expand(const Tensor& x, const Shape& shape) {
  const Shape input_shape = x.shape();
  return record_shape(x, x.expand(shape), "ExpandBackward",
                      [input_shape](const Tensor& g) { return ops::sum_to(g, input_shape); });
}

Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step) {
  const Shape input_shape = x.shape();
  return record_shape(x, x.slice(dim, start, end, step), "SliceBackward", [=](const Tensor& g) {
    return ops::slice_backward(g, input_shape, dim, start, end, step);
  });
}

Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  Tensor out = x.narrow(dim, start, length);
  const int64_t begin = start < 0 ? start + x.size(dim) : start;
  const Shape input_shape = x.shape();
  return record_shape(x, out, "NarrowBackward", [=](const Tensor& g) {
    return ops::slice_backward(g, input_shape, dim, begin, begin + length, 1);
  });
}

Tensor select(const Tensor& x, int64_t dim, int64_t index) {
  Tensor out = x.select(dim, index);
  const int64_t d = wrap_dim(dim, x.dim(), "select");
  const int64_t i = index < 0 ? index + x.size(d) : index;
  const Shape input_shape = x.shape();
  return record_shape(x, out, "SelectBackward", [=](const Tensor& g) {
    return ops::slice_backward(g.unsqueeze(d), input_shape, d, i, i + 1, 1);
  });
}

Tensor contiguous(const Tensor& x) {
  if (x.is_contiguous()) return x;
  return record_shape(x, x.contiguous(), "CloneBackward", [](const Tensor& g) { return g; });
}

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  Tensor out = ops::cat(tensors, dim);
  if (autograd::any_requires_grad(tensors)) {
    const int64_t d = wrap_dim(dim, tensors[0].dim(), "cat");
    std::vector<int64_t> starts, sizes;
    int64_t at = 0;
    for (const Tensor& t : tensors) {
      starts.push_back(at);
      sizes.push_back(t.size(d));
      at += t.size(d);
    }
    auto node = std::make_shared<GatherBackward>(
        "CatBackward",
        [d, starts, sizes](const Tensor& g, size_t i) { return g.narrow(d, starts[i], sizes[i]); });
    std::vector<const Tensor*> inputs;
    for (const Tensor& t : tensors) inputs.push_back(&t);
    autograd::record(node, inputs, {&out});
  }
  return out;
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  Tensor out = ops::stack(tensors, dim);
  if (autograd::any_requires_grad(tensors)) {
    const int64_t d = wrap_dim(dim, tensors[0].dim() + 1, "stack");
    auto node = std::make_shared<GatherBackward>(
        "StackBackward", [d](const Tensor& g, size_t i) { return g.select(d, static_cast<int64_t>(i)); });
    std::vector<const Tensor*> inputs;
    for (const Tensor& t : tensors) inputs.push_back(&t);
    autograd::record(node, inputs, {&out});
  }
  return out;
}

std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim) {
  return record_split(x, ops::split(x, split_size, dim), dim);
}

std::vector<Tensor> split_with_sizes(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim) {
  return record_split(x, ops::split_with_sizes(x, sizes, dim), dim);
}

std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim) {
  return record_split(x, ops::chunk(x, chunks, dim), dim);
}

Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, ops::PadMode mode, double value) {
  const Shape input_shape = x.shape();
  return record_shape(x, ops::pad(x, pads, mode, value), "PadBackward",
                      [=](const Tensor& g) { return ops::pad_backward(g, input_shape, pads, mode); });
}

Tensor repeat(const Tensor& x, const std::vector<int64_t>& repeats) {
  Tensor out = ops::repeat(x, repeats);
  const Shape input_shape = x.shape();
  return record_shape(x, out, "RepeatBackward", [input_shape, repeats](const Tensor& g) {
    // Undo the tiling: view as [r0, s0, r1, s1, ...] and sum the r dims.
    const size_t lead = repeats.size() - input_shape.size();
    Shape tiled;
    std::vector<int64_t> dims;
    for (size_t d = 0; d < repeats.size(); ++d) {
      dims.push_back(static_cast<int64_t>(tiled.size()));
      tiled.push_back(repeats[d]);
      tiled.push_back(d < lead ? 1 : input_shape[d - lead]);
    }
    return ops::sum(g.reshape(tiled), dims).reshape(input_shape);
  });
}

Tensor roll(const Tensor& x, const std::vector<int64_t>& shifts, const std::vector<int64_t>& dims) {
  std::vector<int64_t> back;
  for (int64_t s : shifts) back.push_back(-s);
  return record_shape(x, ops::roll(x, shifts, dims), "RollBackward",
                      [back, dims](const Tensor& g) { return ops::roll(g, back, dims); });
}

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  const Shape input_shape = x.shape();
  Tensor out = ops::index_select(x, dim, index);
  if (!autograd::any_requires_grad({&x})) return out;
  const Tensor saved_index = index.clone();  // immune to later in-place writes
  return record_shape(x, out, "IndexSelectBackward", [input_shape, dim, saved_index](const Tensor& g) {
    return ops::index_select_backward(g, input_shape, dim, saved_index);
  });
}

Tensor channel_shuffle(const Tensor& x, int64_t groups) {
  Tensor out = ops::channel_shuffle(x, groups);
  const int64_t inverse = x.size(1) / groups;
  return record_shape(x, out, "ChannelShuffleBackward",
                      [inverse](const Tensor& g) { return ops::channel_shuffle(g, inverse); });
}

}  // namespace cudaseg::fn
