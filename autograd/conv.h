// Differentiable conv2d and conv_transpose2d (torch.nn.functional's). The
// forward is ops::conv2d / ops::conv_transpose2d; the recorded node's backward
// calls the ops:: backward kernels for each input that needs a gradient
// (input, weight, and bias when given).
#pragma once

#include "ops/conv.h"
#include "runtime/tensor.h"

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg::fn {

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias = Tensor(),
              const ops::Conv2dParams& params = {});
Tensor conv_transpose2d(const Tensor& input, const Tensor& weight, const Tensor& bias = Tensor(),
                        const ops::ConvTranspose2dParams& params = {});
// ops::depthwise_conv2d_tokens; where a gradient is needed, through the map
// layout's differentiable ops.
Tensor depthwise_conv2d_tokens(const Tensor& x, int64_t h, int64_t w, const Tensor& weight,
                               const Tensor& bias = Tensor(), bool gelu = false);

}  // namespace cudaseg::fn
CUDASEG_API_END
