#include "ops/shape.h"

#include <algorithm>

#include "ops/common.h"
#include "ops/kernels/shape.h"

namespace cudaseg::ops {
Kernel<kernels::PadFn> kernels::pad("pad");
Kernel<kernels::PadBackwardFn> kernels::pad_backward("pad_backward");
Kernel<kernels::IndexSelectFn> kernels::index_select("index_select");
Kernel<kernels::IndexAddFn> kernels::index_add("index_select_backward");

using kernels::PadKind;

namespace {

PadKind pad_kind(PadMode mode) {
  switch (mode) {
    case PadMode::reflect:
      return PadKind::reflect;
    case PadMode::replicate:
      return PadKind::replicate;
    default:
      return PadKind::constant;
  }
}

const char* pad_mode_name(PadMode mode) {
  switch (mode) {
    case PadMode::reflect:
      return "reflect";
    case PadMode::replicate:
      return "replicate";
    default:
      return "constant";
  }
}

// The per-dim (before, after) amounts of a PyTorch pad list, checked against x.
void pad_amounts(const Shape& shape, const std::vector<int64_t>& pads, PadMode mode,
                 std::vector<int64_t>& before, Shape& out_shape) {
  const int64_t nd = static_cast<int64_t>(shape.size());
  const int64_t npad = static_cast<int64_t>(pads.size());
  CUDASEG_CHECK(npad % 2 == 0 && npad > 0, "pad: the pad list ", shape_str(pads),
                " must have an even, non-zero length");
  CUDASEG_CHECK(npad / 2 <= nd, "pad: the pad list ", shape_str(pads), " pads ", npad / 2, " dims but input ",
                shape_str(shape), " has ", nd);
  before.assign(static_cast<size_t>(nd), 0);
  out_shape = shape;
  for (int64_t k = 0; k < npad / 2; ++k) {
    const int64_t d = nd - 1 - k, lo = pads[2 * k], hi = pads[2 * k + 1];
    before[d] = lo;
    out_shape[d] = shape[d] + lo + hi;
    CUDASEG_CHECK(out_shape[d] >= 0, "pad: padding (", lo, ", ", hi, ") at dim ", d, " of input ",
                  shape_str(shape), " gives a negative size ", out_shape[d]);
    if (mode == PadMode::reflect)
      CUDASEG_CHECK(lo < shape[d] && hi < shape[d], "pad: reflect padding (", lo, ", ", hi, ") at dim ", d,
                    " must be less than that dim's size ", shape[d], " of input ", shape_str(shape));
    if (mode == PadMode::replicate)
      CUDASEG_CHECK(shape[d] > 0 || out_shape[d] == 0, "pad: replicate padding of the empty dim ", d,
                    " of input ", shape_str(shape));
  }
}

}  // namespace

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  CUDASEG_CHECK(!tensors.empty(), "cat: expected a non-empty list of tensors");
  const Tensor& first = tensors[0];
  check_defined("cat", "tensors[0]", first);
  const int64_t d = wrap_dim(dim, first.dim(), "cat");
  CUDASEG_CHECK(first.dim() > 0, "cat: zero-dimensional tensor ", shape_str(first.shape()),
                " cannot be concatenated");
  Shape out_shape = first.shape();
  out_shape[d] = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    const std::string name = "tensors[" + std::to_string(i) + "]";
    check_defined("cat", name.c_str(), t);
    check_same_device("cat", {{"tensors[0]", &first}, {name.c_str(), &t}});
    check_same_dtype("cat", {{"tensors[0]", &first}, {name.c_str(), &t}});
    bool match = t.dim() == first.dim();
    for (int64_t k = 0; match && k < t.dim(); ++k) match = k == d || t.size(k) == first.size(k);
    CUDASEG_CHECK(match, "cat: tensor ", i, " has shape ", shape_str(t.shape()), " but tensor 0 has ",
                  shape_str(first.shape()), "; sizes must match except in dim ", d);
    out_shape[d] += t.size(d);
  }
  Tensor out = Tensor::empty(out_shape, first.dtype(), first.device());
  int64_t at = 0;
  for (const Tensor& t : tensors) {
    out.narrow(d, at, t.size(d)).copy_(t);
    at += t.size(d);
  }
  return out;
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  CUDASEG_CHECK(!tensors.empty(), "stack: expected a non-empty list of tensors");
  check_defined("stack", "tensors[0]", tensors[0]);
  const int64_t d = wrap_dim(dim, tensors[0].dim() + 1, "stack");
  std::vector<Tensor> parts;
  for (size_t i = 0; i < tensors.size(); ++i) {
    check_defined("stack", "tensors", tensors[i]);
    CUDASEG_CHECK(tensors[i].shape() == tensors[0].shape(), "stack: tensor ", i, " has shape ",
                  shape_str(tensors[i].shape()), " but tensor 0 has ", shape_str(tensors[0].shape()),
                  "; all must be equal");
    parts.push_back(tensors[i].unsqueeze(d));
  }
  return cat(parts, d);
}

