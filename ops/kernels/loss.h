// The kernels of the loss family (ops/loss.h). ops/loss*.cpp validates and
// lays the operands out contiguously ([N, C, S] for class losses, S the
// flattened spatial dims; [N, S] targets). Where a kernel takes a Reduction
// or a `reduced` 0-dim tensor it also reduces: on CUDA fused into the kernel
// by a deterministic two-pass sum, on the CPU by ops::sum over the
// per-element losses.
#pragma once

#include <cstdint>

#include "ops/dispatch.h"
#include "ops/loss.h"
#include "runtime/tensor.h"

namespace cudaseg::ops::kernels {

// dL/dloss as a backward kernel reads it: grad[i] * factor per element when
// per_element, else the single value of `grad` times factor for every element.
struct UpstreamGrad {
  Tensor grad;  // contiguous
  double factor = 1.0;
  bool per_element = false;
};

enum class Pointwise { mse, l1, smooth_l1, kl_div, kl_div_log_target };

// The flat index of the first target that is neither in [0, classes) nor
// ignore_index, or -1.
using FirstInvalidTargetFn = int64_t(const Tensor& target, int64_t classes, int64_t ignore_index);
// Writes log_probs [N, C, S] and loss [N, S] (w[t] * -log_probs[t], 0 where
// t == ignore_index); weight [C] or undefined. `reduced` (0-dim, or
// undefined) gets the sum of the loss, divided by the total weight when
// `mean`. Returns the total weight: the sum of w[t] over non-ignored positions.
using CrossEntropyForwardFn = double(const Tensor& logits, const Tensor& target, const Tensor& weight,
                                     int64_t ignore_index, const Tensor& log_probs, const Tensor& loss,
                                     const Tensor& reduced, bool mean);
// out [N, C, S] = g * w[t] * (exp(log_probs) - onehot(t)), g the position's
// upstream gradient, further multiplied by position_scale [N, S] when that is
// defined (OHEM's kept positions); 0 at ignored positions.
using CrossEntropyBackwardFn = void(const Tensor& log_probs, const Tensor& target, const Tensor& weight,
                                    int64_t ignore_index, const UpstreamGrad& grad, const Tensor& position_scale,
                                    const Tensor& out);
// OHEM selection over the per-position losses [P]: the losses > threshold, or
// the n_min largest when fewer (ties go to the lower index). Writes scale [P]
// (1/kept where kept, else 0), returns the number kept and sets *mean to
// their mean.
using OhemSelectFn = int64_t(const Tensor& losses, double threshold, int64_t n_min, const Tensor& scale,
                             double* mean);
// student, teacher [N, C, S]. Writes prob_diff = softmax(s/T) - softmax(t/T)
// over C, and `reduced` (0-dim) = T^2 / divisor times the sum over all
// elements of q (log q - log_softmax(s/T)), q = softmax(t/T).
using KdForwardFn = void(const Tensor& student, const Tensor& teacher, double temperature, double divisor,
                         const Tensor& prob_diff, const Tensor& reduced);
// out = prob_diff * grad * grad_scale, grad a one-element tensor.
using KdBackwardFn = void(const Tensor& prob_diff, const Tensor& grad, double grad_scale, const Tensor& out);

// out = loss(input[i], target[i]) per element (all contiguous of one shape)
// for Reduction::none, else the 0-dim reduced loss ('batchmean' divides by
// input's first dim).
using PointwiseLossFn = void(Pointwise kind, const Tensor& input, const Tensor& target, double beta, Reduction r,
                             const Tensor& out);
// d/dinput and d/dtarget times the upstream gradient; either output may be undefined.
using PointwiseLossBackwardFn = void(Pointwise kind, const Tensor& input, const Tensor& target, double beta,
                                     const UpstreamGrad& grad, const Tensor& grad_input, const Tensor& grad_target);
// Binary cross entropy with logits, reduced as pointwise_loss; weight and
// pos_weight contiguous of the input's shape or undefined.
using BceWithLogitsFn = void(const Tensor& input, const Tensor& target, const Tensor& weight,
                             const Tensor& pos_weight, Reduction r, const Tensor& out);
using BceWithLogitsBackwardFn = void(const Tensor& input, const Tensor& target, const Tensor& weight,
                                     const Tensor& pos_weight, const UpstreamGrad& grad, const Tensor& grad_input,
                                     const Tensor& grad_target);
// Dice per sample over input, target [N, M]; out [N].
using DiceFn = void(const Tensor& input, const Tensor& target, double smooth, bool apply_sigmoid,
                    const Tensor& out);
// grad per sample ([N] or one value).
using DiceBackwardFn = void(const Tensor& input, const Tensor& target, double smooth, bool apply_sigmoid,
                            const UpstreamGrad& grad, const Tensor& grad_input, const Tensor& grad_target);
// The loss from per-element losses `l`: l itself, its sum, or the sum divided
// by l's element count ('mean') or by `batch` ('batchmean').
using ReduceLossesFn = Tensor(const Tensor& l, Reduction r, int64_t batch);

extern Kernel<FirstInvalidTargetFn> first_invalid_target;
extern Kernel<CrossEntropyForwardFn> cross_entropy_forward;
extern Kernel<CrossEntropyBackwardFn> cross_entropy_backward;
extern Kernel<OhemSelectFn> ohem_select;
extern Kernel<KdForwardFn> kd_forward;
extern Kernel<KdBackwardFn> kd_backward;
extern Kernel<PointwiseLossFn> pointwise_loss;
extern Kernel<PointwiseLossBackwardFn> pointwise_loss_backward;
extern Kernel<BceWithLogitsFn> bce_with_logits;
extern Kernel<BceWithLogitsBackwardFn> bce_with_logits_backward;
extern Kernel<DiceFn> dice;
extern Kernel<DiceBackwardFn> dice_backward;
extern Kernel<ReduceLossesFn> reduce_losses;

}  // namespace cudaseg::ops::kernels
