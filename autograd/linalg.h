// Differentiable matrix products (cudaseg::fn): forward through ops/linalg.h,
// backward through ops::matmul_backward / ops::linear_backward.
#pragma once

#include "ops/linalg.h"
#include "runtime/tensor.h"

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg::fn {

Tensor matmul(const Tensor& a, const Tensor& b);
Tensor bmm(const Tensor& a, const Tensor& b);
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

// act(linear(x, weight, bias)). Without gradients this is ops::linear_act
// (fused on CUDA); with them, ReLU stays fused (its derivative comes from the
// output), while GELU keeps the pre-activation for its backward, so the
// linear and the GELU run as two ops.
Tensor linear_act(const Tensor& x, const Tensor& weight, const Tensor& bias, ops::LinearAct act);

}  // namespace cudaseg::fn
CUDASEG_API_END
