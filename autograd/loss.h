// Differentiable losses (cudaseg::fn), see ops/loss.h for the formulas.
// Gradients flow to: the logits of cross_entropy and ohem_cross_entropy (not
// the integer targets or class weights); input and target of the elementwise
// losses, binary_cross_entropy_with_logits (not weight / pos_weight), dice
// and kl_div; the student logits of kd_loss (the teacher is a constant).
#pragma once

#include "ops/loss.h"

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg::fn {

using ops::BCEWithLogitsOptions;
using ops::CrossEntropyOptions;
using ops::DiceOptions;
using ops::OhemOptions;
using ops::Reduction;

Tensor cross_entropy(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& options = {});
Tensor ohem_cross_entropy(const Tensor& logits, const Tensor& target, const OhemOptions& options = {});
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        const BCEWithLogitsOptions& options = {});
Tensor dice_loss(const Tensor& input, const Tensor& target, const DiceOptions& options = {});
Tensor kl_div(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean,
              bool log_target = false);
Tensor kd_loss(const Tensor& student_logits, const Tensor& teacher_logits, double temperature,
               Reduction reduction = Reduction::mean);
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean);
Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean);
Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean,
                      double beta = 1.0);

}  // namespace cudaseg::fn
CUDASEG_API_END
