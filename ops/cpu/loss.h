// CPU kernels of the loss family. ops/loss*.cpp validates, lays the operands
// out contiguously ([N, C, S] for class losses, S the flattened spatial dims)
// and reduces; these compute per element or per position.
#pragma once

#include <cstdint>

#include "runtime/tensor.h"

namespace cudaseg::ops::cpu {

// dL/dloss as a backward kernel reads it: grad[i] * factor per element when
// per_element, else the single value of `grad` times factor for every element.
struct UpstreamGrad {
  Tensor grad;  // contiguous
  double factor = 1.0;
  bool per_element = false;
};

// logits [N, C, S], target [N, S] int64 (already validated), weight [C] or
// undefined. Writes log_probs [N, C, S] and loss [N, S] (w[t] * -log_probs[t],
// 0 where t == ignore_index); returns the sum of w[t] over non-ignored positions.
double cross_entropy_forward(const Tensor& logits, const Tensor& target, const Tensor& weight, int64_t ignore_index,
                             const Tensor& log_probs, const Tensor& loss);
// out [N, C, S] = g * w[t] * (exp(log_probs) - onehot(t)), g the position's
// upstream gradient (per position [N, S] or one value); 0 at ignored positions.
void cross_entropy_backward(const Tensor& log_probs, const Tensor& target, const Tensor& weight,
                            int64_t ignore_index, const UpstreamGrad& grad, const Tensor& out);

// OHEM selection over the per-position losses [P]: the losses > threshold, or
// the n_min largest when fewer. Writes scale [P] (1/kept where kept, else 0),
// returns the number kept and sets *mean to their mean.
int64_t ohem_select(const Tensor& losses, double threshold, int64_t n_min, const Tensor& scale, double* mean);

// student, teacher [N, C, S]. Writes prob_diff = softmax(s/T) - softmax(t/T)
// over C and returns sum over all elements of q (log q - log_softmax(s/T)),
// q = softmax(t/T).
double kd_forward(const Tensor& student, const Tensor& teacher, double temperature, const Tensor& prob_diff);

enum class Pointwise { mse, l1, smooth_l1, kl_div, kl_div_log_target };
// out[i] = loss(input[i], target[i]); all contiguous of one shape.
void pointwise_loss(Pointwise kind, const Tensor& input, const Tensor& target, double beta, const Tensor& out);
// d/dinput and d/dtarget times the upstream gradient; either output may be undefined.
void pointwise_loss_backward(Pointwise kind, const Tensor& input, const Tensor& target, double beta,
                             const UpstreamGrad& grad, const Tensor& grad_input, const Tensor& grad_target);

// Binary cross entropy with logits; weight and pos_weight contiguous of the
// input's shape or undefined.
void bce_with_logits(const Tensor& input, const Tensor& target, const Tensor& weight, const Tensor& pos_weight,
                     const Tensor& out);
void bce_with_logits_backward(const Tensor& input, const Tensor& target, const Tensor& weight,
                              const Tensor& pos_weight, const UpstreamGrad& grad, const Tensor& grad_input,
                              const Tensor& grad_target);

// Dice per sample over input, target [N, M]; out [N].
void dice(const Tensor& input, const Tensor& target, double smooth, bool apply_sigmoid, const Tensor& out);
// grad per sample ([N] or one value).
void dice_backward(const Tensor& input, const Tensor& target, double smooth, bool apply_sigmoid,
                   const UpstreamGrad& grad, const Tensor& grad_input, const Tensor& grad_target);

}  // namespace cudaseg::ops::cpu
