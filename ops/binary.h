// Broadcasting binary arithmetic: add, sub, mul, div, pow, tensor-tensor (same
// dtype, NumPy broadcasting) and tensor-scalar. Results are new contiguous
// tensors of the broadcast shape. As in PyTorch, div is true division: integer
// inputs give a float32 result.
#pragma once

#include "runtime/tensor.h"

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg::ops {

Tensor add(const Tensor& a, const Tensor& b, double alpha = 1.0);  // a + alpha * b
Tensor sub(const Tensor& a, const Tensor& b, double alpha = 1.0);  // a - alpha * b
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Tensor& b);  // a ** b, floating dtypes only

Tensor add(const Tensor& a, double b);
Tensor sub(const Tensor& a, double b);   // a - b
Tensor rsub(const Tensor& a, double b);  // b - a (torch.rsub)
Tensor mul(const Tensor& a, double b);
Tensor div(const Tensor& a, double b);
Tensor pow(const Tensor& a, double exponent);  // floating dtypes only

}  // namespace cudaseg::ops
CUDASEG_API_END
