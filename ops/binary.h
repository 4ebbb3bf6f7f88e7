// Broadcasting binary arithmetic: add, sub, mul, div, tensor-tensor (same
// dtype, NumPy broadcasting) and tensor-scalar. Results are new contiguous
// tensors of the broadcast shape.
#pragma once

#include "runtime/tensor.h"

namespace cudaseg::ops {

Tensor add(const Tensor& a, const Tensor& b, double alpha = 1.0);  // a + alpha * b
Tensor sub(const Tensor& a, const Tensor& b, double alpha = 1.0);  // a - alpha * b
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);

Tensor add(const Tensor& a, double b);
Tensor mul(const Tensor& a, double b);

}  // namespace cudaseg::ops
