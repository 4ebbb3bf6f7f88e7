// CPU reference kernels of the normalisations (ops/norm.h). Arguments are
// validated and contiguous; outputs are preallocated contiguous tensors of the
// input's dtype. An undefined output or weight is skipped or treated as 1,
// an undefined bias as 0. Statistics accumulate in double.
#pragma once

#include <vector>

#include "runtime/tensor.h"

namespace cudaseg::ops::cpu {

// Per-channel mean and biased variance of x [N, C, S] over N and S.
void batch_norm_stats(const Tensor& x, std::vector<double>& mean, std::vector<double>& var);
// out = (x - mean[c]) * invstd[c] * weight[c] + bias[c], x [N, C, S].
void batch_norm_apply(const Tensor& x, const std::vector<double>& mean, const std::vector<double>& invstd,
                      const Tensor& weight, const Tensor& bias, const Tensor& out);
// Gradients of batch_norm_apply. With batch_stats the mean and invstd are
// functions of x (training mode) and grad_input carries their terms too.
void batch_norm_backward(const Tensor& grad, const Tensor& x, const std::vector<double>& mean,
                         const std::vector<double>& invstd, const Tensor& weight, bool batch_stats,
                         const Tensor& grad_input, const Tensor& grad_weight, const Tensor& grad_bias);
// running = (1 - momentum) * running + momentum * stat, in place (any stride).
void update_running(const Tensor& running, const std::vector<double>& stat, double momentum);

// x [N, C, S] normalised per (n, group) over its C/groups channels and S
// positions, then scaled per channel by weight [C] and shifted by bias [C].
// Layer norm over the last dims is the case groups = 1, S = 1.
void group_norm(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias, double eps,
                const Tensor& out);
void group_norm_backward(const Tensor& grad, const Tensor& x, int64_t groups, const Tensor& weight,
                         double eps, const Tensor& grad_input, const Tensor& grad_weight,
                         const Tensor& grad_bias);

// x [O, D, I] divided by max(||x[o, :, i]||_p, eps).
void normalize(const Tensor& x, double p, double eps, const Tensor& out);
void normalize_backward(const Tensor& grad, const Tensor& x, double p, double eps, const Tensor& grad_input);

}  // namespace cudaseg::ops::cpu
