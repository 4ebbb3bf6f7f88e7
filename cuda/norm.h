// CUDA twins of ops/cpu's normalisation kernels (ops/cpu/norm.h): the same
// contiguous layouts and semantics, with the statistics computed on the
// device. Weights and biases are contiguous [C] or undefined (1 and 0);
// outputs are preallocated contiguous tensors, undefined to skip.
#pragma once

#include "runtime/tensor.h"

namespace cudaseg::cuda {

// x [N, C, S]. Training normalises with the batch statistics and, when the
// running stats (any stride) are defined, updates them in place as
// ops::batch_norm documents; evaluation uses the running stats.
void batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                const Tensor& bias, bool training, double momentum, double eps, const Tensor& out);
void batch_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& running_mean,
                         const Tensor& running_var, const Tensor& weight, bool training, double eps,
                         const Tensor& grad_input, const Tensor& grad_weight, const Tensor& grad_bias);

// x [N, C, S] normalised per (n, group) over C / groups channels and S
// positions; layer norm over the last dims is groups = 1 on [rows, K, 1].
void group_norm(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias, double eps,
                const Tensor& out);
void group_norm_backward(const Tensor& grad, const Tensor& x, int64_t groups, const Tensor& weight, double eps,
                         const Tensor& grad_input, const Tensor& grad_weight, const Tensor& grad_bias);

// x [N, C, S] normalised over C at each (n, s), in place in NCHW.
void layer_norm_channels(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, const Tensor& out);
void layer_norm_channels_backward(const Tensor& grad, const Tensor& x, const Tensor& weight, double eps,
                                  const Tensor& grad_input, const Tensor& grad_weight, const Tensor& grad_bias);

// x [O, D, I] divided by max(||x[o, :, i]||_p, eps).
void normalize(const Tensor& x, double p, double eps, const Tensor& out);
void normalize_backward(const Tensor& grad, const Tensor& x, double p, double eps, const Tensor& grad_input);

}  // namespace cudaseg::cuda
