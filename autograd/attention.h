// Differentiable scaled dot-product attention (cudaseg::fn): gradients flow
// to query, key, value and the additive bias (summed over the dims it was
// broadcast along); the boolean mask gets none. See ops/attention.h.
#pragma once

#include <optional>

#include "runtime/tensor.h"

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg::fn {

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const Tensor& bias = Tensor(), const Tensor& mask = Tensor(),
                                    std::optional<double> scale = std::nullopt);

}  // namespace cudaseg::fn
CUDASEG_API_END
