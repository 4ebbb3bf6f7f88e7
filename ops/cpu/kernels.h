// CPU reference kernels. Each takes already-validated arguments and a
// preallocated output; ops/ does the checking and allocation.
#pragma once

#include "runtime/tensor.h"

namespace cudaseg::ops::cpu {

enum class BinaryOp { add, sub, mul, div };
// out = a (op) alpha * b over out's shape; a and b already expanded to it.
void binary(BinaryOp op, const Tensor& a, const Tensor& b, double alpha, const Tensor& out);
// out[i] = a[i] * scale + shift, a expanded to out's shape.
void affine_scalar(const Tensor& a, double scale, double shift, const Tensor& out);
// Sums `x` over its last `reduce_count` elements per row: x is [rows, reduce_count] contiguous.
void sum_rows(const Tensor& x, int64_t rows, int64_t reduce_count, const Tensor& out);

}  // namespace cudaseg::ops::cpu
