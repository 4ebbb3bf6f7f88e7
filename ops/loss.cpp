// Class losses over logits [N, C, ...]: cross entropy, OHEM cross entropy,
// Hinton distillation; and the reduction helpers of the family.
#include "ops/loss.h"

#include <cmath>

#include "ops/common.h"
#include "ops/kernels/loss.h"
#include "ops/loss_reduce.h"

namespace cudaseg::ops {

Kernel<kernels::FirstInvalidTargetFn> kernels::first_invalid_target("cross_entropy_target_check");
Kernel<kernels::CrossEntropyForwardFn> kernels::cross_entropy_forward("cross_entropy");
Kernel<kernels::CrossEntropyBackwardFn> kernels::cross_entropy_backward("cross_entropy_backward");
Kernel<kernels::OhemSelectFn> kernels::ohem_select("ohem_cross_entropy");
Kernel<kernels::KdForwardFn> kernels::kd_forward("kd_loss");
Kernel<kernels::KdBackwardFn> kernels::kd_backward("kd_loss_backward");
Kernel<kernels::PointwiseLossFn> kernels::pointwise_loss("loss");
Kernel<kernels::PointwiseLossBackwardFn> kernels::pointwise_loss_backward("loss_backward");
Kernel<kernels::BceWithLogitsFn> kernels::bce_with_logits("binary_cross_entropy_with_logits");
Kernel<kernels::BceWithLogitsBackwardFn> kernels::bce_with_logits_backward(
    "binary_cross_entropy_with_logits_backward");
Kernel<kernels::DiceFn> kernels::dice("dice_loss");
Kernel<kernels::DiceBackwardFn> kernels::dice_backward("dice_loss_backward");
Kernel<kernels::ReduceLossesFn> kernels::reduce_losses("loss_reduction");

namespace loss_detail {

void check_reduction(const char* op, Reduction r, bool allow_batchmean) {
  CUDASEG_CHECK(allow_batchmean || r != Reduction::batchmean, op,
                ": reduction 'batchmean' is only valid for kl_div and kd_loss");
}

Tensor reduce(const Tensor& l, Reduction r, int64_t batch) { return kernels::reduce_losses(l.device(), l, r, batch); }

kernels::UpstreamGrad upstream(const Tensor& grad, Reduction r, int64_t numel, int64_t batch) {
  kernels::UpstreamGrad g;
  g.grad = grad.contiguous();
  g.per_element = r == Reduction::none;
  if (r == Reduction::mean) g.factor = 1.0 / static_cast<double>(numel);
  if (r == Reduction::batchmean) g.factor = 1.0 / static_cast<double>(batch);
  return g;
}

}  // namespace loss_detail

const char* reduction_name(Reduction r) {
  switch (r) {
    case Reduction::none: return "none";
    case Reduction::mean: return "mean";
    case Reduction::sum: return "sum";
    case Reduction::batchmean: return "batchmean";
  }
  return "?";
}

namespace {

using loss_detail::check_reduction;

// Logits [N, C, d...] and int64 targets [N, d...] with every value in [0, C)
// or ignore_index; returns the logits as [N, C, S] and targets as [N, S].
void check_class_loss(const char* op, const Tensor& logits, const Tensor& target, int64_t ignore_index,
                      Tensor* logits3, Tensor* target2) {
  check_float(op, "input", logits);
  check_defined(op, "target", target);
  check_same_device(op, {{"input", &logits}, {"target", &target}});
  CUDASEG_CHECK(logits.dim() >= 2, op, ": input must be [N, C] or [N, C, d1, ...], got ",
                shape_str(logits.shape()));
  CUDASEG_CHECK(target.dtype() == DType::i64, op, ": target must be int64 class indices, got ",
                dtype_name(target.dtype()), " ", shape_str(target.shape()));
  Shape expect = logits.shape();
  expect.erase(expect.begin() + 1);
  CUDASEG_CHECK(target.shape() == expect, op, ": target ", shape_str(target.shape()), " does not match input ",
                shape_str(logits.shape()), " (expected ", shape_str(expect), ")");
  const int64_t n = logits.size(0), c = logits.size(1);
  const int64_t s = n == 0 || c == 0 ? 0 : logits.numel() / (n * c);
  *logits3 = logits.contiguous().view({n, c, s});
  *target2 = target.contiguous().view({n, s});
  const int64_t bad = kernels::first_invalid_target(target2->device(), *target2, c, ignore_index);
  CUDASEG_CHECK(bad < 0, op, ": target value ", static_cast<int64_t>(target2->view({-1}).select(0, bad).item()),
                " is out of range for ", c, " classes (input ", shape_str(logits.shape()), ", ignore_index ",
                ignore_index, ")");
}

void check_class_weight(const char* op, const Tensor& logits, const Tensor& weight) {
  if (!weight.defined()) return;
  check_same_device(op, {{"input", &logits}, {"weight", &weight}});
  check_same_dtype(op, {{"input", &logits}, {"weight", &weight}});
  CUDASEG_CHECK(weight.dim() == 1 && weight.size(0) == logits.size(1), op, ": weight ", shape_str(weight.shape()),
                " must have one entry per class: [", logits.size(1), "] for input ", shape_str(logits.shape()));
}

Shape positions_shape(const Tensor& logits) {
  Shape s = logits.shape();
  s.erase(s.begin() + 1);
  return s;
}

}  // namespace

// ---------------------------------------------------------------- cross entropy

CrossEntropyForward cross_entropy_forward(const Tensor& logits, const Tensor& target,
                                          const CrossEntropyOptions& options) {
  const char* op = "cross_entropy";
  check_reduction(op, options.reduction, false);
  Tensor x3, t2;
  check_class_loss(op, logits, target, options.ignore_index, &x3, &t2);
  check_class_weight(op, logits, options.weight);
  CrossEntropyForward f;
  f.log_probs = Tensor::empty(x3.shape(), logits.dtype(), logits.device());
  Tensor per_pos = Tensor::empty(t2.shape(), logits.dtype(), logits.device());
  const Tensor w = options.weight.defined() ? options.weight.contiguous() : Tensor();
  const bool none = options.reduction == Reduction::none;
  const Tensor reduced = none ? Tensor() : Tensor::empty({}, logits.dtype(), logits.device());
  f.total_weight = kernels::cross_entropy_forward(logits.device(), x3, t2, w, options.ignore_index, f.log_probs,
                                                  per_pos, reduced, options.reduction == Reduction::mean);
  f.log_probs = f.log_probs.view(logits.shape());
  f.loss = none ? per_pos.view(positions_shape(logits)) : reduced;
  return f;
}

Tensor cross_entropy(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& options) {
  return cross_entropy_forward(logits, target, options).loss;
}

Tensor cross_entropy_backward(const Tensor& grad, const Tensor& log_probs, const Tensor& target,
                              const CrossEntropyOptions& options, double total_weight) {
  const int64_t n = log_probs.size(0), c = log_probs.size(1);
  const int64_t s = n == 0 || c == 0 ? 0 : log_probs.numel() / (n * c);
  kernels::UpstreamGrad g = loss_detail::upstream(grad, options.reduction, 1, 1);
  if (options.reduction == Reduction::mean) g.factor = 1.0 / total_weight;
  Tensor out = Tensor::empty({n, c, s}, log_probs.dtype(), log_probs.device());
  kernels::cross_entropy_backward(log_probs.device(), log_probs.contiguous().view({n, c, s}),
                                  target.contiguous().view({n, s}),
                                  options.weight.defined() ? options.weight.contiguous() : Tensor(),
                                  options.ignore_index, g, Tensor(), out);
  return out.view(log_probs.shape());
}

// ---------------------------------------------------------------- OHEM

OhemForward ohem_cross_entropy_forward(const Tensor& logits, const Tensor& target, const OhemOptions& options) {
  const char* op = "ohem_cross_entropy";
  CUDASEG_CHECK(options.thresh > 0 && options.thresh <= 1, op, ": thresh ", options.thresh,
                " must be a probability in (0, 1] (input ", shape_str(logits.shape()), ")");
  Tensor x3, t2;
  check_class_loss(op, logits, target, options.ignore_index, &x3, &t2);
  OhemForward f;
  f.log_probs = Tensor::empty(x3.shape(), logits.dtype(), logits.device());
  Tensor per_pos = Tensor::empty(t2.shape(), logits.dtype(), logits.device());
  const double valid = kernels::cross_entropy_forward(logits.device(), x3, t2, Tensor(), options.ignore_index,
                                                      f.log_probs, per_pos, Tensor(), false);
  f.log_probs = f.log_probs.view(logits.shape());
  const int64_t positions = per_pos.numel();
  const int64_t n_min = std::min(positions, options.min_kept >= 0 ? options.min_kept
                                                                   : static_cast<int64_t>(valid) / 16);
  f.kept_scale = Tensor::empty(positions_shape(logits), logits.dtype(), logits.device());
  double mean = 0;
  f.kept = kernels::ohem_select(logits.device(), per_pos.view({positions}), -std::log(options.thresh), n_min,
                                f.kept_scale.view({positions}), &mean);
  f.loss = Tensor::full({}, mean, logits.dtype(), logits.device());
  return f;
}

Tensor ohem_cross_entropy(const Tensor& logits, const Tensor& target, const OhemOptions& options) {
  return ohem_cross_entropy_forward(logits, target, options).loss;
}

Tensor ohem_cross_entropy_backward(const Tensor& grad, const OhemForward& forward, const Tensor& target,
                                   int64_t ignore_index) {
  // The mean over the kept positions is a 'none' cross entropy weighted per position.
  const Tensor& lp = forward.log_probs;
  const int64_t n = lp.size(0), c = lp.size(1);
  const int64_t s = n == 0 || c == 0 ? 0 : lp.numel() / (n * c);
  kernels::UpstreamGrad g;
  g.grad = grad.contiguous();
  Tensor out = Tensor::empty({n, c, s}, lp.dtype(), lp.device());
  kernels::cross_entropy_backward(lp.device(), lp.contiguous().view({n, c, s}), target.contiguous().view({n, s}),
                                  Tensor(), ignore_index, g, forward.kept_scale.contiguous().view({n, s}), out);
  return out.view(lp.shape());
}

// ---------------------------------------------------------------- distillation

KDForward kd_loss_forward(const Tensor& student, const Tensor& teacher, double temperature, Reduction reduction) {
  const char* op = "kd_loss";
  check_float(op, "student_logits", student);
  check_defined(op, "teacher_logits", teacher);
  check_same_device(op, {{"student_logits", &student}, {"teacher_logits", &teacher}});
  check_same_dtype(op, {{"student_logits", &student}, {"teacher_logits", &teacher}});
  CUDASEG_CHECK(student.dim() >= 2 && student.shape() == teacher.shape(), op, ": student_logits ",
                shape_str(student.shape()), " and teacher_logits ", shape_str(teacher.shape()),
                " must have the same [N, C, ...] shape");
  CUDASEG_CHECK(temperature > 0, op, ": temperature must be > 0, got ", temperature);
  CUDASEG_CHECK(reduction != Reduction::none, op, ": reduction 'none' is not supported (use kl_div)");
  const int64_t n = student.size(0), c = student.size(1);
  const int64_t s = n == 0 || c == 0 ? 0 : student.numel() / (n * c);
  KDForward f;
  f.prob_diff = Tensor::empty({n, c, s}, student.dtype(), student.device());
  const double divisor = reduction == Reduction::mean        ? static_cast<double>(student.numel())
                         : reduction == Reduction::batchmean ? static_cast<double>(n)
                                                             : 1.0;
  const Tensor xs = student.contiguous().view({n, c, s}), xt = teacher.contiguous().view({n, c, s});
  f.loss = Tensor::empty({}, student.dtype(), student.device());
  kernels::kd_forward(student.device(), xs, xt, temperature, divisor, f.prob_diff, f.loss);
  f.prob_diff = f.prob_diff.view(student.shape());
  // d/ds of T^2 * q (log q - log_softmax(s / T)) summed over classes is T * (p - q).
  f.grad_scale = temperature / divisor;
  return f;
}

Tensor kd_loss(const Tensor& student, const Tensor& teacher, double temperature, Reduction reduction) {
  return kd_loss_forward(student, teacher, temperature, reduction).loss;
}

Tensor kd_loss_backward(const Tensor& grad, const KDForward& forward) {
  Tensor out = Tensor::empty(forward.prob_diff.shape(), forward.prob_diff.dtype(), forward.prob_diff.device());
  kernels::kd_backward(out.device(), forward.prob_diff.contiguous(), grad.contiguous(), forward.grad_scale, out);
  return out;
}

}  // namespace cudaseg::ops
