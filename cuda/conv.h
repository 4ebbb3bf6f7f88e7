// CUDA twins of ops/cpu/conv.h's entry points: same roles, same semantics,
// with the geometry given by the tensors' shapes plus a ConvSpec. The image
// side is x / gx [N, C, H, W], the output side y / gy [N, O, Ho, Wo], the
// weight [O, C/groups, kh, kw]; Ho and Wo are taken from the output-side
// tensor, so the transposed convolution (whose output_padding may make the
// image larger than the conv2d formula gives) reuses these with the roles
// exchanged. Convolutions with groups == C run on the hand-written depthwise
// kernels (cuda/depthwise.cu), the rest on cuDNN (cuda/dnn.h).
#pragma once

#include "cuda/dnn.h"
#include "runtime/tensor.h"

namespace cudaseg::cuda {

// All tensors on one CUDA device, one floating dtype; inputs may be strided,
// outputs are contiguous and overwritten. bias [O] or undefined.
void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y, const ConvSpec& spec);
void conv2d_backward_input(const Tensor& gy, const Tensor& w, const Tensor& gx, const ConvSpec& spec);
void conv2d_backward_weight(const Tensor& gy, const Tensor& x, const Tensor& gw, const ConvSpec& spec);

// gb[o] = sum of gy[:, o] over N, H, W (gy contiguous [N, O, H, W]); the
// summation order is fixed, so the result is reproducible.
void conv2d_backward_bias(const Tensor& gy, const Tensor& gb);
// y[:, o] += bias[o] (y contiguous [N, O, H, W], bias contiguous [O]).
void add_channel_bias(const Tensor& y, const Tensor& bias);

}  // namespace cudaseg::cuda
