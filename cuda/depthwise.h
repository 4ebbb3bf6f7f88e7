// Hand-written depthwise convolution on CUDA (groups == C, channel multiplier
// M = O / C >= 1, so output channel o reads input channel o / M only): any
// kernel size, stride, padding and dilation. Deterministic in every direction.
#pragma once

#include "cuda/dnn.h"
#include "runtime/tensor.h"

namespace cudaseg::cuda {

// All tensors contiguous on one CUDA device, one floating dtype; x / gx
// [N, C, H, W], y / gy [N, O, Ho, Wo] (Ho, Wo taken from that tensor), w
// [O, 1, kh, kw], bias [O] or undefined. Outputs are overwritten.
void depthwise_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y, const ConvSpec& spec);
void depthwise_backward_input(const Tensor& gy, const Tensor& w, const Tensor& gx, const ConvSpec& spec);
void depthwise_backward_weight(const Tensor& gy, const Tensor& x, const Tensor& gw, const ConvSpec& spec);

}  // namespace cudaseg::cuda
