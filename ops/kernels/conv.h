// The kernels of the convolutions (ops/conv.h). They take the geometry
// explicitly, so the transposed convolution reuses them with its own output
// size (output_padding may make it differ from what the conv2d formula
// gives): the image side is x / gx [n, c, h, w], the output side y / gy
// [n, o, ho, wo], the weight [o, c/groups, kh, kw]. Inputs are contiguous of
// one floating dtype; outputs are contiguous and overwritten.
#pragma once

#include <cstdint>
#include <vector>

#include "ops/conv.h"
#include "ops/dispatch.h"
#include "runtime/tensor.h"

namespace cudaseg::ops::kernels {

using ops::ConvAct;

struct ConvGeom {
  int64_t n = 0, c = 0, h = 0, w = 0;
  int64_t o = 0, ho = 0, wo = 0;
  int64_t kh = 1, kw = 1;
  int64_t sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
  int64_t groups = 1;

  int64_t cg() const { return c / groups; }
  int64_t og() const { return o / groups; }
  // One input channel per group: the direct (depthwise) kernels apply.
  bool depthwise() const { return cg() == 1; }
  // A 1x1, stride-1, unpadded convolution is a plain GEMM over the image.
  bool pointwise() const {
    return kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0 && ho == h && wo == w;
  }
};

// y = conv(x, w) (+ bias [o] when defined).
using Conv2dForwardFn = void(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y,
                             const ConvGeom& g);
// y = act(conv(x, w) (+ bias)), act as ops::ConvAct says (slope contiguous,
// of y's dtype). Optional: ops::conv2d_act runs conv2d_forward and the
// activation separately on a device without it.
using Conv2dForwardActFn = void(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y,
                                const ConvGeom& g, const ConvAct& act);
// out = act(a + b), or act(T((a + b) * scale[c] + shift[c])) with the
// products and sums in double where scale and shift (C values) are not
// empty: batch_norm's evaluation arithmetic. a, b and out contiguous
// [N, C, S] of one dtype, act without GELU (slope contiguous, of out's
// dtype). Optional: ops::add_act runs the sum, batch_norm and the
// activation ops on a device without it.
using AddActFn = void(const Tensor& a, const Tensor& b, const Tensor& out, const ConvAct& act,
                      const std::vector<double>& scale, const std::vector<double>& shift);
// gx = the adjoint of conv applied to gy (col2im of w^T gy).
using Conv2dBackwardInputFn = void(const Tensor& gy, const Tensor& w, const Tensor& gx, const ConvGeom& g);
// gw = correlation of gy with x.
using Conv2dBackwardWeightFn = void(const Tensor& gy, const Tensor& x, const Tensor& gw, const ConvGeom& g);
// gb[o] = sum of gy[:, o] over N, H, W, in a fixed order (reproducible).
using Conv2dBackwardBiasFn = void(const Tensor& gy, const Tensor& gb);
// The transposed convolution, g the geometry of the conv2d it is the adjoint
// of: y [n, c, h, w] (overwritten) = conv2d_backward_input of x [n, o, ho, wo]
// with w, plus bias [c] when defined. Optional: ops::conv_transpose2d runs
// conv2d_backward_input and add_channel_bias on a device without it.
using ConvTranspose2dForwardFn = void(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y,
                                      const ConvGeom& g);
// y[:, o] += bias[o] (bias contiguous [o]).
using AddChannelBiasFn = void(const Tensor& y, const Tensor& bias);
// The depthwise k x k convolution (stride 1, padding k / 2) of channels-last
// tokens x [n, h * w, c] by w [c, 1, k, k] (+ bias [c] when defined), then
// GELU where `gelu`, into y of x's layout; x, w, bias and y contiguous.
// Optional: ops::depthwise_conv2d_tokens goes through the map layout on a
// device without it.
using DepthwiseTokensFn = void(const Tensor& x, int64_t h, int64_t w, const Tensor& weight, const Tensor& bias,
                               bool gelu, const Tensor& y);

extern Kernel<Conv2dForwardFn> conv2d_forward;
extern Kernel<Conv2dForwardActFn> conv2d_forward_act;
extern Kernel<AddActFn> add_act;
extern Kernel<Conv2dBackwardInputFn> conv2d_backward_input;
extern Kernel<Conv2dBackwardWeightFn> conv2d_backward_weight;
extern Kernel<Conv2dBackwardBiasFn> conv2d_backward_bias;
extern Kernel<AddChannelBiasFn> add_channel_bias;
extern Kernel<ConvTranspose2dForwardFn> conv_transpose2d_forward;
extern Kernel<DepthwiseTokensFn> depthwise_conv2d_tokens;

}  // namespace cudaseg::ops::kernels
