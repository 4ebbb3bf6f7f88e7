// CUDA twins of ops/cpu's binary kernels: same arguments, same semantics.
#pragma once

#include "runtime/tensor.h"

namespace cudaseg::cuda {

enum class BinaryOp { add, sub, mul, div };
// out = a (op) alpha * b over out's shape; a and b already expanded to it.
void binary(BinaryOp op, const Tensor& a, const Tensor& b, double alpha, const Tensor& out);
// out = a * scale + shift.
void affine_scalar(const Tensor& a, double scale, double shift, const Tensor& out);

}  // namespace cudaseg::cuda
