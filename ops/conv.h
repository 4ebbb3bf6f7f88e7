// 2-D convolution and transposed convolution, forward and backward, with the
// semantics of torch.nn.functional.conv2d / conv_transpose2d (NCHW, batched
// 4-D input only). Non-contiguous inputs are accepted; results are new
// contiguous tensors. The backward functions are the pure kernels that
// autograd/conv.h wires into the tape; they are public so that fused or
// hand-written backward passes can call them directly.
//
// On the CPU, float32 dense convolutions run as a direct SIMD convolution
// (ops/cpu/conv_direct.h) where the CPU has AVX2 and FMA; float64 ones, their
// backward passes and CPUs without those run as im2col + OpenBLAS GEMM over
// bounded tiles of output rows (a 1x1, stride-1, unpadded convolution is one
// GEMM per image with no im2col). Convolutions with one input channel per
// group (depthwise, with any channel multiplier) run as the direct SIMD
// kernel's depthwise variant at stride 1 and as plain loops otherwise.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>

#include "runtime/tensor.h"

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg::ops {

// Per-axis (height, width) options, as torch's ints or pairs.
struct Conv2dParams {
  std::array<int64_t, 2> stride{1, 1};    // >= 1
  std::array<int64_t, 2> padding{0, 0};   // >= 0, zeros on both sides
  std::array<int64_t, 2> dilation{1, 1};  // >= 1
  int64_t groups = 1;                     // divides input and output channels
};

struct ConvTranspose2dParams {
  std::array<int64_t, 2> stride{1, 1};
  std::array<int64_t, 2> padding{0, 0};
  // Extra rows/columns added on the bottom/right of the output; each must be
  // smaller than the stride or the dilation of its axis (PyTorch's rule).
  std::array<int64_t, 2> output_padding{0, 0};
  std::array<int64_t, 2> dilation{1, 1};
  int64_t groups = 1;
};

// input [N, C, H, W], weight [O, C/groups, kh, kw], bias [O] or undefined.
// Output [N, O, Ho, Wo] with Ho = (H + 2*ph - dh*(kh-1) - 1) / sh + 1.
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias = Tensor(),
              const Conv2dParams& params = {});

// The activation conv2d_act applies to the convolution's output, in this
// order: PReLU with `slope` (1 or O values; undefined: none), i.e.
// max(y, 0) + slope * min(y, 0), then clamp to [lo, hi] (relu: lo = 0,
// relu6: lo = 0, hi = 6), then GELU (erf form, as ops::gelu computes it)
// where `gelu`. NaN passes through all three, as in torch.
struct ConvAct {
  Tensor slope;
  double lo = -INFINITY, hi = INFINITY;
  bool gelu = false;
};

// act(conv2d(input, weight, bias)): where the device's convolution applies
// the activation as it writes its output (the CPU does), one pass over the
// output instead of two or three. No autograd: the inference path of a
// convolution with a fused activation (nn/fuse.h).
Tensor conv2d_act(const Tensor& input, const Tensor& weight, const Tensor& bias, const Conv2dParams& params,
                  const ConvAct& act);

// act(a + b), a and b of one shape [N, C, *] and dtype, act as conv2d_act
// applies it (a slope of 1 or C values): the residual joins that zh320's
// nets end their blocks with. Where the device has the fused kernel (the CPU,
// without GELU) one pass, three streams of memory, instead of five for the
// sum and the activation apart; the same bits either way. No autograd (the
// inference path of nn::activate_sum).
Tensor add_act(const Tensor& a, const Tensor& b, const ConvAct& act);
// act(batch_norm(a + b)) with the running statistics (evaluation), the
// BatchNorm between the join and the activation that ERFNet's blocks have:
// one pass where add_act has its kernel, the bits of add, batch_norm and the
// activation ops in turn.
Tensor add_batch_norm_act(const Tensor& a, const Tensor& b, const Tensor& running_mean, const Tensor& running_var,
                          const Tensor& weight, const Tensor& bias, double eps, const ConvAct& act);

// Gradient of conv2d with respect to its input of shape `input_shape`, given
// grad_output [N, O, Ho, Wo].
Tensor conv2d_backward_input(const Tensor& grad_output, const Tensor& weight, const Shape& input_shape,
                             const Conv2dParams& params = {});
// Gradient of conv2d with respect to its weight of shape `weight_shape`.
Tensor conv2d_backward_weight(const Tensor& grad_output, const Tensor& input, const Shape& weight_shape,
                              const Conv2dParams& params = {});
// Gradient with respect to the bias of conv2d or conv_transpose2d: grad_output
// [N, O, H, W] summed over N, H and W, giving [O].
Tensor conv2d_backward_bias(const Tensor& grad_output);

// input [N, Cin, H, W], weight [Cin, Cout/groups, kh, kw] (PyTorch's layout),
// bias [Cout] or undefined. Output [N, Cout, Ho, Wo] with
// Ho = (H - 1)*sh - 2*ph + dh*(kh-1) + output_padding_h + 1 (> 0).
// It is the adjoint of conv2d: conv_transpose2d(x, w) == conv2d_backward_input(x, w, ...).
Tensor conv_transpose2d(const Tensor& input, const Tensor& weight, const Tensor& bias = Tensor(),
                        const ConvTranspose2dParams& params = {});

// Gradient of conv_transpose2d with respect to its input of shape `input_shape`,
// given grad_output [N, Cout, Ho, Wo].
Tensor conv_transpose2d_backward_input(const Tensor& grad_output, const Tensor& weight,
                                       const Shape& input_shape, const ConvTranspose2dParams& params = {});
// Gradient of conv_transpose2d with respect to its weight of shape `weight_shape`.
Tensor conv_transpose2d_backward_weight(const Tensor& grad_output, const Tensor& input,
                                        const Shape& weight_shape, const ConvTranspose2dParams& params = {});

// The depthwise k x k convolution (k odd, stride 1, padding k / 2) of
// channels-last tokens x [N, h * w, C] (a map's pixels in rows) by weight
// [C, 1, k, k] (+ bias [C]), then the exact GELU where `gelu`: tokens of
// x's shape, the values of transposing x into the map [N, C, h, w],
// conv2d_act and transposing back, which is what a device without its own
// kernel runs (the CPU convolves the tokens where they lie).
Tensor depthwise_conv2d_tokens(const Tensor& x, int64_t h, int64_t w, const Tensor& weight,
                               const Tensor& bias = Tensor(), bool gelu = false);

}  // namespace cudaseg::ops
CUDASEG_API_END
