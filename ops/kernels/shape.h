// The kernels of the shape family (ops/shape.h) that move data by computed
// indices; the other shape ops are views plus copies.
#pragma once

#include <cstdint>
#include <vector>

#include "ops/dispatch.h"
#include "runtime/tensor.h"

namespace cudaseg::ops::kernels {

enum class PadKind { constant, reflect, replicate };

// out (contiguous) = x (contiguous) padded by before[d] elements at the start
// of each dim and whatever out's shape leaves at the end (negative values
// crop); `value` fills constant padding. Any dtype.
using PadFn = void(const Tensor& x, const std::vector<int64_t>& before, PadKind kind, double value,
                   const Tensor& out);
// grad_input (zeroed, contiguous) gets the gradient of pad for grad
// (contiguous). Floating dtypes and int32/int64.
using PadBackwardFn = void(const Tensor& grad, const std::vector<int64_t>& before, PadKind kind,
                           const Tensor& grad_input);
// x and out contiguous, viewed as [outer, n, inner] and [outer, k, inner]:
// out[o, j, i] = x[o, index[j], i]. index int64 contiguous on x's device,
// already checked to be in range.
using IndexSelectFn = void(const Tensor& x, int64_t outer, int64_t inner, const Tensor& index, const Tensor& out);
// out (zeroed) [o, index[j], i] += src[o, j, i], the adjoint of index_select,
// summed in increasing j.
using IndexAddFn = void(const Tensor& src, int64_t outer, int64_t inner, const Tensor& index, const Tensor& out);

extern Kernel<PadFn> pad;
extern Kernel<PadBackwardFn> pad_backward;
extern Kernel<IndexSelectFn> index_select;
extern Kernel<IndexAddFn> index_add;

}  // namespace cudaseg::ops::kernels
