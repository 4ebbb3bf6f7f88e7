#include "ops/reduce.h"

#include <algorithm>

#include "ops/common.h"
#include "ops/cpu/kernels.h"

namespace cudaseg::ops {

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  check_defined("sum", "input", x);
  const int64_t nd = x.dim();
  std::vector<bool> reduce(static_cast<size_t>(nd), dims_in.empty());
  for (int64_t d : dims_in) {
    const int64_t w = wrap_dim(d, nd, "sum");
    CUDASEG_CHECK(nd == 0 || !reduce[w], "sum: dim ", d, " repeated in ", shape_str(dims_in));
    if (nd > 0) reduce[w] = true;
  }
  // Kept dims first, reduced dims last: each output element is one contiguous row.
  std::vector<int64_t> order;
  Shape out_shape, kept_shape;
  int64_t rows = 1, count = 1;
  for (int64_t d = 0; d < nd; ++d)
    if (!reduce[d]) {
      order.push_back(d);
      kept_shape.push_back(x.size(d));
      rows *= x.size(d);
    }
  for (int64_t d = 0; d < nd; ++d)
    if (reduce[d]) {
      order.push_back(d);
      count *= x.size(d);
    }
  for (int64_t d = 0; d < nd; ++d) {
    if (!reduce[d]) out_shape.push_back(x.size(d));
    else if (keepdim) out_shape.push_back(1);
  }
  if (!x.device().is_cpu()) no_kernel("sum", x);
  Tensor rowsx = x.permute(order).contiguous();
  Tensor out = Tensor::empty(kept_shape, x.dtype(), x.device());
  cpu::sum_rows(rowsx, rows, count, out);
  return out.view(out_shape);
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

}  // namespace cudaseg::ops
