// Optimizers with torch.optim's update rules: SGD (momentum, dampening-free,
// nesterov, L2 weight decay), Adam (L2 weight decay added to the gradient)
// and AdamW (decoupled decay), with bias correction. Each parameter carries
// its own lr multiplier and weight decay (the parameter groups), built from
// the config by name: no decay for norm layers and biases on request, and lr
// multipliers for name prefixes ("backbone." 0.1). Updates run through ops::
// on the parameters' device and write in place, so handles held by the net
// stay valid.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nn/module.h"
#include "weights/tensor_dict.h"

namespace cudaseg::train {

struct OptimizerConfig {
  std::string type = "sgd";  // sgd | adam | adamw
  double lr = 0.01;
  double momentum = 0.9;  // sgd
  bool nesterov = false;  // sgd
  double weight_decay = 1e-4;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // adam, adamw
  bool no_decay_norm_bias = false;  // weight decay 0 for norm-layer parameters and biases
  std::map<std::string, double> lr_mult;  // name prefix -> lr multiplier (longest prefix wins)
  double grad_clip_norm = 0.0;  // > 0: clip the global gradient norm to this
};

// One optimised tensor with its group settings.
struct OptimParam {
  std::string name;
  Tensor tensor;
  double lr_mult = 1.0;
  double weight_decay = 0.0;
};

// Names of the parameters of normalisation layers (modules whose type name
// contains "Norm") and of every bias.
std::set<std::string> norm_and_bias_names(const nn::Module& model);

// The model's parameters with the config's per-parameter lr multiplier and decay.
std::vector<OptimParam> make_param_groups(const nn::Module& model, const OptimizerConfig& config);

// Scales every gradient by max_norm / (norm + 1e-6) when the global L2 norm
// exceeds max_norm (torch.nn.utils.clip_grad_norm_); returns the norm before clipping.
double clip_grad_norm(const std::vector<OptimParam>& params, double max_norm);

class Optimizer {
 public:
  Optimizer(std::vector<OptimParam> params, const OptimizerConfig& config);

  // The base lr (each parameter uses lr * lr_mult) and the momentum / beta1,
  // which schedules such as one-cycle move every iteration.
  void set_lr(double lr) { lr_ = lr; }
  double lr() const { return lr_; }
  void set_momentum(double momentum);
  double momentum() const;

  // One update from the parameters' .grad(); parameters without a gradient
  // are skipped and their state does not advance (as torch).
  void step();
  // Drops every gradient.
  void zero_grad();

  const std::vector<OptimParam>& params() const { return params_; }
  const OptimizerConfig& config() const { return config_; }

  // The state as named tensors ("momentum_buffer/NAME", "exp_avg/NAME",
  // "exp_avg_sq/NAME", "step/NAME") and the hyper-parameters as JSON.
  weights::TensorDict state() const;
  nlohmann::json hyper() const;
  // Restores a saved state; throws when the optimizer type differs or a
  // tensor names an unknown parameter or has the wrong shape.
  void load_state(const weights::TensorDict& state, const nlohmann::json& hyper);

 private:
  struct Slot {
    Tensor buf1;  // momentum buffer or exp_avg
    Tensor buf2;  // exp_avg_sq
    int64_t steps = 0;
  };
  void sgd_update(const OptimParam& p, const Tensor& grad, Slot& s);
  void adam_update(const OptimParam& p, Tensor grad, Slot& s);

  std::vector<OptimParam> params_;
  OptimizerConfig config_;
  double lr_;
  std::vector<Slot> slots_;
};

}  // namespace cudaseg::train
