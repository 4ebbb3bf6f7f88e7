// Differentiable softmax and log_softmax (cudaseg::fn); the backward uses the
// saved output (ops/softmax.h).
#pragma once

#include "runtime/tensor.h"

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg::fn {

Tensor softmax(const Tensor& input, int64_t dim);
Tensor log_softmax(const Tensor& input, int64_t dim);

}  // namespace cudaseg::fn
CUDASEG_API_END
