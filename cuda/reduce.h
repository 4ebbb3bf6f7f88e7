// CUDA twins of ops/cpu's reduction kernels. The CPU kernels see [rows, count]
// rows; these take the more general [outer, count, inner] so that reducing a
// middle dim of a contiguous tensor needs no permuted copy (inner == 1 is the
// CPU's row layout). Deterministic: no atomics, a fixed combination order.
#pragma once

#include "ops/cpu/reduce.h"
#include "runtime/tensor.h"

namespace cudaseg::cuda {

using ops::cpu::ReduceOp;

// x contiguous, viewed as [outer, count, inner]; out contiguous [outer * inner]:
// out[o * inner + i] = op(x[o, 0..count, i]). sum/amax/amin: floating dtypes and
// int32/int64; the others floating. var and std divide by max(count - correction, 0).
void reduce(ReduceOp op, const Tensor& x, int64_t outer, int64_t count, int64_t inner, double correction,
            const Tensor& out);
// The same layout: per output element, the largest (or smallest) value and the
// index of its first occurrence along count; a NaN wins. `values` may be undefined.
void arg_reduce(bool largest, const Tensor& x, int64_t outer, int64_t count, int64_t inner, const Tensor& values,
                const Tensor& indices);
// out (any layout) gets out[..., indices[...], ...] = src[...] along `dim`;
// src and indices have out's shape with size 1 at `dim`. Any dtype.
void scatter_along_dim(const Tensor& src, const Tensor& indices, int64_t dim, const Tensor& out);

}  // namespace cudaseg::cuda
