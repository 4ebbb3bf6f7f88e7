#include "ops/reduce.h"

#include <algorithm>

#include "ops/common.h"
#include "ops/kernels/reduce.h"

namespace cudaseg::ops {
Kernel<kernels::ReduceFn> kernels::reduce("reduce");
Kernel<kernels::ArgReduceFn> kernels::arg_reduce("arg_reduce");
Kernel<kernels::ScatterAlongDimFn> kernels::scatter_along_dim("scatter_along_dim");

using kernels::ReduceOp;

namespace {

// The reduced dims moved last so each output element reduces one contiguous row.
// On CUDA, a contiguous input whose reduced dims are one run of adjacent dims
// is used as it is, viewed as [outer, count, inner] (no permuted copy).
struct RowPlan {
  Tensor rows_x;  // [rows, count] contiguous, or [outer, count, inner] with rows = outer * inner
  int64_t rows = 1, count = 1, outer = 1, inner = 1;
  Shape out_shape;
};

RowPlan plan_rows(const char* op, const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  check_defined(op, "input", x);
  const int64_t nd = x.dim();
  std::vector<bool> reduce(static_cast<size_t>(nd), dims.empty());
  for (int64_t d : dims) {
    const int64_t w = wrap_dim(d, nd, op);
    CUDASEG_CHECK(nd == 0 || !reduce[w], op, ": dim ", d, " repeated in ", shape_str(dims),
                  " for input ", shape_str(x.shape()));
    if (nd > 0) reduce[w] = true;
  }
  RowPlan plan;
  std::vector<int64_t> order;
  for (int64_t d = 0; d < nd; ++d)
    if (!reduce[d]) {
      order.push_back(d);
      plan.rows *= x.size(d);
    }
  for (int64_t d = 0; d < nd; ++d)
    if (reduce[d]) {
      order.push_back(d);
      plan.count *= x.size(d);
    }
  for (int64_t d = 0; d < nd; ++d) {
    if (!reduce[d]) plan.out_shape.push_back(x.size(d));
    else if (keepdim) plan.out_shape.push_back(1);
  }
  if (x.device().is_cuda() && x.is_contiguous()) {
    int64_t first = nd, last = -1;
    for (int64_t d = 0; d < nd; ++d)
      if (reduce[d]) {
        first = std::min(first, d);
        last = d;
      }
    bool run = last >= 0;
    for (int64_t d = first; run && d <= last; ++d) run = reduce[d];
    if (run) {
      for (int64_t d = 0; d < first; ++d) plan.outer *= x.size(d);
      for (int64_t d = last + 1; d < nd; ++d) plan.inner *= x.size(d);
      plan.rows_x = x;
      return plan;
    }
  }
  plan.outer = plan.rows;
  plan.rows_x = x.permute(order).contiguous();
  return plan;
}

Tensor reduce(const char* op, ReduceOp kind, const Tensor& x, const std::vector<int64_t>& dims,
              bool keepdim, double correction = 0.0) {
  check_defined(op, "input", x);
  const bool floating = kind != ReduceOp::sum && kind != ReduceOp::amax && kind != ReduceOp::amin;
  CUDASEG_CHECK(!floating || is_floating(x.dtype()), op, ": expected a floating tensor, got ", x.str());
  CUDASEG_CHECK(x.dtype() != DType::boolean, op, ": not supported for bool input ", x.str());
  RowPlan plan = plan_rows(op, x, dims, keepdim);
  CUDASEG_CHECK(plan.count > 0 || (kind != ReduceOp::amax && kind != ReduceOp::amin), op,
                ": cannot reduce over an empty set of elements of input ", shape_str(x.shape()));
  Tensor out = Tensor::empty({plan.rows}, x.dtype(), x.device());
  kernels::reduce(x.device(), kind, plan.rows_x, plan.outer, plan.count, plan.inner, correction, out);
  return out.view(plan.out_shape);
}

ValuesIndices arg_reduce(const char* op, bool largest, const Tensor& x, std::optional<int64_t> dim,
                         bool keepdim, bool want_values) {
  check_defined(op, "input", x);
  std::vector<int64_t> dims;
  if (dim) dims.push_back(*dim);
  RowPlan plan = plan_rows(op, x, dims, keepdim);
  CUDASEG_CHECK(plan.count > 0, op, ": cannot reduce over an empty dim of input ", shape_str(x.shape()));
  ValuesIndices out;
  out.indices = Tensor::empty({plan.rows}, DType::i64, x.device());
  if (want_values) out.values = Tensor::empty({plan.rows}, x.dtype(), x.device());
  kernels::arg_reduce(x.device(), largest, plan.rows_x, plan.outer, plan.count, plan.inner, out.values,
                      out.indices);
  out.indices = out.indices.view(plan.out_shape);
  if (want_values) out.values = out.values.view(plan.out_shape);
  return out;
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return reduce("sum", ReduceOp::sum, x, dims, keepdim);
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  check_defined("sum_to", "input", x);
  CUDASEG_CHECK(static_cast<int64_t>(shape.size()) <= x.dim(), "sum_to: target ", shape_str(shape),
                " has more dims than input ", shape_str(x.shape()));
  if (x.shape() == shape) return x;
  const int64_t lead = x.dim() - static_cast<int64_t>(shape.size());
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (d < lead) {
      dims.push_back(d);
      continue;
    }
    const int64_t want = shape[d - lead];
    CUDASEG_CHECK(want == x.size(d) || want == 1, "sum_to: input ", shape_str(x.shape()),
                  " does not broadcast from ", shape_str(shape));
    if (want == 1 && x.size(d) != 1) dims.push_back(d);
  }
  if (dims.empty()) return x.reshape(shape);
  return sum(x, dims, true).reshape(shape);
}

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return reduce("mean", ReduceOp::mean, x, dims, keepdim);
}

