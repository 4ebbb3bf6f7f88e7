// CUDA twins of ops/cpu's binary arithmetic kernels: same arguments, same
// semantics. Floating dtypes and int32/int64 (pow and div: floating only).
#pragma once

#include "ops/cpu/kernels.h"
#include "runtime/tensor.h"

namespace cudaseg::cuda {

using ops::cpu::BinaryOp;  // the op set's own enum: one vocabulary for both devices

// out = a (op) alpha * b over out's shape; a and b already expanded to it
// (alpha is used by add and sub only).
void binary(BinaryOp op, const Tensor& a, const Tensor& b, double alpha, const Tensor& out);
// out = a * scale + shift, a of out's shape.
void affine_scalar(const Tensor& a, double scale, double shift, const Tensor& out);
// out = a (op) s, or s (op) a when scalar_first.
void binary_scalar(BinaryOp op, const Tensor& a, double s, bool scalar_first, const Tensor& out);

}  // namespace cudaseg::cuda
