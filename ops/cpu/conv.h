// CPU convolution kernels. ops/conv.cpp validates, allocates and makes the
// operands contiguous; these take the geometry explicitly so the transposed
// convolution can reuse them with its own output size (output_padding may
// make it differ from what the conv2d formula would give).
#pragma once

#include <cstdint>

#include "runtime/tensor.h"

namespace cudaseg::ops::cpu {

// The geometry of a conv2d: "image" side x [n, c, h, w], "output" side
// y [n, o, ho, wo], weight [o, c/groups, kh, kw].
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

// All tensors contiguous, of one float dtype. Outputs are overwritten.
// y = conv(x, w) (+ bias when defined).
void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y, const ConvGeom& g);
// gx = the adjoint of conv applied to gy (col2im of w^T gy).
void conv2d_backward_input(const Tensor& gy, const Tensor& w, const Tensor& gx, const ConvGeom& g);
// gw = correlation of gy with x.
void conv2d_backward_weight(const Tensor& gy, const Tensor& x, const Tensor& gw, const ConvGeom& g);
// gb[o] = sum of gy[:, o] (gy [n, o, h, w]).
void conv2d_backward_bias(const Tensor& gy, const Tensor& gb);
// y[:, o] += bias[o].
void add_channel_bias(const Tensor& y, const Tensor& bias);

// The dense (im2col + GEMM) and direct depthwise implementations behind the
// entry points above, which choose between them.
void conv2d_forward_dense(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y,
                          const ConvGeom& g);
void conv2d_backward_input_dense(const Tensor& gy, const Tensor& w, const Tensor& gx, const ConvGeom& g);
void conv2d_backward_weight_dense(const Tensor& gy, const Tensor& x, const Tensor& gw, const ConvGeom& g);
void conv2d_forward_depthwise(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y,
                              const ConvGeom& g);
void conv2d_backward_input_depthwise(const Tensor& gy, const Tensor& w, const Tensor& gx, const ConvGeom& g);
void conv2d_backward_weight_depthwise(const Tensor& gy, const Tensor& x, const Tensor& gw, const ConvGeom& g);

// The output positions o in [0, out) whose input position o*stride + offset
// lies in [0, in), as [*lo, *hi): the loops over them then need no bounds test.
inline void valid_range(int64_t in, int64_t out, int64_t stride, int64_t offset, int64_t* lo, int64_t* hi) {
  int64_t l = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  int64_t h = in - offset <= 0 ? 0 : (in - offset - 1) / stride + 1;
  if (h > out) h = out;
  if (l > h) l = h;
  *lo = l;
  *hi = h;
}

}  // namespace cudaseg::ops::cpu