std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim) {
  check_defined("split", "input", x);
  const int64_t d = wrap_dim(dim, x.dim(), "split");
  CUDASEG_CHECK(x.dim() > 0, "split: cannot split a 0-dim tensor");
  const int64_t n = x.size(d);
  CUDASEG_CHECK(split_size > 0 || (split_size == 0 && n == 0), "split: split_size must be positive, got ",
                split_size, " for input ", shape_str(x.shape()));
  std::vector<Tensor> out;
  if (n == 0) return {x};
  for (int64_t at = 0; at < n; at += split_size) out.push_back(x.narrow(d, at, std::min(split_size, n - at)));
  return out;
}

std::vector<Tensor> split_with_sizes(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim) {
  check_defined("split_with_sizes", "input", x);
  CUDASEG_CHECK(x.dim() > 0, "split_with_sizes: cannot split a 0-dim tensor");
  const int64_t d = wrap_dim(dim, x.dim(), "split_with_sizes");
  int64_t total = 0;
  for (int64_t s : sizes) {
    CUDASEG_CHECK(s >= 0, "split_with_sizes: negative size in ", shape_str(sizes));
    total += s;
  }
  CUDASEG_CHECK(total == x.size(d), "split_with_sizes: sizes ", shape_str(sizes), " sum to ", total,
                " but dim ", d, " of input ", shape_str(x.shape()), " has ", x.size(d));
  std::vector<Tensor> out;
  int64_t at = 0;
  for (int64_t s : sizes) {
    out.push_back(x.narrow(d, at, s));
    at += s;
  }
  return out;
}

std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim) {
  check_defined("chunk", "input", x);
  CUDASEG_CHECK(chunks > 0, "chunk: chunks must be positive, got ", chunks, " for input ",
                shape_str(x.shape()));
  CUDASEG_CHECK(x.dim() > 0, "chunk: cannot chunk a 0-dim tensor");
  const int64_t n = x.size(wrap_dim(dim, x.dim(), "chunk"));
  return split(x, std::max<int64_t>((n + chunks - 1) / chunks, n == 0 ? 0 : 1), dim);
}

PadMode pad_mode_from_name(const std::string& name) {
  if (name == "constant") return PadMode::constant;
  if (name == "reflect") return PadMode::reflect;
  if (name == "replicate") return PadMode::replicate;
  CUDASEG_FAIL("pad: unknown mode '", name, "' (expected constant, reflect or replicate)");
}

Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, PadMode mode, double value) {
  check_defined("pad", "input", x);
  std::vector<int64_t> before;
  Shape out_shape;
  pad_amounts(x.shape(), pads, mode, before, out_shape);
  Tensor out = Tensor::empty(out_shape, x.dtype(), x.device());
  if (out.numel() == 0) return out;
  kernels::pad(x.device(), x.contiguous(), before, pad_kind(mode), value, out);
  return out;
}

Tensor pad_backward(const Tensor& grad, const Shape& input_shape, const std::vector<int64_t>& pads,
                    PadMode mode) {
  check_defined("pad_backward", "grad", grad);
  std::vector<int64_t> before;
  Shape out_shape;
  pad_amounts(input_shape, pads, mode, before, out_shape);
  CUDASEG_CHECK(grad.shape() == out_shape, "pad_backward: grad ", shape_str(grad.shape()),
                " is not the shape ", shape_str(out_shape), " of input ", shape_str(input_shape),
                " padded by ", shape_str(pads), " (", pad_mode_name(mode), ")");
  Tensor grad_input = Tensor::zeros(input_shape, grad.dtype(), grad.device());
  if (grad.numel() == 0) return grad_input;
  kernels::pad_backward(grad.device(), grad.contiguous(), before, pad_kind(mode), grad_input);
  return grad_input;
}

Tensor repeat(const Tensor& x, const std::vector<int64_t>& repeats) {
  check_defined("repeat", "input", x);
  const int64_t nr = static_cast<int64_t>(repeats.size());
  CUDASEG_CHECK(nr >= x.dim(), "repeat: ", nr, " repeats ", shape_str(repeats), " for input ",
                shape_str(x.shape()), "; need at least one per dim");
  Shape padded(static_cast<size_t>(nr - x.dim()), 1);
  padded.insert(padded.end(), x.shape().begin(), x.shape().end());
  // Tile by viewing each dim d as [1, s_d], broadcasting to [r_d, s_d] and merging.
  Shape interleaved, tiled, out_shape;
  for (int64_t d = 0; d < nr; ++d) {
    CUDASEG_CHECK(repeats[d] >= 0, "repeat: negative repeat in ", shape_str(repeats));
    interleaved.insert(interleaved.end(), {1, padded[d]});
    tiled.insert(tiled.end(), {repeats[d], padded[d]});
    out_shape.push_back(repeats[d] * padded[d]);
  }
  Tensor out = Tensor::empty(tiled, x.dtype(), x.device());
  out.copy_(x.reshape(interleaved).expand(tiled));
  return out.view(out_shape);
}

