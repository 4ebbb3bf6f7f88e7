// CPU kernels of the linear-algebra family; each matrix product goes through
// OpenBLAS (ops/cpu/gemm.h). Arguments are validated by ops/linalg.cpp.
#pragma once

#include "runtime/tensor.h"

namespace cudaseg::ops::cpu {

// True when the last two dims of `t` can be handed to BLAS as they are: one
// of them has stride 1 and the other a leading dimension covering the rows.
bool blas_compatible(const Tensor& t);

// out[batch..., n, p] = a[batch..., n, m] @ b[batch..., m, p]. `a` and `b` are
// already expanded to the batch dims of the contiguous `out`; their last two
// dims are blas_compatible (the batch dims may have any strides, 0 included).
void batched_matmul(const Tensor& a, const Tensor& b, const Tensor& out);

// out[rows, out_features] = x[rows, in] @ weight[out_features, in]^T (+ bias).
// x and weight blas_compatible, bias contiguous or undefined, out contiguous.
void linear(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& out);

}  // namespace cudaseg::ops::cpu
