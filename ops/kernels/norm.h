// The kernels of the normalisations (ops/norm.h): contiguous [N, C, S] (or
// [O, D, I]) inputs of one floating dtype, outputs preallocated contiguous
// and undefined to skip. Weights and biases are contiguous [C] or undefined
// (1 and 0). Statistics accumulate in double on the CPU and in the
// accumulation type on CUDA.
#pragma once

#include <cstdint>

#include "ops/dispatch.h"
#include "runtime/tensor.h"

namespace cudaseg::ops::kernels {

// x [N, C, S]. Training normalises with the batch statistics and, when the
// running stats (any stride) are defined, updates them in place as
// ops::batch_norm documents; evaluation uses the running stats.
using BatchNormFn = void(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                         const Tensor& weight, const Tensor& bias, bool training, double momentum, double eps,
                         const Tensor& out);
// In training the mean and invstd are functions of x, and grad_input carries
// their terms too.
using BatchNormBackwardFn = void(const Tensor& grad, const Tensor& x, const Tensor& running_mean,
                                 const Tensor& running_var, const Tensor& weight, bool training, double eps,
                                 const Tensor& grad_input, const Tensor& grad_weight, const Tensor& grad_bias);

// x [N, C, S] normalised per (n, group) over its C / groups channels and S
// positions, then scaled per channel by weight and shifted by bias. Layer
// norm over the last dims is groups = 1 on [rows, K, 1].
using GroupNormFn = void(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias, double eps,
                         const Tensor& out);
using GroupNormBackwardFn = void(const Tensor& grad, const Tensor& x, int64_t groups, const Tensor& weight,
                                 double eps, const Tensor& grad_input, const Tensor& grad_weight,
                                 const Tensor& grad_bias);

// x [N, C, S] normalised over C at each (n, s), in NCHW.
using LayerNormChannelsFn = void(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps,
                                 const Tensor& out);
using LayerNormChannelsBackwardFn = void(const Tensor& grad, const Tensor& x, const Tensor& weight, double eps,
                                         const Tensor& grad_input, const Tensor& grad_weight,
                                         const Tensor& grad_bias);

// x [O, D, I] divided by max(||x[o, :, i]||_p, eps).
using NormalizeFn = void(const Tensor& x, double p, double eps, const Tensor& out);
using NormalizeBackwardFn = void(const Tensor& grad, const Tensor& x, double p, double eps,
                                 const Tensor& grad_input);

extern Kernel<BatchNormFn> batch_norm;
extern Kernel<BatchNormBackwardFn> batch_norm_backward;
extern Kernel<GroupNormFn> group_norm;
extern Kernel<GroupNormBackwardFn> group_norm_backward;
extern Kernel<LayerNormChannelsFn> layer_norm_channels;
extern Kernel<LayerNormChannelsBackwardFn> layer_norm_channels_backward;
extern Kernel<NormalizeFn> normalize;
extern Kernel<NormalizeBackwardFn> normalize_backward;

}  // namespace cudaseg::ops::kernels
