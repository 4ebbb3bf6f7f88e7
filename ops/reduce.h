// Reductions over any set of dims.
#pragma once

#include <vector>

#include "runtime/tensor.h"

namespace cudaseg::ops {

// Sum over `dims` (all dims when empty), keeping them as size 1 when keepdim.
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
// Sums `x` down to `shape`, the inverse of broadcasting `shape` up to x's shape
// (the gradient of a broadcast).
Tensor sum_to(const Tensor& x, const Shape& shape);

}  // namespace cudaseg::ops
