// The kernels of scaled dot-product attention (ops/attention.h): the row
// softmax of materialised scores and its backward on every device, and the
// fused forward and backward that never store the [Lq, Lk] scores, where a
// device has them (CUDA).
#pragma once

#include <cstdint>

#include "ops/dispatch.h"
#include "runtime/tensor.h"

namespace cudaseg::ops::kernels {

// Head dims (of q/k and of v) the fused kernels take.
constexpr int64_t kAttentionMaxHeadDim = 128;

// In place over the last dim of the contiguous `scores` [..., Lq, Lk]:
// s = softmax(s * scale + bias) with entries whose mask is false set to -inf
// first. `bias` (same dtype) and `mask` (bool) are expanded to scores' shape
// with any strides, or undefined.
using AttentionSoftmaxFn = void(const Tensor& scores, const Tensor& bias, const Tensor& mask, double scale);
// In place over rows of the contiguous `grad` (same shape as `probs`):
// grad = probs * (grad - sum(grad * probs, -1)), the softmax backward.
using SoftmaxBackwardRowsFn = void(const Tensor& probs, const Tensor& grad);

// out[batch..., Lq, Dv] = softmax(q k^T * scale + bias, mask) v in one pass.
// q [batch..., Lq, D], k [batch..., Lk, D], v [batch..., Lk, Dv] are expanded
// to the batch dims; bias (q's dtype) and mask (bool) are expanded to
// [batch..., Lq, Lk] or undefined; any strides. out is contiguous. A row with
// every key masked gives NaN; Lk == 0 gives zeros (the unfused path's
// results). `lse` (contiguous [batch..., Lq], float64 for float64 inputs and
// float32 otherwise, or undefined) receives each row's logsumexp of the
// scores (-inf for a fully masked row or Lk == 0).
using AttentionFusedFn = void(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& bias,
                              const Tensor& mask, double scale, const Tensor& out, const Tensor& lse);
// The backward of attention_fused (flash-attention-2 style: P is recomputed
// from `lse` tile by tile). Operands as attention_fused's, `out` and `lse`
// what it wrote, `grad` = dL/dout (any strides). Writes the gradients for
// the expanded operands, each contiguous or undefined when not wanted: dq
// [batch..., Lq, D], dk [batch..., Lk, D], dv [batch..., Lk, Dv], and dbias
// [batch..., Lq, Lk] (dL/dscores, from which the caller sums a broadcast
// bias's gradient). Deterministic: no atomics.
using AttentionFusedBackwardFn = void(const Tensor& grad, const Tensor& q, const Tensor& k, const Tensor& v,
                                      const Tensor& bias, const Tensor& mask, const Tensor& out, const Tensor& lse,
                                      double scale, const Tensor& dq, const Tensor& dk, const Tensor& dv,
                                      const Tensor& dbias);

extern Kernel<AttentionSoftmaxFn> attention_softmax;
extern Kernel<SoftmaxBackwardRowsFn> softmax_backward_rows;
extern Kernel<AttentionFusedFn> attention_fused;
extern Kernel<AttentionFusedBackwardFn> attention_fused_backward;

}  // namespace cudaseg::ops::kernels