Tensor roll(const Tensor& x, const std::vector<int64_t>& shifts, const std::vector<int64_t>& dims) {
  check_defined("roll", "input", x);
  if (dims.empty()) {
    CUDASEG_CHECK(shifts.size() == 1, "roll: without dims exactly one shift is expected, got ",
                  shape_str(shifts), " for input ", shape_str(x.shape()));
    return roll(x.reshape({-1}), shifts, {0}).view(x.shape());
  }
  CUDASEG_CHECK(shifts.size() == dims.size(), "roll: shifts ", shape_str(shifts), " and dims ",
                shape_str(dims), " must have the same length (input ", shape_str(x.shape()), ")");
  Tensor cur = x;
  for (size_t i = 0; i < dims.size(); ++i) {
    const int64_t d = wrap_dim(dims[i], x.dim(), "roll");
    const int64_t n = x.size(d);
    Tensor next = Tensor::empty(x.shape(), x.dtype(), x.device());
    const int64_t s = n == 0 ? 0 : ((shifts[i] % n) + n) % n;
    next.narrow(d, s, n - s).copy_(cur.narrow(d, 0, n - s));
    next.narrow(d, 0, s).copy_(cur.narrow(d, n - s, s));
    cur = next;
  }
  return cur;
}

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  check_defined("index_select", "input", x);
  check_defined("index_select", "index", index);
  check_same_device("index_select", {{"input", &x}, {"index", &index}});
  CUDASEG_CHECK(index.dim() <= 1, "index_select: index must be 1-D, got shape ", shape_str(index.shape()));
  CUDASEG_CHECK(index.dtype() == DType::i64 || index.dtype() == DType::i32,
                "index_select: index must be int64 or int32, got ", index.str());
  const int64_t d = wrap_dim(dim, x.dim(), "index_select");
  const int64_t n = x.dim() == 0 ? 1 : x.size(d);
  Tensor idx = index.to(DType::i64).contiguous();
  for (double v : idx.to_vector())
    CUDASEG_CHECK(v >= 0 && v < n, "index_select: index ", static_cast<int64_t>(v), " out of range for dim ",
                  d, " of size ", n, " (input ", shape_str(x.shape()), ")");
  Shape out_shape = x.shape();
  if (x.dim() > 0) out_shape[d] = idx.numel();
  int64_t outer = 1, inner = 1;
  for (int64_t k = 0; k < d; ++k) outer *= x.size(k);
  for (int64_t k = d + 1; k < x.dim(); ++k) inner *= x.size(k);
  Tensor out = Tensor::empty(out_shape, x.dtype(), x.device());
  if (out.numel() == 0) return out;
  kernels::index_select(x.device(), x.contiguous(), outer, inner, idx, out);
  return out;
}

Tensor index_select_backward(const Tensor& grad, const Shape& input_shape, int64_t dim, const Tensor& index) {
  check_defined("index_select_backward", "grad", grad);
  check_defined("index_select_backward", "index", index);
  const int64_t nd = static_cast<int64_t>(input_shape.size());
  const int64_t d = wrap_dim(dim, nd, "index_select_backward");
  Tensor idx = index.to(DType::i64).contiguous();
  Shape expect = input_shape;
  if (nd > 0) expect[d] = idx.numel();
  CUDASEG_CHECK(grad.shape() == expect, "index_select_backward: grad ", shape_str(grad.shape()),
                " should be ", shape_str(expect), " for input ", shape_str(input_shape));
  int64_t outer = 1, inner = 1;
  for (int64_t k = 0; k < d; ++k) outer *= input_shape[k];
  for (int64_t k = d + 1; k < nd; ++k) inner *= input_shape[k];
  Tensor out = Tensor::zeros(input_shape, grad.dtype(), grad.device());
  if (grad.numel() == 0) return out;
  kernels::index_add(grad.device(), grad.contiguous(), outer, inner, idx, out);
  return out;
}

Tensor channel_shuffle(const Tensor& x, int64_t groups) {
  check_defined("channel_shuffle", "input", x);
  CUDASEG_CHECK(x.dim() > 2, "channel_shuffle: expects input with > 2 dims, got ", shape_str(x.shape()));
  CUDASEG_CHECK(groups > 0, "channel_shuffle: groups must be positive, got ", groups);
  const int64_t c = x.size(1);
  CUDASEG_CHECK(c % groups == 0, "channel_shuffle: ", c, " channels of input ", shape_str(x.shape()),
                " are not divisible by groups=", groups);
  Shape grouped = x.shape();
  grouped[1] = c / groups;
  grouped.insert(grouped.begin() + 1, groups);
  return x.reshape(grouped).transpose(1, 2).contiguous().view(x.shape());
}

Tensor slice_backward(const Tensor& grad, const Shape& input_shape, int64_t dim, int64_t start, int64_t end,
                      int64_t step) {
  check_defined("slice_backward", "grad", grad);
  Tensor out = Tensor::zeros(input_shape, grad.dtype(), grad.device());
  Tensor window = out.slice(dim, start, end, step);
  CUDASEG_CHECK(window.shape() == grad.shape(), "slice_backward: grad ", shape_str(grad.shape()),
                " does not match the slice ", shape_str(window.shape()), " of input ",
                shape_str(input_shape));
  window.copy_(grad);
  return out;
}

}  // namespace cudaseg::ops
