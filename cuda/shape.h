// CUDA twins of ops/cpu's shape kernels (those that move data by computed
// indices; the other shape ops are views plus copy_, which runs on CUDA).
#pragma once

#include <vector>

#include "ops/cpu/shape.h"
#include "runtime/tensor.h"

namespace cudaseg::cuda {

using ops::cpu::PadKind;

// out (contiguous) = x (contiguous) padded by before[d] elements at the start
// of each dim and whatever out's shape leaves at the end (negative values crop);
// `value` fills constant padding. Any dtype.
void pad(const Tensor& x, const std::vector<int64_t>& before, PadKind kind, double value, const Tensor& out);
// grad_input (contiguous, every element written) = the gradient of pad for
// grad (contiguous). Floating dtypes and int32/int64.
void pad_backward(const Tensor& grad, const std::vector<int64_t>& before, PadKind kind, const Tensor& grad_input);
// x and out contiguous, viewed as [outer, n, inner] and [outer, k, inner]:
// out[o, j, i] = x[o, index[j], i]. index int64 contiguous on x's device, in range.
void index_select(const Tensor& x, int64_t outer, int64_t inner, const Tensor& index, const Tensor& out);
// out[o, m, i] = sum of src[o, j, i] over j with index[j] == m, in increasing j
// (every element of out written). Floating dtypes and int32/int64.
void index_add(const Tensor& src, int64_t outer, int64_t inner, const Tensor& index, const Tensor& out);

}  // namespace cudaseg::cuda
