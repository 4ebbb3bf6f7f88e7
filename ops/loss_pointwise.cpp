// Elementwise and per-sample losses: binary cross entropy with logits, dice,
// kl_div, mse, l1, smooth_l1.
#include "ops/common.h"
#include "ops/kernels/loss.h"
#include "ops/loss.h"
#include "ops/loss_reduce.h"

namespace cudaseg::ops {
namespace {

using kernels::Pointwise;

using loss_detail::check_reduction;
using loss_detail::reduce;
using loss_detail::upstream;

// input and target: defined, same device, dtype and shape, float.
void check_pair(const char* op, const Tensor& input, const Tensor& target) {
  check_float(op, "input", input);
  check_defined(op, "target", target);
  check_same_device(op, {{"input", &input}, {"target", &target}});
  check_same_dtype(op, {{"input", &input}, {"target", &target}});
  CUDASEG_CHECK(input.shape() == target.shape(), op, ": target ", shape_str(target.shape()),
                " must have the input's shape ", shape_str(input.shape()));
}

int64_t batch_of(const Tensor& t) { return t.dim() == 0 ? 1 : t.size(0); }

// The loss's output: the per-element losses for 'none', else the 0-dim reduced loss.
Tensor loss_output(const Tensor& input, Reduction r) {
  return r == Reduction::none ? Tensor::empty(input.shape(), input.dtype(), input.device())
                              : Tensor::empty({}, input.dtype(), input.device());
}

Tensor empty_like(const Tensor& t) { return Tensor::empty(t.shape(), t.dtype(), t.device()); }

// weight / pos_weight broadcast to the input's shape, laid out contiguously.
Tensor expanded(const char* op, const char* name, const Tensor& input, const Tensor& w) {
  if (!w.defined()) return w;
  check_same_device(op, {{"input", &input}, {name, &w}});
  check_same_dtype(op, {{"input", &input}, {name, &w}});
  bool ok = true;
  try {
    ok = broadcast_shapes(op, input.shape(), w.shape()) == input.shape();
  } catch (const Error&) {
    ok = false;
  }
  CUDASEG_CHECK(ok, op, ": ", name, " ", shape_str(w.shape()), " does not broadcast to the input ",
                shape_str(input.shape()));
  return w.expand(input.shape()).contiguous();
}

Tensor pointwise(const char* op, Pointwise kind, const Tensor& input, const Tensor& target, Reduction r,
                 double beta, bool allow_batchmean) {
  check_reduction(op, r, allow_batchmean);
  check_pair(op, input, target);
  const Tensor out = loss_output(input, r);
  kernels::pointwise_loss(input.device(), kind, input.contiguous(), target.contiguous(), beta, r, out);
  return out;
}

LossGrads pointwise_backward(Pointwise kind, const Tensor& grad, const Tensor& input, const Tensor& target,
                             Reduction r, double beta, bool need_input, bool need_target) {
  LossGrads g;
  if (need_input) g.input = empty_like(input);
  if (need_target) g.target = empty_like(target);
  kernels::pointwise_loss_backward(input.device(), kind, input.contiguous(), target.contiguous(), beta,
                                   upstream(grad, r, input.numel(), batch_of(input)), g.input, g.target);
  return g;
}

Pointwise regression_kind(RegressionLoss kind) {
  switch (kind) {
    case RegressionLoss::mse: return Pointwise::mse;
    case RegressionLoss::l1: return Pointwise::l1;
    case RegressionLoss::smooth_l1: return Pointwise::smooth_l1;
  }
  return Pointwise::mse;
}

// Dice works on [N, M]: each sample's elements flattened.
Tensor as_samples(const Tensor& t) {
  const int64_t n = batch_of(t);
  return t.contiguous().view({n, n == 0 ? 0 : t.numel() / n});
}

}  // namespace

// ---------------------------------------------------------------- binary cross entropy

Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        const BCEWithLogitsOptions& options) {
  const char* op = "binary_cross_entropy_with_logits";
  check_reduction(op, options.reduction, false);
  check_pair(op, input, target);
  const Tensor out = loss_output(input, options.reduction);
  kernels::bce_with_logits(input.device(), input.contiguous(), target.contiguous(),
                           expanded(op, "weight", input, options.weight),
                           expanded(op, "pos_weight", input, options.pos_weight), options.reduction, out);
  return out;
}

