// CUDA twins of ops/cpu's unary kernels: same arguments, same semantics.
// neg/abs/sign/clamp on floating dtypes and int32/int64; sqrt, rsqrt, exp and
// log on floating dtypes.
#pragma once

#include "ops/cpu/unary.h"
#include "runtime/tensor.h"

namespace cudaseg::cuda {

using ops::cpu::UnaryOp;

// out = op(x), x of any layout and out of x's shape and dtype.
void unary(UnaryOp op, const Tensor& x, const Tensor& out);
// out = min(max(x, lo), hi), a bound skipped when its flag is false; NaN propagates.
void clamp(const Tensor& x, bool has_lo, double lo, bool has_hi, double hi, const Tensor& out);

}  // namespace cudaseg::cuda
