// The kernels of the pooling family (ops/pool.h): contiguous NCHW inputs,
// preallocated contiguous outputs, int64 indices into each H x W plane.
// avg_window is the one definition of an average-pooling window, shared by
// the CPU and CUDA kernels.
#pragma once

#include <cstdint>

#include "ops/dispatch.h"
#include "runtime/tensor.h"

namespace cudaseg::ops::kernels {

// One pooling window layout: input plane ih x iw, output plane oh x ow, and
// per-axis kernel, stride, padding and dilation.
struct PoolGeometry {
  int64_t ih = 0, iw = 0, oh = 0, ow = 0;
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
};

using MaxPool2dFn = void(const Tensor& input, const PoolGeometry& g, const Tensor& output, const Tensor& indices);
// grad_input [.., H, W] (overwritten) = the sum of grad_output at each index,
// plane by plane. Indices may come from any pooling; one outside the plane is
// an error.
using MaxPool2dBackwardFn = void(const Tensor& grad_output, const Tensor& indices, const Tensor& grad_input);
// output (overwritten) at indices = input, plane by plane.
using MaxUnpool2dFn = void(const Tensor& input, const Tensor& indices, const Tensor& output);
// grad_input[i] = grad_output at indices[i], plane by plane.
using MaxUnpool2dBackwardFn = void(const Tensor& grad_output, const Tensor& indices, const Tensor& grad_input);
// divisor_override 0 means none.
using AvgPool2dFn = void(const Tensor& input, const PoolGeometry& g, bool count_include_pad,
                         int64_t divisor_override, const Tensor& output);
using AvgPool2dBackwardFn = void(const Tensor& grad_output, const PoolGeometry& g, bool count_include_pad,
                                 int64_t divisor_override, const Tensor& grad_input);
using AdaptiveAvgPool2dFn = void(const Tensor& input, const Tensor& output);
using AdaptiveAvgPool2dBackwardFn = void(const Tensor& grad_output, const Tensor& grad_input);
using AdaptiveMaxPool2dFn = void(const Tensor& input, const Tensor& output, const Tensor& indices);

extern Kernel<MaxPool2dFn> max_pool2d;
extern Kernel<MaxPool2dBackwardFn> max_pool2d_backward;
extern Kernel<MaxUnpool2dFn> max_unpool2d;
extern Kernel<MaxUnpool2dBackwardFn> max_unpool2d_backward;
extern Kernel<AvgPool2dFn> avg_pool2d;
extern Kernel<AvgPool2dBackwardFn> avg_pool2d_backward;
extern Kernel<AdaptiveAvgPool2dFn> adaptive_avg_pool2d;
extern Kernel<AdaptiveAvgPool2dBackwardFn> adaptive_avg_pool2d_backward;
extern Kernel<AdaptiveMaxPool2dFn> adaptive_max_pool2d;

// The input window of output (oy, ox) of avg_pool2d, clipped to the input
// (empty when it covers only padding), and its divisor.
struct AvgWindow {
  int64_t y0, y1, x0, x1, divisor;
};

CUDASEG_HD inline AvgWindow avg_window(const PoolGeometry& g, int64_t oy, int64_t ox, bool count_include_pad,
                                       int64_t divisor_override) {
  int64_t y0 = oy * g.sh - g.ph, x0 = ox * g.sw - g.pw;
  int64_t y1 = y0 + g.kh < g.ih + g.ph ? y0 + g.kh : g.ih + g.ph;
  int64_t x1 = x0 + g.kw < g.iw + g.pw ? x0 + g.kw : g.iw + g.pw;
  const int64_t padded_size = (y1 - y0) * (x1 - x0);
  y0 = y0 > 0 ? y0 : 0;
  x0 = x0 > 0 ? x0 : 0;
  y1 = y1 < g.ih ? y1 : g.ih;
  x1 = x1 < g.iw ? x1 : g.iw;
  int64_t divisor = divisor_override;
  if (divisor == 0) divisor = count_include_pad ? padded_size : (y1 - y0) * (x1 - x0);
  return {y0, y1, x0, x1, divisor};
}

}  // namespace cudaseg::ops::kernels
