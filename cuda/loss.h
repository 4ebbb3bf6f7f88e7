// CUDA twins of the loss kernels of ops/cpu/loss.h, laid out the same way
// ([N, C, S] logits, [N, S] targets, contiguous), with the reduction fused:
// where a launcher takes `reduced`, that 0-dim tensor receives the reduced
// loss computed on the device by a deterministic two-pass sum.
#pragma once

#include <cstdint>

#include "ops/cpu/loss.h"
#include "runtime/tensor.h"

namespace cudaseg::cuda {

using ops::cpu::Pointwise;
using ops::cpu::UpstreamGrad;

// The flat index of the first target that is neither in [0, classes) nor
// ignore_index, or -1.
int64_t first_invalid_target(const Tensor& target, int64_t classes, int64_t ignore_index);

// Writes log_probs and the per-position loss as the CPU kernel; `reduced`
// (0-dim, or undefined) gets the sum, divided by the total weight when
// `mean`. Returns the total weight.
double cross_entropy_forward(const Tensor& logits, const Tensor& target, const Tensor& weight, int64_t ignore_index,
                             const Tensor& log_probs, const Tensor& loss, const Tensor& reduced, bool mean);
// As the CPU kernel; the upstream value of a position is further multiplied
// by position_scale [N, S] when that is defined (OHEM's kept positions).
void cross_entropy_backward(const Tensor& log_probs, const Tensor& target, const Tensor& weight,
                            int64_t ignore_index, const UpstreamGrad& grad, const Tensor& position_scale,
                            const Tensor& out);

// As ops::cpu::ohem_select (ties in the top-k fallback go to the lower index).
int64_t ohem_select(const Tensor& losses, double threshold, int64_t n_min, const Tensor& scale, double* mean);

// As ops::cpu::kd_forward; `reduced` (0-dim) gets the sum times factor.
void kd_forward(const Tensor& student, const Tensor& teacher, double temperature, const Tensor& prob_diff,
                double factor, const Tensor& reduced);
// out = prob_diff * grad * grad_scale, grad a one-element tensor on the device.
void kd_backward(const Tensor& prob_diff, const Tensor& grad, double grad_scale, const Tensor& out);

// Elementwise losses: `out` has the input's shape, or is 0-dim and gets
// factor * sum when `reduce` (no per-element buffer).
void pointwise_loss(Pointwise kind, const Tensor& input, const Tensor& target, double beta, bool reduce,
                    double factor, const Tensor& out);
void pointwise_loss_backward(Pointwise kind, const Tensor& input, const Tensor& target, double beta,
                             const UpstreamGrad& grad, const Tensor& grad_input, const Tensor& grad_target);
void bce_with_logits(const Tensor& input, const Tensor& target, const Tensor& weight, const Tensor& pos_weight,
                     bool reduce, double factor, const Tensor& out);
void bce_with_logits_backward(const Tensor& input, const Tensor& target, const Tensor& weight,
                              const Tensor& pos_weight, const UpstreamGrad& grad, const Tensor& grad_input,
                              const Tensor& grad_target);
void dice(const Tensor& input, const Tensor& target, double smooth, bool apply_sigmoid, const Tensor& out);
void dice_backward(const Tensor& input, const Tensor& target, double smooth, bool apply_sigmoid,
                   const UpstreamGrad& grad, const Tensor& grad_input, const Tensor& grad_target);

// out (0-dim) = factor * sum(x), x contiguous.
void sum_scaled(const Tensor& x, double factor, const Tensor& out);

}  // namespace cudaseg::cuda
