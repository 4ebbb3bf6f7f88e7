#include "train/losses.h"

#include <algorithm>
#include <cstdio>

#include "autograd/fn.h"
#include "nn/segnet.h"
#include "ops/ops.h"
#include "runtime/error.h"

namespace cudaseg::train {

std::string LossResult::summary() const {
  std::string out;
  char buf[64];
  for (const auto& t : terms) {
    std::snprintf(buf, sizeof buf, "%s%s %.4f", out.empty() ? "" : " ", t.name.c_str(), t.value.item());
    out += buf;
  }
  return out;
}

Tensor downsample_labels(const Tensor& labels, int64_t h, int64_t w) {
  CUDASEG_CHECK(labels.dim() == 3, "downsample_labels: labels must be [N, H, W], got ", shape_str(labels.shape()));
  if (labels.size(1) == h && labels.size(2) == w) return labels;
  const Tensor as_float = ops::to_dtype(labels, DType::f32).unsqueeze(1);
  return ops::to_dtype(ops::upsample_nearest2d(as_float, {h, w}), DType::i64).squeeze(1);
}

SegLoss::SegLoss(const LossConfig& config, int64_t num_classes) : config_(config), num_classes_(num_classes) {
  CUDASEG_CHECK(config.type == "ce" || config.type == "ohem", "loss.type: unknown '", config.type,
                "' (accepted: ce, ohem)");
  CUDASEG_CHECK(config.ohem_thresh > 0 && config.ohem_thresh <= 1, "loss.ohem_thresh must be in (0, 1], got ",
                config.ohem_thresh);
  if (!config.class_weights.empty()) {
    CUDASEG_CHECK(static_cast<int64_t>(config.class_weights.size()) == num_classes, "loss.class_weights has ",
                  config.class_weights.size(), " values for ", num_classes, " classes");
    class_weights_ = Tensor::from_vector(config.class_weights, {num_classes});
  }
}

Tensor SegLoss::pixel_loss(const Tensor& logits, const Tensor& labels) const {
  if (config_.type == "ohem") {
    return fn::ohem_cross_entropy(logits, labels, {config_.ohem_thresh, config_.ignore_index, config_.ohem_min_kept});
  }
  fn::CrossEntropyOptions options;
  options.ignore_index = config_.ignore_index;
  if (class_weights_.defined()) options.weight = class_weights_.to(logits.device(), logits.dtype());
  return fn::cross_entropy(logits, labels, options);
}

void SegLoss::add_extra(const std::string& name, double coef, int64_t first_output, ExtraLossFn fn) {
  CUDASEG_CHECK(first_output >= 1, "SegLoss::add_extra: '", name, "' must start after the main logits");
  extras_.push_back({name, coef, first_output, std::move(fn)});
}

LossResult SegLoss::operator()(const std::vector<Tensor>& outputs, const Tensor& labels) const {
  CUDASEG_CHECK(!outputs.empty(), "SegLoss: the net returned no outputs");
  const Tensor& main = outputs[0];
  CUDASEG_CHECK(main.dim() == 4 && main.size(1) == num_classes_, "SegLoss: main logits must be [N, ",
                num_classes_, ", H, W], got ", shape_str(main.shape()));
  CUDASEG_CHECK(labels.dim() == 3 && labels.size(1) == main.size(2) && labels.size(2) == main.size(3),
                "SegLoss: labels ", shape_str(labels.shape()), " do not match the main logits ",
                shape_str(main.shape()));
  LossResult result;
  result.terms.push_back({"seg", pixel_loss(main, labels)});
  int64_t aux_end = static_cast<int64_t>(outputs.size());
  for (const auto& e : extras_) aux_end = std::min(aux_end, e.first_output);
  const int64_t n_aux = aux_end - 1;
  CUDASEG_CHECK(config_.aux_coef.empty() || static_cast<int64_t>(config_.aux_coef.size()) == n_aux,
                "loss.aux_coef has ", config_.aux_coef.size(), " values, the net has ", n_aux, " aux outputs");
  for (int64_t i = 0; i < n_aux; ++i) {
    const Tensor& aux = outputs[static_cast<size_t>(i + 1)];
    CUDASEG_CHECK(aux.dim() == 4, "SegLoss: aux output ", i, " must be [N, C, h, w], got ", shape_str(aux.shape()));
    const double coef = config_.aux_coef.empty() ? 1.0 : config_.aux_coef[static_cast<size_t>(i)];
    const Tensor l = pixel_loss(aux, downsample_labels(labels, aux.size(2), aux.size(3)));
    result.terms.push_back({"aux" + std::to_string(i), fn::mul(l, coef)});
  }
  for (const auto& e : extras_) result.terms.push_back({e.name, fn::mul(e.fn(outputs, labels), e.coef)});
  result.total = result.terms[0].value;
  for (size_t i = 1; i < result.terms.size(); ++i) result.total = fn::add(result.total, result.terms[i].value);
  return result;
}

void add_net_losses(SegLoss& loss, const nn::SegNet& net) {
  const LossConfig& c = loss.config();
  nn::NetLossOptions options;
  options.detail_coef = c.detail_coef;
  options.dice_coef = c.dice_coef;
  options.bce_coef = c.bce_coef;
  options.detail_thresh = c.detail_thresh;
  for (nn::NetLoss& term : net.net_losses(options))
    loss.add_extra(term.name, term.coef, term.first_output, std::move(term.value));
}

}  // namespace cudaseg::train
