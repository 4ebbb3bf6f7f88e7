// The CPU convolutions behind the entry points that ops/cpu/conv.cpp
// registers into ops/kernels/conv.h: dense (im2col + GEMM) and direct
// depthwise, and the index helper they share.
#pragma once

#include <cstdint>

#include "ops/kernels/conv.h"
#include "runtime/tensor.h"

namespace cudaseg::ops::cpu {

using kernels::ConvAct;
using kernels::ConvGeom;

// Both take the entry points' arguments; the entry points choose between them.
void conv2d_forward_dense(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y,
                          const ConvGeom& g);
void conv2d_backward_input_dense(const Tensor& gy, const Tensor& w, const Tensor& gx, const ConvGeom& g);
void conv2d_backward_weight_dense(const Tensor& gy, const Tensor& x, const Tensor& gw, const ConvGeom& g);
void conv2d_forward_depthwise(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y,
                              const ConvGeom& g);
void conv2d_backward_input_depthwise(const Tensor& gy, const Tensor& w, const Tensor& gx, const ConvGeom& g);
void conv2d_backward_weight_depthwise(const Tensor& gy, const Tensor& x, const Tensor& gw, const ConvGeom& g);

namespace direct {
struct Isa;
}
// The direct float32 forward (ops/cpu/conv_direct.h): whether it takes this
// convolution on this CPU, and the forward with a given kernel.
bool conv2d_direct_applies(const ConvGeom& g, DType dtype);
void conv2d_forward_direct(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y, const ConvGeom& g,
                           const direct::Isa& isa, const ConvAct& act = {});
// A dense convolution's input gradient as direct forwards of gy with the
// transposed, flipped weights, one per stride phase; whether that applies.
bool conv2d_backward_input_direct_applies(const ConvGeom& g, DType dtype);
void conv2d_backward_input_direct(const Tensor& gy, const Tensor& w, const Tensor& gx, const ConvGeom& g,
                                  const direct::Isa& isa);

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
