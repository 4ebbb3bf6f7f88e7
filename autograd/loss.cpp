#include "autograd/loss.h"

#include <functional>

#include "autograd/engine.h"

namespace cudaseg::fn {
namespace {

using autograd::Node;
using autograd::SavedTensor;

struct CrossEntropyBackward : Node {
  const char* name() const override { return "CrossEntropyBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    return {ops::cross_entropy_backward(g[0], log_probs.unpack(*this), target.unpack(*this), options, total_weight)};
  }
  void release_saved() override {
    log_probs.reset();
    target.reset();
  }
  SavedTensor log_probs, target;
  CrossEntropyOptions options;
  double total_weight = 0;
};

struct OhemBackward : Node {
  const char* name() const override { return "OhemCrossEntropyBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    ops::OhemForward f;
    f.log_probs = log_probs.unpack(*this);
    f.kept_scale = kept_scale.unpack(*this);
    return {ops::ohem_cross_entropy_backward(g[0], f, target.unpack(*this), ignore_index)};
  }
  void release_saved() override {
    log_probs.reset();
    kept_scale.reset();
    target.reset();
  }
  SavedTensor log_probs, kept_scale, target;
  int64_t ignore_index = 255;
};

struct KDBackward : Node {
  const char* name() const override { return "KDLossBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    ops::KDForward f;
    f.prob_diff = prob_diff.unpack(*this);
    f.grad_scale = grad_scale;
    return {ops::kd_loss_backward(g[0], f)};
  }
  void release_saved() override { prob_diff.reset(); }
  SavedTensor prob_diff;
  double grad_scale = 0;
};

// A loss of (input, target) whose backward is one ops::*_backward call.
using PairGrad = std::function<ops::LossGrads(const Tensor& grad, const Tensor& input, const Tensor& target,
                                              bool need_input, bool need_target)>;

struct PairLossBackward : Node {
  PairLossBackward(const char* n, PairGrad f) : op_name(n), backward(std::move(f)) {}
  const char* name() const override { return op_name; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    ops::LossGrads r =
        backward(g[0], input.unpack(*this), target.unpack(*this), next_edges[0].valid(), next_edges[1].valid());
    return {r.input, r.target};
  }
  void release_saved() override {
    input.reset();
    target.reset();
  }
  const char* op_name;
  PairGrad backward;
  SavedTensor input, target;
};

Tensor record_pair(const char* name, Tensor out, const Tensor& input, const Tensor& target, PairGrad f) {
  if (autograd::any_requires_grad({&input, &target})) {
    auto node = std::make_shared<PairLossBackward>(name, std::move(f));
    node->input = SavedTensor(input);
    node->target = SavedTensor(target);
    autograd::record(node, {&input, &target}, {&out});
  }
  return out;
}

Tensor regression(const char* name, ops::RegressionLoss kind, Tensor out, const Tensor& input, const Tensor& target,
                  Reduction reduction, double beta) {
  return record_pair(name, std::move(out), input, target,
                     [=](const Tensor& g, const Tensor& in, const Tensor& t, bool ni, bool nt) {
                       return ops::regression_loss_backward(kind, g, in, t, reduction, beta, ni, nt);
                     });
}

}  // namespace

Tensor cross_entropy(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& options) {
  ops::CrossEntropyForward f = ops::cross_entropy_forward(logits, target, options);
  if (autograd::any_requires_grad({&logits})) {
    auto node = std::make_shared<CrossEntropyBackward>();
    node->log_probs = SavedTensor(f.log_probs);
    node->target = SavedTensor(target);
    node->options = options;
    node->total_weight = f.total_weight;
    autograd::record(node, {&logits}, {&f.loss});
  }
  return f.loss;
}

Tensor ohem_cross_entropy(const Tensor& logits, const Tensor& target, const OhemOptions& options) {
  ops::OhemForward f = ops::ohem_cross_entropy_forward(logits, target, options);
  if (autograd::any_requires_grad({&logits})) {
    auto node = std::make_shared<OhemBackward>();
    node->log_probs = SavedTensor(f.log_probs);
    node->kept_scale = SavedTensor(f.kept_scale);
    node->target = SavedTensor(target);
    node->ignore_index = options.ignore_index;
    autograd::record(node, {&logits}, {&f.loss});
  }
  return f.loss;
}

Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        const BCEWithLogitsOptions& options) {
  return record_pair("BinaryCrossEntropyWithLogitsBackward",
                     ops::binary_cross_entropy_with_logits(input, target, options), input, target,
                     [options](const Tensor& g, const Tensor& in, const Tensor& t, bool ni, bool nt) {
                       return ops::binary_cross_entropy_with_logits_backward(g, in, t, options, ni, nt);
                     });
}

Tensor dice_loss(const Tensor& input, const Tensor& target, const DiceOptions& options) {
  return record_pair("DiceLossBackward", ops::dice_loss(input, target, options), input, target,
                     [options](const Tensor& g, const Tensor& in, const Tensor& t, bool ni, bool nt) {
                       return ops::dice_loss_backward(g, in, t, options, ni, nt);
                     });
}

Tensor kl_div(const Tensor& input, const Tensor& target, Reduction reduction, bool log_target) {
  return record_pair("KlDivBackward", ops::kl_div(input, target, reduction, log_target), input, target,
                     [=](const Tensor& g, const Tensor& in, const Tensor& t, bool ni, bool nt) {
                       return ops::kl_div_backward(g, in, t, reduction, log_target, ni, nt);
                     });
}

Tensor kd_loss(const Tensor& student_logits, const Tensor& teacher_logits, double temperature, Reduction reduction) {
  ops::KDForward f = ops::kd_loss_forward(student_logits, teacher_logits, temperature, reduction);
  if (autograd::any_requires_grad({&student_logits})) {
    auto node = std::make_shared<KDBackward>();
    node->prob_diff = SavedTensor(f.prob_diff);
    node->grad_scale = f.grad_scale;
    autograd::record(node, {&student_logits}, {&f.loss});
  }
  return f.loss;
}

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  return regression("MseLossBackward", ops::RegressionLoss::mse, ops::mse_loss(input, target, reduction), input,
                    target, reduction, 0.0);
}

Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  return regression("L1LossBackward", ops::RegressionLoss::l1, ops::l1_loss(input, target, reduction), input, target,
                    reduction, 0.0);
}

Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, Reduction reduction, double beta) {
  return regression("SmoothL1LossBackward", ops::RegressionLoss::smooth_l1,
                    ops::smooth_l1_loss(input, target, reduction, beta), input, target, reduction, beta);
}

}  // namespace cudaseg::fn
