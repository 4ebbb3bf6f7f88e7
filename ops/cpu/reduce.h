// CPU reference kernels of the reduction family. The op layer permutes the
// reduced dims last and makes the input contiguous, so every output element
// reduces one contiguous row of `count` elements.
#pragma once

#include "runtime/tensor.h"

namespace cudaseg::ops::cpu {

enum class ReduceOp { sum, mean, var, std, norm1, norm2, amax, amin };
// out[r] = op(x[r, 0..count)), x [rows, count] contiguous, out [rows] contiguous.
// var and std divide by max(count - correction, 0).
void reduce_rows(ReduceOp op, const Tensor& x, int64_t rows, int64_t count, double correction,
                 const Tensor& out);
// Per row, the largest (or smallest) value and the index of its first
// occurrence; a NaN wins over everything. `values` may be undefined.
void arg_reduce_rows(bool largest, const Tensor& x, int64_t rows, int64_t count, const Tensor& values,
                     const Tensor& indices);
// out (zeroed, any layout) gets out[..., indices[...], ...] = src[...] along
// `dim`; src and indices have out's shape with size 1 at `dim`.
void scatter_along_dim(const Tensor& src, const Tensor& indices, int64_t dim, const Tensor& out);

}  // namespace cudaseg::ops::cpu
