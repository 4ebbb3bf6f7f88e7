// Scaled dot-product attention (torch.nn.functional.scaled_dot_product_attention
// without dropout or is_causal), forward and backward:
//
//   out = softmax(q @ k^T * scale + bias, masked) @ v
//
// q [B..., Lq, D], k [B..., Lk, D], v [B..., Lk, Dv]; the batch dims B... of
// q, k, v, bias and mask broadcast against each other. `bias` (optional, the
// dtype of q) is added to the scaled scores and broadcasts to [B..., Lq, Lk]:
// a relative-position bias [heads, Lq, Lk] for windows [B*nW, heads, Lq, Lk],
// a learned attention bias, a float mask. `mask` (optional, bool) keeps the
// entries where it is true, as torch's boolean attn_mask; a row with no true
// entry gives NaN, as torch's math path does. `scale` defaults to 1/sqrt(D).
// float32/float64 on the CPU; float32/float64/float16/bfloat16 on CUDA.
//
// Two implementations: the materialised one (every device) keeps the
// probabilities [B..., Lq, Lk] for backward; the fused one (CUDA, head dims
// up to 128) never stores them: its forward keeps each row's logsumexp and
// its backward recomputes the probabilities tile by tile.
#pragma once

#include <optional>

#include "runtime/tensor.h"

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg::ops {

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const Tensor& bias = Tensor(), const Tensor& mask = Tensor(),
                                    std::optional<double> scale = std::nullopt);

// The forward with what backward needs: the output [B..., Lq, Dv] and the
// attention probabilities [B..., Lq, Lk] (B... the broadcast batch dims).
struct AttentionForward {
  Tensor out;
  Tensor probs;
  double scale = 1.0;  // the scale used (the default resolved)
};
AttentionForward scaled_dot_product_attention_forward(const Tensor& q, const Tensor& k, const Tensor& v,
                                                      const Tensor& bias = Tensor(), const Tensor& mask = Tensor(),
                                                      std::optional<double> scale = std::nullopt);

// Gradients for `grad` = dL/dout, each with its input's shape (broadcast dims
// summed), computed only where asked for. `bias_shape` is the bias's shape.
struct AttentionGrads {
  Tensor q, k, v, bias;
};
struct AttentionNeeds {
  bool q = true, k = true, v = true, bias = false;
};
AttentionGrads scaled_dot_product_attention_backward(const Tensor& grad, const Tensor& q, const Tensor& k,
                                                     const Tensor& v, const Tensor& probs, double scale,
                                                     const Shape& bias_shape, AttentionNeeds needs);

// True when the fused implementation, forward and backward, takes these
// operands (CUDA tensors, q's and v's last dims at most 128): the autograd
// op then trains through it. scaled_dot_product_attention (no gradients)
// uses the fused forward wherever a device has one, the CPU included.
bool attention_fused_available(const Tensor& q, const Tensor& v);

// The fused forward for training: the output [B..., Lq, Dv] and the per-row
// logsumexp of the scaled, biased, masked scores [B..., Lq] (float64 for
// float64 inputs, float32 otherwise; -inf for a fully masked row).
struct AttentionFusedForward {
  Tensor out;
  Tensor logsumexp;
  double scale = 1.0;  // the scale used (the default resolved)
};
AttentionFusedForward scaled_dot_product_attention_fused_forward(const Tensor& q, const Tensor& k,
                                                                 const Tensor& v, const Tensor& bias = Tensor(),
                                                                 const Tensor& mask = Tensor(),
                                                                 std::optional<double> scale = std::nullopt);

// Its backward, from the forward's operands, output and logsumexp; the same
// gradients as scaled_dot_product_attention_backward (the bias's only when
// `needs.bias` and a bias was given; its [B..., Lq, Lk] buffer exists only then).
AttentionGrads scaled_dot_product_attention_fused_backward(const Tensor& grad, const Tensor& q, const Tensor& k,
                                                           const Tensor& v, const Tensor& bias, const Tensor& mask,
                                                           const Tensor& out, const Tensor& logsumexp,
                                                           double scale, AttentionNeeds needs);

}  // namespace cudaseg::ops
CUDASEG_API_END
