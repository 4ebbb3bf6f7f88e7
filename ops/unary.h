// Elementwise unary math. Each returns a new contiguous tensor of the input's
// shape and dtype. neg, abs, sign and clamp accept any non-bool dtype; the
// transcendental ones (sqrt, rsqrt, exp, log) need a floating tensor.
#pragma once

#include <optional>

#include "runtime/tensor.h"

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg::ops {

Tensor neg(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor sign(const Tensor& x);  // -1, 0 or 1
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);  // 1 / sqrt(x)
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
// min(max(x, min), max); either bound may be absent, not both. With
// min > max every element becomes max, as in torch.clamp.
Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max);
// The values converted to `dtype` (x itself when it already has it).
Tensor to_dtype(const Tensor& x, DType dtype);

}  // namespace cudaseg::ops
CUDASEG_API_END
