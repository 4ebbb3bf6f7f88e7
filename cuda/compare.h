// CUDA twins of ops/cpu's comparison and selection kernels: same arguments,
// same semantics, every dtype.
#pragma once

#include "ops/cpu/kernels.h"
#include "runtime/tensor.h"

namespace cudaseg::cuda {

using ops::cpu::CompareOp;

// Bool out = a (op) b; a and b already expanded to out's shape.
void compare(CompareOp op, const Tensor& a, const Tensor& b, const Tensor& out);
// Bool out = a (op) s, compared in double; a of out's shape.
void compare_scalar(CompareOp op, const Tensor& a, double s, const Tensor& out);
// out = cond ? a : b; all three already expanded to out's shape.
void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out);

}  // namespace cudaseg::cuda
