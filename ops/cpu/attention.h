// CPU kernels of scaled dot-product attention: the row softmax of the scores
// and its backward. The matrix products go through ops::matmul (OpenBLAS).
#pragma once

#include "runtime/tensor.h"

namespace cudaseg::ops::cpu {

// In place over the last dim of the contiguous `scores` [..., Lq, Lk]:
// s = softmax(s * scale + bias) with entries whose mask is false set to -inf
// first. `bias` (same dtype) and `mask` (bool) are expanded to scores' shape
// with any strides, or undefined.
void attention_softmax(const Tensor& scores, const Tensor& bias, const Tensor& mask, double scale);

// In place over rows of the contiguous `grad` (same shape as `probs`):
// grad = probs * (grad - sum(grad * probs, -1)), the softmax backward.
void softmax_backward_rows(const Tensor& probs, const Tensor& grad);

}  // namespace cudaseg::ops::cpu
