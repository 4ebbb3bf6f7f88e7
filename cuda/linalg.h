// CUDA twins of ops/cpu/linalg: matrix products through cuBLAS (cuda/blas.h),
// and the deterministic broadcast reduction their gradients need.
#pragma once

#include "runtime/tensor.h"

namespace cudaseg::cuda {

// out[batch..., n, p] = a[batch..., n, m] @ b[batch..., m, p]. `a` and `b` are
// already expanded to the batch dims of the contiguous `out` (any batch
// strides, 0 included); their last two dims are blas_compatible.
void batched_matmul(const Tensor& a, const Tensor& b, const Tensor& out);

// out[rows, out_features] = x[rows, in] @ weight[out_features, in]^T (+ bias).
// x and weight blas_compatible, bias contiguous or undefined, out contiguous.
void linear(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& out);

// `x` summed down to `shape` (x's shape with broadcast dims reduced: leading
// dims dropped, others kept as 1), the gradient of a broadcast. A GEMM
// against a vector of ones, so the result is the same on every run.
Tensor sum_to(const Tensor& x, const Shape& shape);

}  // namespace cudaseg::cuda
