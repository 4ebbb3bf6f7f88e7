// CUDA kernels of scaled dot-product attention (ops/attention.h): a fused
// forward that never stores the [Lq, Lk] scores, and the row softmax and
// softmax backward of the materialised path that autograd uses.
#pragma once

#include <cstdint>

#include "runtime/tensor.h"

namespace cudaseg::cuda {

// Head dims (of q/k and of v) the fused kernel takes.
constexpr int64_t kAttentionMaxHeadDim = 128;

// out[batch..., Lq, Dv] = softmax(q k^T * scale + bias, mask) v in one pass.
// q [batch..., Lq, D], k [batch..., Lk, D], v [batch..., Lk, Dv] are expanded
// to the batch dims; bias (q's dtype) and mask (bool) are expanded to
// [batch..., Lq, Lk] or undefined; any strides. out is contiguous. A row with
// every key masked gives NaN; Lk == 0 gives zeros (the CPU path's results).
void attention_fused(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& bias, const Tensor& mask,
                     double scale, const Tensor& out);

// As ops/cpu/attention.h, on contiguous CUDA scores / grads.
void attention_softmax(const Tensor& scores, const Tensor& bias, const Tensor& mask, double scale);
void softmax_backward_rows(const Tensor& probs, const Tensor& grad);

}  // namespace cudaseg::cuda
