// The kernels of binary arithmetic (ops/binary.h): a and b already expanded
// to the contiguous out's shape, any strides. Floating dtypes and
// int32/int64 (pow and div: floating only).
#pragma once

#include "ops/dispatch.h"
#include "runtime/tensor.h"

namespace cudaseg::ops::kernels {

enum class BinaryOp { add, sub, mul, div, pow };

// out = a (op) alpha * b (alpha is used by add and sub only).
using BinaryFn = void(BinaryOp op, const Tensor& a, const Tensor& b, double alpha, const Tensor& out);
// out[i] = a[i] * scale + shift.
using AffineScalarFn = void(const Tensor& a, double scale, double shift, const Tensor& out);
// out = a (op) s, or s (op) a when scalar_first.
using BinaryScalarFn = void(BinaryOp op, const Tensor& a, double s, bool scalar_first, const Tensor& out);

extern Kernel<BinaryFn> binary;
extern Kernel<AffineScalarFn> affine_scalar;
extern Kernel<BinaryScalarFn> binary_scalar;

}  // namespace cudaseg::ops::kernels
