#include "train/ema.h"

#include <algorithm>
#include <map>

#include "ops/ops.h"
#include "runtime/error.h"

namespace cudaseg::train {

ModelEma::ModelEma(const nn::Module& model, const EmaConfig& config) : config_(config) {
  CUDASEG_CHECK(config.mode == "linear" || config.mode == "fixed", "ema.mode: unknown '", config.mode,
                "' (accepted: linear, fixed)");
  CUDASEG_CHECK(config.decay >= 0 && config.decay <= 1, "ema.decay must be in [0, 1], got ", config.decay);
  for (const auto& [name, t] : model.state_dict()) state_.emplace_back(name, t.detach().clone());
}

double ModelEma::decay_at(int64_t step, int64_t total_steps) const {
  if (!config_.enabled) return 0.0;
  if (config_.mode == "fixed") return config_.decay;
  CUDASEG_CHECK(total_steps > 0, "ModelEma: total_steps must be positive");
  return std::clamp(static_cast<double>(step) / static_cast<double>(total_steps), 0.0, 1.0);
}

void ModelEma::update(const nn::Module& model, int64_t step, int64_t total_steps) {
  const double d = decay_at(step, total_steps);
  const nn::NamedTensors current = model.state_dict();
  CUDASEG_CHECK(current.size() == state_.size(), "ModelEma: the model has ", current.size(),
                " state entries, the average ", state_.size());
  for (size_t i = 0; i < state_.size(); ++i) {
    Tensor& avg = state_[i].second;
    const Tensor m = current[i].second.detach();
    CUDASEG_CHECK(current[i].first == state_[i].first, "ModelEma: entry ", i, " is '", current[i].first,
                  "' in the model, '", state_[i].first, "' in the average");
    if (!is_floating(avg.dtype()) || d == 0.0) {
      avg.copy_(m);
    } else {
      avg.copy_(ops::add(ops::mul(avg, d), m, 1.0 - d));
    }
  }
}

void ModelEma::copy_to(nn::Module& target) const {
  std::map<std::string, Tensor> state(state_.begin(), state_.end());
  target.load_state_dict(state, true);
}

void ModelEma::load(const weights::TensorDict& saved, const std::string& prefix) {
  for (auto& [name, t] : state_) {
    const Tensor* s = saved.find(prefix + name);
    CUDASEG_CHECK(s != nullptr, "EMA state: '", prefix + name, "' missing");
    CUDASEG_CHECK(s->shape() == t.shape(), "EMA state: '", prefix + name, "' has shape ", shape_str(s->shape()),
                  ", expected ", shape_str(t.shape()));
    t.copy_(*s);
  }
}

}  // namespace cudaseg::train
