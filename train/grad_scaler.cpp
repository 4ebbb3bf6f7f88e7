#include "train/grad_scaler.h"

#include <cmath>

#include "autograd/arith.h"
#include "ops/ops.h"
#include "runtime/error.h"

namespace cudaseg::train {

GradScaler::GradScaler(const GradScalerConfig& config) : config_(config), scale_(config.init_scale) {
  CUDASEG_CHECK(config.init_scale > 0 && std::isfinite(config.init_scale), "GradScaler: init_scale must be ",
                "positive and finite, got ", config.init_scale);
  CUDASEG_CHECK(config.growth_factor > 1, "GradScaler: growth_factor must be > 1, got ", config.growth_factor);
  CUDASEG_CHECK(config.backoff_factor > 0 && config.backoff_factor < 1, "GradScaler: backoff_factor must be in ",
                "(0, 1), got ", config.backoff_factor);
  CUDASEG_CHECK(config.growth_interval > 0, "GradScaler: growth_interval must be positive, got ",
                config.growth_interval);
}

Tensor GradScaler::scale(const Tensor& loss) const { return fn::mul(loss, scale_); }

bool GradScaler::unscale(const std::vector<OptimParam>& params) const {
  // g * 0 is 0 for every finite g and nan for inf or nan, so one sum per
  // gradient, added up on the device, finds an overflow with a single read
  // back and no false alarm from a large but finite sum.
  Tensor poisoned;
  for (const auto& p : params) {
    Tensor g = p.tensor.grad();
    if (!g.defined()) continue;
    g.copy_(ops::mul(g, 1.0 / scale_));
    const Tensor s = ops::sum(ops::mul(g, 0.0));
    poisoned = poisoned.defined() ? ops::add(poisoned, s) : s;
  }
  return poisoned.defined() && !std::isfinite(poisoned.item());
}

void GradScaler::update(bool found_inf) {
  if (found_inf) {
    scale_ *= config_.backoff_factor;
    growth_tracker_ = 0;
    return;
  }
  if (++growth_tracker_ == config_.growth_interval) {
    scale_ *= config_.growth_factor;
    growth_tracker_ = 0;
  }
}

bool GradScaler::step(Optimizer& optimizer, const std::function<bool(bool)>& agree) {
  bool found_inf = unscale(optimizer.params());
  if (agree) found_inf = agree(found_inf);
  if (!found_inf) optimizer.step();
  update(found_inf);
  return !found_inf;
}

nlohmann::json GradScaler::state() const { return {{"scale", scale_}, {"growth_tracker", growth_tracker_}}; }

void GradScaler::load_state(const nlohmann::json& state) {
  CUDASEG_CHECK(state.is_object() && state.contains("scale") && state.contains("growth_tracker"),
                "GradScaler: saved state ", state.dump(), " lacks scale and growth_tracker");
  const double scale = state["scale"].get<double>();
  const int64_t tracker = state["growth_tracker"].get<int64_t>();
  CUDASEG_CHECK(scale > 0 && std::isfinite(scale) && tracker >= 0 && tracker < config_.growth_interval,
                "GradScaler: saved state ", state.dump(), " is out of range");
  scale_ = scale;
  growth_tracker_ = tracker;
}

}  // namespace cudaseg::train
