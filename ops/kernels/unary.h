// The kernels of the unary family (ops/unary.h): x of any layout, out
// contiguous of x's shape and dtype. neg/abs/sign/clamp take floating dtypes
// and int32/int64; sqrt, rsqrt, exp and log floating dtypes only.
#pragma once

#include "ops/dispatch.h"
#include "runtime/tensor.h"

namespace cudaseg::ops::kernels {

enum class UnaryOp { neg, abs, sign, sqrt, rsqrt, exp, log };

// out = op(x).
using UnaryFn = void(UnaryOp op, const Tensor& x, const Tensor& out);
// out = min(max(x, lo), hi), a bound skipped when its flag is false; NaN propagates.
using ClampFn = void(const Tensor& x, bool has_lo, double lo, bool has_hi, double hi, const Tensor& out);

extern Kernel<UnaryFn> unary;
extern Kernel<ClampFn> clamp;

}  // namespace cudaseg::ops::kernels
