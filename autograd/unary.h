// Differentiable elementwise unary math (cudaseg::fn). Gradients follow
// PyTorch at the kinks: abs'(0) = 0, and clamp passes the gradient where
// min <= x <= max (bounds included).
#pragma once

#include <optional>

#include "runtime/tensor.h"

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg::fn {

Tensor neg(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max);
// Cast; the gradient is cast back to x's dtype. Returns x itself when it
// already has `dtype`.
Tensor to_dtype(const Tensor& x, DType dtype);

}  // namespace cudaseg::fn
CUDASEG_API_END
