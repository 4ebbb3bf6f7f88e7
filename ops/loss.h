// Training losses with torch.nn.functional's names and semantics, and the
// segmentation losses of the zh320 recipe (OHEM cross entropy, detail dice,
// Hinton distillation). Each loss has a *_forward returning what its backward
// needs (the log-probabilities, the kept pixels, ...) and a *_backward taking
// dL/dloss; the plain form returns the loss only. float32/float64 on the CPU.
//
// Layouts: logits are [N, C] or [N, C, d1, ...] (class dim 1); class targets
// are int64 [N] or [N, d1, ...]. Elementwise losses need input and target of
// the same shape (torch would broadcast them with a warning; here that is an
// error, as it is almost always a bug).
#pragma once

#include <cstdint>

#include "runtime/tensor.h"

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg::ops {

// 'batchmean' (sum / N) is valid for kl_div and kd_loss only.
enum class Reduction { none, mean, sum, batchmean };
const char* reduction_name(Reduction r);

// ---------------------------------------------------------------- cross entropy
// F.cross_entropy without label smoothing. Per position: w[t] * -log_softmax(x)[t],
// 0 where t == ignore_index. 'mean' divides the sum by the sum of w[t] over the
// non-ignored positions (NaN when there are none, as torch); 'none' returns
// the per-position losses [N, d1, ...]. A target outside [0, C) that is not
// ignore_index is an error naming it.
struct CrossEntropyOptions {
  Tensor weight;  // [C] class weights (the logits' dtype), or undefined for all ones
  int64_t ignore_index = -100;
  Reduction reduction = Reduction::mean;
};
struct CrossEntropyForward {
  Tensor loss;
  Tensor log_probs;        // log_softmax(logits, 1), logits' shape
  double total_weight = 0;  // the divisor of 'mean'
};
Tensor cross_entropy(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& options = {});
CrossEntropyForward cross_entropy_forward(const Tensor& logits, const Tensor& target,
                                          const CrossEntropyOptions& options = {});
// dL/dlogits = grad * w[t] * (softmax - onehot(t)) / divisor, 0 at ignored positions.
Tensor cross_entropy_backward(const Tensor& grad, const Tensor& log_probs, const Tensor& target,
                              const CrossEntropyOptions& options, double total_weight);

// ---------------------------------------------------------------- OHEM cross entropy
// zh320's OhemCELoss (core/loss.py), exactly:
//   1. l = per-position cross entropy (no class weights; ignored positions 0).
//   2. n_min = (number of targets != ignore_index in the whole batch) / 16
//      (integer division), or min_kept when it is >= 0 (clamped to the count
//      of positions).
//   3. hard = the losses l > -log(thresh) (thresh is a probability of the
//      true class: 0.7 keeps pixels whose true-class probability is < 0.7).
//   4. If fewer than n_min are hard, keep instead the n_min largest losses
//      over ALL positions (ignored ones included, with loss 0); ties go to
//      the lower flat index.
//   5. loss = mean of the kept losses (NaN when none is kept, as torch).
struct OhemOptions {
  double thresh = 0.7;
  int64_t ignore_index = 255;
  int64_t min_kept = -1;  // < 0: zh320's n_valid / 16
};
struct OhemForward {
  Tensor loss;
  Tensor log_probs;    // log_softmax(logits, 1)
  Tensor kept_scale;   // [N, d1, ...]: 1 / kept for kept positions, else 0
  int64_t kept = 0;
};
Tensor ohem_cross_entropy(const Tensor& logits, const Tensor& target, const OhemOptions& options = {});
OhemForward ohem_cross_entropy_forward(const Tensor& logits, const Tensor& target, const OhemOptions& options = {});
Tensor ohem_cross_entropy_backward(const Tensor& grad, const OhemForward& forward, const Tensor& target,
                                   int64_t ignore_index);

// ---------------------------------------------------------------- binary cross entropy
// F.binary_cross_entropy_with_logits in torch's stable form:
//   l = w * [(1 - y) x + (1 + (pw - 1) y) (log(1 + exp(-|x|)) + max(-x, 0))]
// `weight` and `pos_weight` broadcast to the input's shape (pos_weight [C]
// against [N, C]; use [C, 1, 1] for [N, C, H, W]). Gradients flow to input
// and target, not to weight or pos_weight.
struct BCEWithLogitsOptions {
  Tensor weight;
  Tensor pos_weight;
  Reduction reduction = Reduction::mean;
};
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        const BCEWithLogitsOptions& options = {});
struct LossGrads {
  Tensor input, target;
};
LossGrads binary_cross_entropy_with_logits_backward(const Tensor& grad, const Tensor& input, const Tensor& target,
                                                    const BCEWithLogitsOptions& options, bool need_input,
                                                    bool need_target);

