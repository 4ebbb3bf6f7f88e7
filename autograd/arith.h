// Differentiable broadcasting arithmetic and sum (cudaseg::fn, the
// counterpart of torch's functional API). Forward through ops::; backward
// reduces broadcast gradients back to each input's shape.
#pragma once

#include <vector>

#include "runtime/tensor.h"

namespace cudaseg::fn {

Tensor add(const Tensor& a, const Tensor& b, double alpha = 1.0);
Tensor sub(const Tensor& a, const Tensor& b, double alpha = 1.0);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double b);
Tensor mul(const Tensor& a, double b);
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);

}  // namespace cudaseg::fn
