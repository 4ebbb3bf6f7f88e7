// CPU reference kernels of the unary family.
#pragma once

#include "runtime/tensor.h"

namespace cudaseg::ops::cpu {

enum class UnaryOp { neg, abs, sign, sqrt, rsqrt, exp, log };
// out = op(x), x of any layout, out contiguous of x's shape and dtype.
void unary(UnaryOp op, const Tensor& x, const Tensor& out);
// out = min(max(x, lo), hi), a bound skipped when its flag is false.
void clamp(const Tensor& x, bool has_lo, double lo, bool has_hi, double hi, const Tensor& out);

}  // namespace cudaseg::ops::cpu
