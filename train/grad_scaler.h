// Dynamic loss scaling for float16 training (torch.cuda.amp.GradScaler's
// rule). The loss is multiplied by the scale before backward so that small
// gradients survive float16; step() divides the gradients by the scale,
// checks them, and runs the optimizer only when every gradient is finite. An
// overflow (inf or nan) skips the update and halves the scale; growth_interval
// finite steps in a row double it. Nothing here depends on the gradients'
// dtype: the scaler works on the optimizer's (float32) master gradients.
#pragma once

#include <cstdint>
#include <functional>

#include <nlohmann/json.hpp>

#include "train/optim.h"

namespace cudaseg::train {

struct GradScalerConfig {
  double init_scale = 65536.0;
  double growth_factor = 2.0;
  double backoff_factor = 0.5;
  int64_t growth_interval = 2000;
};

class GradScaler {
 public:
  explicit GradScaler(const GradScalerConfig& config = {});

  // loss * scale, recorded for backward.
  Tensor scale(const Tensor& loss) const;
  // Divides every gradient of `params` by the scale in place; true when any
  // gradient holds an inf or a nan.
  bool unscale(const std::vector<OptimParam>& params) const;
  // Folds one step's outcome into the scale: backoff on overflow, growth
  // after growth_interval finite steps.
  void update(bool found_inf);
  // unscale, optimizer.step() unless a gradient overflowed, update. Returns
  // whether the optimizer stepped. `agree` (data-parallel runs) turns this
  // rank's overflow flag into the flag of all ranks, so every rank skips or
  // steps alike and their scales stay equal.
  bool step(Optimizer& optimizer, const std::function<bool(bool)>& agree = {});

  double scale_value() const { return scale_; }
  int64_t growth_tracker() const { return growth_tracker_; }

  // {"scale": s, "growth_tracker": n}, and its restore.
  nlohmann::json state() const;
  void load_state(const nlohmann::json& state);

 private:
  GradScalerConfig config_;
  double scale_;
  int64_t growth_tracker_ = 0;
};

}  // namespace cudaseg::train
