// Comparisons (eq, ne, lt, le, gt, ge) returning bool tensors, and where().
// Tensor-tensor forms broadcast (same dtype); tensor-scalar forms compare in
// double. Nothing here is differentiable except where (see autograd/arith.h).
#pragma once

#include "runtime/tensor.h"

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg::ops {

Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);

Tensor eq(const Tensor& a, double b);
Tensor ne(const Tensor& a, double b);
Tensor lt(const Tensor& a, double b);
Tensor le(const Tensor& a, double b);
Tensor gt(const Tensor& a, double b);
Tensor ge(const Tensor& a, double b);

// cond ? a : b elementwise; cond is bool, a and b share a dtype, and all three
// broadcast together (torch.where).
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);

}  // namespace cudaseg::ops
CUDASEG_API_END
