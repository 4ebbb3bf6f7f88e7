// Differentiable broadcasting arithmetic, pow, where and sum (cudaseg::fn,
// the counterpart of torch's functional API). Forward through ops::; backward
// reduces broadcast gradients back to each input's shape.
#pragma once

#include <vector>

#include "runtime/tensor.h"

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg::fn {

Tensor add(const Tensor& a, const Tensor& b, double alpha = 1.0);
Tensor sub(const Tensor& a, const Tensor& b, double alpha = 1.0);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double b);
Tensor sub(const Tensor& a, double b);   // a - b
Tensor rsub(const Tensor& a, double b);  // b - a
Tensor mul(const Tensor& a, double b);
Tensor div(const Tensor& a, double b);
// a ** b; the exponent's gradient is a**b * log(a), zero where a == 0 and b >= 0.
Tensor pow(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, double exponent);
// cond ? a : b with broadcasting; cond (bool) gets no gradient.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);

}  // namespace cudaseg::fn
CUDASEG_API_END
