// CPU reference kernels of the shape family that move data by computed
// indices (the others are views plus copies).
#pragma once

#include <vector>

#include "runtime/tensor.h"

namespace cudaseg::ops::cpu {

enum class PadKind { constant, reflect, replicate };
// out (contiguous) = x padded by before[d] / after[d] elements on each dim
// (negative values crop); `value` fills constant padding.
void pad(const Tensor& x, const std::vector<int64_t>& before, PadKind kind, double value, const Tensor& out);
// grad_input (zeroed, contiguous) += the gradient of pad for each element of
// grad (contiguous) that came from the input.
void pad_backward(const Tensor& grad, const std::vector<int64_t>& before, PadKind kind,
                  const Tensor& grad_input);
// x and out contiguous, viewed as [outer, n, inner] and [outer, k, inner]:
// out[o, j, i] = x[o, index[j], i]. index is int64 contiguous, already checked.
void index_select(const Tensor& x, int64_t outer, int64_t inner, const Tensor& index, const Tensor& out);
// out[o, index[j], i] += src[o, j, i], the adjoint of index_select.
void index_add(const Tensor& src, int64_t outer, int64_t inner, const Tensor& index, const Tensor& out);

}  // namespace cudaseg::ops::cpu
