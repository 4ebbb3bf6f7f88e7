// The CPU convolutions behind the entry points that ops/cpu/conv.cpp
// registers into ops/kernels/conv.h: dense (im2col + GEMM) and direct
// depthwise, and the index helper they share.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

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

// A pointwise product (a 1x1 convolution, or an unfolded small map) of few
// pixels as pixel rows times the transposed weights (conv_small_map.cpp):
// whether it applies (ungrouped, O padded to the vector by at most a fifth,
// at most kSmallMapPixels pixels and not a whole number of vectors), and
// the forward of x [n][c][h * w] into y [n][o][h * w], bias and act included.
constexpr int64_t kSmallMapPixels = 256;
bool conv2d_small_map_applies(const ConvGeom& g, const direct::Isa& isa);
void conv2d_small_map(const float* x, const Tensor& wt, const Tensor& bt, float* y, const ConvGeom& g,
                      const direct::Isa& isa, const ConvAct& act);
// The same product for a convolution unfolded by conv2d_forward_direct
// (narrow output rows) whose flattened product conv2d_small_map_applies to:
// each output pixel's window written as its pixel row.
void conv2d_small_map_unfolded(const float* x, const Tensor& wt, const Tensor& bt, float* y, const ConvGeom& g,
                               const direct::Isa& isa, const ConvAct& act);
// The same for a depthwise k x k convolution (k odd, stride 1 or 2, "same"
// padding) of rows narrower than kSmallMapDepthwiseWidth: the map as pixel
// rows through the channels-last kernel (Isa::depthwise_tokens_row, channels
// across the lanes) between the transposes.
constexpr int64_t kSmallMapDepthwiseWidth = 24;
// The depthwise k x k convolution (padding k / 2, stride >= 1) of
// channels-last float32 tokens x [n][h * w][ld] (c channels, ld >= c) by
// weight [c][k * k] (+ bias [c], or null), then GELU where `gelu`, into y
// [n][ho * wo][ld]: rows over the pool in Isa::depthwise_tokens_row
// (conv_tokens.cpp, kernels::depthwise_conv2d_tokens).
void depthwise_tokens_f32(const float* x, int64_t n, int64_t h, int64_t w, int64_t c, int64_t ld, int64_t k,
                          int64_t stride, const float* weight, const float* bias, bool gelu, float* y,
                          const direct::Isa& isa);
bool conv2d_small_map_depthwise_applies(const ConvGeom& g, const direct::Isa& isa);
void conv2d_small_map_depthwise(const float* x, const Tensor& wt, const Tensor& bt, float* y, const ConvGeom& g,
                                const direct::Isa& isa, const ConvAct& act);

// Float32 weights rearranged for a kernel by make(), cached per weight tensor
// and version (conv_direct.cpp): `layout` and `block` tell the arrangements
// of one tensor apart (the direct kernel's packing uses its groups, >= 1;
// Winograd -1 and -2, linear's transpose -3).
std::shared_ptr<const std::vector<float>> cached_weights(const Tensor& wt, int64_t layout, int64_t block,
                                                         const std::function<std::vector<float>()>& make);

// The Winograd F(2x2, 3x3) float32 forward (ops/cpu/conv_winograd.cpp) of
// the 3x3, stride-1, ungrouped convolutions it takes, which
// conv2d_forward_direct hands it: bias and slope padded as the direct
// kernel's (never null bias).
bool conv2d_winograd_applies(const ConvGeom& g);
void conv2d_forward_winograd(const float* x, const Tensor& w, const float* bias, const float* slope, float* y,
                             const ConvGeom& g, const direct::Isa& isa, const ConvAct& act);
// And F(4, 3) for the factorised 3x1 (any vertical dilation) and 1x3
// (undilated) stride-1 ones, with the same channel bounds.
bool conv2d_winograd_1d_applies(const ConvGeom& g);
void conv2d_forward_winograd_1d(const float* x, const Tensor& w, const float* bias, const float* slope, float* y,
                                const ConvGeom& g, const direct::Isa& isa, const ConvAct& act);

// Stride-1 depthwise float32 convolutions (kw at most
// direct::kMaxDepthwiseKw) reading their input planes in place
// (ops/cpu/conv_depthwise_planes.cpp), which conv2d_forward_direct hands
// them: bias and slope per output channel (never null bias). `divisor`, an
// [ho][wo] map (readable for a vector past its end) or null, divides each
// output's sum before the activation: avg_pool2d's stride-1 windows
// (ops/cpu/pool.cpp) run as a convolution of ones.
void conv2d_forward_depthwise_planes(const float* x, const float* w, const float* bias, const float* slope, float* y,
                                     const ConvGeom& g, const direct::Isa& isa, const ConvAct& act,
                                     const float* divisor = nullptr);

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