// ---------------------------------------------------------------- dice
// The detail-head dice loss of zh320 (core/loss.py DiceLoss) and STDC:
// per sample n, over all its elements i,
//   p = sigmoid(input) if apply_sigmoid else input,
//   l_n = 1 - (2 sum_i p_i g_i + smooth) / (sum_i p_i + sum_i g_i + smooth),
// then the mean over n ('mean', the recipe's), the sum, or [N] ('none').
// zh320 feeds the raw detail logits (apply_sigmoid = false, its code as
// written); STDC's original applies the sigmoid first (apply_sigmoid = true).
struct DiceOptions {
  double smooth = 1.0;
  bool apply_sigmoid = false;
  Reduction reduction = Reduction::mean;
};
Tensor dice_loss(const Tensor& input, const Tensor& target, const DiceOptions& options = {});
LossGrads dice_loss_backward(const Tensor& grad, const Tensor& input, const Tensor& target,
                             const DiceOptions& options, bool need_input, bool need_target);

// ---------------------------------------------------------------- KL divergence, distillation
// F.kl_div: input holds log-probabilities, target probabilities (or
// log-probabilities when log_target). Pointwise t (log t - x) with 0 where
// t == 0; 'mean' divides by the element count, 'batchmean' by N = size(0).
Tensor kl_div(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean,
              bool log_target = false);
LossGrads kl_div_backward(const Tensor& grad, const Tensor& input, const Tensor& target, Reduction reduction,
                          bool log_target, bool need_input, bool need_target);

// Hinton distillation as zh320's kd_loss_fn ('kl_div'):
//   kl_div(log_softmax(student / T, 1), softmax(teacher / T, 1), reduction) * T^2
// with zh320's default reduction 'mean' (over all N*C*d1*... elements, not
// 'batchmean'); 'batchmean' and 'sum' are accepted, 'none' is not. The teacher
// is a constant (zh320 detaches it): no gradient flows to it.
struct KDForward {
  Tensor loss;
  Tensor prob_diff;  // softmax(student / T) - softmax(teacher / T), the gradient direction
  double grad_scale = 0;  // dL/dstudent = grad * grad_scale * prob_diff
};
Tensor kd_loss(const Tensor& student_logits, const Tensor& teacher_logits, double temperature,
               Reduction reduction = Reduction::mean);
KDForward kd_loss_forward(const Tensor& student_logits, const Tensor& teacher_logits, double temperature,
                          Reduction reduction = Reduction::mean);
Tensor kd_loss_backward(const Tensor& grad, const KDForward& forward);

// ---------------------------------------------------------------- regression
// F.mse_loss, F.l1_loss and F.smooth_l1_loss (0.5 d^2 / beta where |d| < beta,
// else |d| - 0.5 beta; beta = 0 is l1). The l1 gradient at d = 0 is 0.
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean);
Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean);
Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean,
                      double beta = 1.0);
// The gradient of any of the three (beta is read by smooth_l1 only).
enum class RegressionLoss { mse, l1, smooth_l1 };
LossGrads regression_loss_backward(RegressionLoss kind, const Tensor& grad, const Tensor& input,
                                   const Tensor& target, Reduction reduction, double beta, bool need_input,
                                   bool need_target);

}  // namespace cudaseg::ops
CUDASEG_API_END
