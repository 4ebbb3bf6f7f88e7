// The kernels of comparison and selection (ops/compare.h), every dtype:
// operands already expanded to the contiguous out's shape, any strides.
// compare_values is the one definition of each comparison, shared by the CPU
// and CUDA kernels.
#pragma once

#include "ops/dispatch.h"
#include "runtime/tensor.h"

namespace cudaseg::ops::kernels {

enum class CompareOp { eq, ne, lt, le, gt, ge };

// Bool out = a (op) b.
using CompareFn = void(CompareOp op, const Tensor& a, const Tensor& b, const Tensor& out);
// Bool out = a (op) s, compared in double.
using CompareScalarFn = void(CompareOp op, const Tensor& a, double s, const Tensor& out);
// out = cond ? a : b.
using WhereFn = void(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out);

extern Kernel<CompareFn> compare;
extern Kernel<CompareScalarFn> compare_scalar;
extern Kernel<WhereFn> where;

template <typename T>
CUDASEG_HD inline bool compare_values(CompareOp op, T x, T y) {
  switch (op) {
    case CompareOp::eq: return x == y;
    case CompareOp::ne: return x != y;
    case CompareOp::lt: return x < y;
    case CompareOp::le: return x <= y;
    case CompareOp::gt: return x > y;
    case CompareOp::ge: return x >= y;
  }
  return false;
}

}  // namespace cudaseg::ops::kernels
