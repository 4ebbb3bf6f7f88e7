// Differentiable matrix products (cudaseg::fn): forward through ops/linalg.h,
// backward through ops::matmul_backward / ops::linear_backward.
#pragma once

#include "runtime/tensor.h"

namespace cudaseg::fn {

Tensor matmul(const Tensor& a, const Tensor& b);
Tensor bmm(const Tensor& a, const Tensor& b);
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

}  // namespace cudaseg::fn
