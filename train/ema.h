// Exponential moving average of a model's state (timm's ModelEmaV2 as the
// zh320 recipe uses it): after every optimizer step, each floating
// parameter and buffer becomes ema = decay * ema + (1 - decay) * model.
// Integer buffers (num_batches_tracked) are copied, not averaged. Validation
// and the best checkpoint use the averaged weights.
#pragma once

#include <string>

#include "nn/module.h"
#include "weights/tensor_dict.h"

namespace cudaseg::train {

struct EmaConfig {
  bool enabled = false;
  // "linear": decay = clamp(step / total_steps, 0, 1), zh320's ramp;
  // "fixed": decay = `decay` throughout.
  std::string mode = "linear";
  double decay = 0.9998;
};

class ModelEma {
 public:
  // Starts as a copy of the model's state_dict.
  ModelEma(const nn::Module& model, const EmaConfig& config);

  // The decay used after optimizer step `step` (1-based) of `total_steps`.
  double decay_at(int64_t step, int64_t total_steps) const;
  // Folds the model's current state in (disabled: copies it).
  void update(const nn::Module& model, int64_t step, int64_t total_steps);
  // Writes the averaged state into `target` (a module of the same architecture).
  void copy_to(nn::Module& target) const;

  const nn::NamedTensors& state() const { return state_; }
  // Replaces the averaged state from saved tensors (names and shapes must match).
  void load(const weights::TensorDict& saved, const std::string& prefix);

 private:
  EmaConfig config_;
  nn::NamedTensors state_;
};

}  // namespace cudaseg::train