LossGrads binary_cross_entropy_with_logits_backward(const Tensor& grad, const Tensor& input, const Tensor& target,
                                                    const BCEWithLogitsOptions& options, bool need_input,
                                                    bool need_target) {
  const char* op = "binary_cross_entropy_with_logits_backward";
  LossGrads g;
  if (need_input) g.input = empty_like(input);
  if (need_target) g.target = empty_like(target);
  kernels::bce_with_logits_backward(input.device(), input.contiguous(), target.contiguous(),
                                    expanded(op, "weight", input, options.weight),
                                    expanded(op, "pos_weight", input, options.pos_weight),
                                    upstream(grad, options.reduction, input.numel(), 1), g.input, g.target);
  return g;
}

// ---------------------------------------------------------------- dice

Tensor dice_loss(const Tensor& input, const Tensor& target, const DiceOptions& options) {
  const char* op = "dice_loss";
  check_reduction(op, options.reduction, false);
  check_pair(op, input, target);
  CUDASEG_CHECK(input.dim() >= 1, op, ": input must have a batch dim, got ", shape_str(input.shape()));
  Tensor per_sample = Tensor::empty({batch_of(input)}, input.dtype(), input.device());
  kernels::dice(input.device(), as_samples(input), as_samples(target), options.smooth, options.apply_sigmoid,
                per_sample);
  return reduce(per_sample, options.reduction, batch_of(input));
}

LossGrads dice_loss_backward(const Tensor& grad, const Tensor& input, const Tensor& target,
                             const DiceOptions& options, bool need_input, bool need_target) {
  const int64_t n = batch_of(input);
  LossGrads g;
  if (need_input) g.input = empty_like(input);
  if (need_target) g.target = empty_like(target);
  // The gradients are fresh contiguous tensors: their [N, M] views write through.
  kernels::dice_backward(input.device(), as_samples(input), as_samples(target), options.smooth,
                         options.apply_sigmoid, upstream(grad, options.reduction, n, n),
                         need_input ? as_samples(g.input) : Tensor(), need_target ? as_samples(g.target) : Tensor());
  return g;
}

// ---------------------------------------------------------------- kl_div

Tensor kl_div(const Tensor& input, const Tensor& target, Reduction reduction, bool log_target) {
  return pointwise("kl_div", log_target ? Pointwise::kl_div_log_target : Pointwise::kl_div, input, target,
                   reduction, 0.0, true);
}

LossGrads kl_div_backward(const Tensor& grad, const Tensor& input, const Tensor& target, Reduction reduction,
                          bool log_target, bool need_input, bool need_target) {
  return pointwise_backward(log_target ? Pointwise::kl_div_log_target : Pointwise::kl_div, grad, input,
                            target, reduction, 0.0, need_input, need_target);
}

// ---------------------------------------------------------------- regression

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  return pointwise("mse_loss", Pointwise::mse, input, target, reduction, 0.0, false);
}

Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  return pointwise("l1_loss", Pointwise::l1, input, target, reduction, 0.0, false);
}

Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, Reduction reduction, double beta) {
  CUDASEG_CHECK(beta >= 0, "smooth_l1_loss: beta must be >= 0, got ", beta);
  return pointwise("smooth_l1_loss", beta == 0 ? Pointwise::l1 : Pointwise::smooth_l1, input, target,
                   reduction, beta, false);
}

LossGrads regression_loss_backward(RegressionLoss kind, const Tensor& grad, const Tensor& input,
                                   const Tensor& target, Reduction reduction, double beta, bool need_input,
                                   bool need_target) {
  const Pointwise k = kind == RegressionLoss::smooth_l1 && beta == 0 ? Pointwise::l1 : regression_kind(kind);
  return pointwise_backward(k, grad, input, target, reduction, beta, need_input, need_target);
}

}  // namespace cudaseg::ops