Tensor amax(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return reduce("amax", ReduceOp::amax, x, dims, keepdim);
}

Tensor amin(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return reduce("amin", ReduceOp::amin, x, dims, keepdim);
}

Tensor max(const Tensor& x) { return reduce("max", ReduceOp::amax, x, {}, false); }
Tensor min(const Tensor& x) { return reduce("min", ReduceOp::amin, x, {}, false); }

ValuesIndices max(const Tensor& x, int64_t dim, bool keepdim) {
  return arg_reduce("max", true, x, dim, keepdim, true);
}

ValuesIndices min(const Tensor& x, int64_t dim, bool keepdim) {
  return arg_reduce("min", false, x, dim, keepdim, true);
}

Tensor argmax(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  if (dim) return arg_reduce("argmax", true, x, dim, keepdim, false).indices;
  check_defined("argmax", "input", x);
  Tensor flat = arg_reduce("argmax", true, x.reshape({-1}), 0, false, false).indices;
  return keepdim ? flat.view(Shape(x.shape().size(), 1)) : flat;
}

Tensor argmin(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  if (dim) return arg_reduce("argmin", false, x, dim, keepdim, false).indices;
  check_defined("argmin", "input", x);
  Tensor flat = arg_reduce("argmin", false, x.reshape({-1}), 0, false, false).indices;
  return keepdim ? flat.view(Shape(x.shape().size(), 1)) : flat;
}

Tensor var(const Tensor& x, const std::vector<int64_t>& dims, double correction, bool keepdim) {
  return reduce("var", ReduceOp::var, x, dims, keepdim, correction);
}

Tensor std(const Tensor& x, const std::vector<int64_t>& dims, double correction, bool keepdim) {
  return reduce("std", ReduceOp::std, x, dims, keepdim, correction);
}

Tensor norm(const Tensor& x, double p, const std::vector<int64_t>& dims, bool keepdim) {
  CUDASEG_CHECK(p == 1.0 || p == 2.0, "norm: p must be 1 or 2, got ", p, " (input ",
                x.defined() ? shape_str(x.shape()) : std::string("undefined"), ")");
  return reduce("norm", p == 1.0 ? ReduceOp::norm1 : ReduceOp::norm2, x, dims, keepdim);
}

Tensor value_selecting_reduction_backward(const Tensor& grad, int64_t dim, const Tensor& indices,
                                          const Shape& input_shape, bool keepdim) {
  const char* op = "value_selecting_reduction_backward";
  check_defined(op, "grad", grad);
  check_defined(op, "indices", indices);
  CUDASEG_CHECK(indices.dtype() == DType::i64, op, ": indices must be int64, got ", indices.str());
  CUDASEG_CHECK(grad.shape() == indices.shape(), op, ": grad ", shape_str(grad.shape()),
                " and indices ", shape_str(indices.shape()), " differ");
  const int64_t nd = static_cast<int64_t>(input_shape.size());
  const int64_t d = wrap_dim(dim, nd, op);
  Tensor out = Tensor::zeros(input_shape, grad.dtype(), grad.device());
  if (nd == 0) return grad.reshape({}).clone();
  Tensor g = keepdim ? grad : grad.unsqueeze(d);
  Tensor idx = keepdim ? indices : indices.unsqueeze(d);
  Shape kept = input_shape;
  kept[d] = 1;
  CUDASEG_CHECK(g.shape() == kept, op, ": grad ", shape_str(grad.shape()), " does not match input ",
                shape_str(input_shape), " reduced over dim ", dim);
  kernels::scatter_along_dim(grad.device(), g, idx, d, out);
  return out;
}

}  // namespace cudaseg::ops
