// CUDA kernels of scaled dot-product attention (ops/attention.h): a fused
// forward and backward that never store the [Lq, Lk] scores, and the row
// softmax and softmax backward of the materialised path taken by head dims
// above kAttentionMaxHeadDim.
#pragma once

#include <cstdint>

#include "runtime/tensor.h"

namespace cudaseg::cuda {

// Head dims (of q/k and of v) the fused kernels take.
constexpr int64_t kAttentionMaxHeadDim = 128;

// out[batch..., Lq, Dv] = softmax(q k^T * scale + bias, mask) v in one pass.
// q [batch..., Lq, D], k [batch..., Lk, D], v [batch..., Lk, Dv] are expanded
// to the batch dims; bias (q's dtype) and mask (bool) are expanded to
// [batch..., Lq, Lk] or undefined; any strides. out is contiguous. A row with
// every key masked gives NaN; Lk == 0 gives zeros (the CPU path's results).
// `lse` (contiguous [batch..., Lq], float64 for float64 inputs and float32
// otherwise, or undefined) receives each row's logsumexp of the scores
// (-inf for a fully masked row or Lk == 0).
void attention_fused(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& bias, const Tensor& mask,
                     double scale, const Tensor& out, const Tensor& lse = Tensor());

// The backward of attention_fused (flash-attention-2 style: P is recomputed
// from `lse` tile by tile). Operands as attention_fused's, `out` and `lse`
// what it wrote, `grad` = dL/dout (any strides). Writes the gradients for
// the expanded operands, each contiguous or undefined when not wanted: dq
// [batch..., Lq, D], dk [batch..., Lk, D], dv [batch..., Lk, Dv], and dbias
// [batch..., Lq, Lk] (dL/dscores, from which the caller sums a broadcast
// bias's gradient). Deterministic: no atomics.
void attention_fused_backward(const Tensor& grad, const Tensor& q, const Tensor& k, const Tensor& v,
                              const Tensor& bias, const Tensor& mask, const Tensor& out, const Tensor& lse,
                              double scale, const Tensor& dq, const Tensor& dk, const Tensor& dv,
                              const Tensor& dbias);

// As ops/cpu/attention.h, on contiguous CUDA scores / grads.
void attention_softmax(const Tensor& scores, const Tensor& bias, const Tensor& mask, double scale);
void softmax_backward_rows(const Tensor& probs, const Tensor& grad);

}  // namespace cudaseg::cuda
