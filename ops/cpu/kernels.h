// CPU reference kernels of the binary family (arithmetic, comparisons,
// selection). Each takes already-validated arguments and a preallocated
// output; ops/ does the checking and allocation.
#pragma once

#include "runtime/tensor.h"

namespace cudaseg::ops::cpu {

enum class BinaryOp { add, sub, mul, div, pow };
// out = a (op) alpha * b over out's shape; a and b already expanded to it
// (alpha is used by add and sub only).
void binary(BinaryOp op, const Tensor& a, const Tensor& b, double alpha, const Tensor& out);
// out[i] = a[i] * scale + shift, a expanded to out's shape.
void affine_scalar(const Tensor& a, double scale, double shift, const Tensor& out);
// out = a (op) s, or s (op) a when scalar_first.
void binary_scalar(BinaryOp op, const Tensor& a, double s, bool scalar_first, const Tensor& out);

enum class CompareOp { eq, ne, lt, le, gt, ge };
// Bool out = a (op) b; a and b already expanded to out's shape.
void compare(CompareOp op, const Tensor& a, const Tensor& b, const Tensor& out);
// Bool out = a (op) s, compared in double.
void compare_scalar(CompareOp op, const Tensor& a, double s, const Tensor& out);
// out = cond ? a : b; all three already expanded to out's shape.
void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out);

}  // namespace cudaseg::ops::cpu
