// The kernels of the reduction family (ops/reduce.h). The input is a
// contiguous [outer, count, inner] view and each output element reduces
// x[o, 0..count, i]. The op layer hands the CPU rows (inner == 1, the
// reduced dims permuted last); CUDA also takes a middle run of reduced dims
// as it lies, with no permuted copy.
#pragma once

#include <cstdint>

#include "ops/dispatch.h"
#include "runtime/tensor.h"

namespace cudaseg::ops::kernels {

enum class ReduceOp { sum, mean, var, std, norm1, norm2, amax, amin };

// out contiguous [outer * inner]: out[o * inner + i] = op(x[o, 0..count, i]).
// sum/amax/amin: floating dtypes and int32/int64; the others floating. var
// and std divide by max(count - correction, 0).
using ReduceFn = void(ReduceOp op, const Tensor& x, int64_t outer, int64_t count, int64_t inner, double correction,
                      const Tensor& out);
// Per output element, the largest (or smallest) value and the index of its
// first occurrence along count; a NaN wins over everything. `values` may be
// undefined.
using ArgReduceFn = void(bool largest, const Tensor& x, int64_t outer, int64_t count, int64_t inner,
                         const Tensor& values, const Tensor& indices);
// out (zeroed, any layout) gets out[..., indices[...], ...] = src[...] along
// `dim`; src and indices have out's shape with size 1 at `dim`.
using ScatterAlongDimFn = void(const Tensor& src, const Tensor& indices, int64_t dim, const Tensor& out);

extern Kernel<ReduceFn> reduce;
extern Kernel<ArgReduceFn> arg_reduce;
extern Kernel<ScatterAlongDimFn> scatter_along_dim;

}  // namespace cudaseg::ops::kernels
