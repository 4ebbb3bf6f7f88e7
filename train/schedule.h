// Learning-rate schedules, evaluated per iteration (0-based): a linear warmup
// followed by poly, cosine or step decay, or torch's OneCycleLR (the zh320
// recipe's 'cos_warmup', whose rising phase is the warmup).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace cudaseg::train {

struct ScheduleConfig {
  std::string policy = "onecycle";  // poly | cosine | onecycle | step
  int64_t total_iters = 1000;
  // poly/cosine/step: lr rises linearly from warmup_factor * lr at iteration
  // 0 to lr at iteration warmup_iters. onecycle: the phase that rises to the
  // peak ends at iteration warmup_iters - 1 (pct_start = warmup / total).
  int64_t warmup_iters = 0;
  double warmup_factor = 0.1;
  double power = 0.9;        // poly: lr * (1 - t / T) ^ power
  double min_lr = 0.0;       // poly and cosine end here
  int64_t step_size = 1000;  // step: lr * gamma ^ floor(iter / step_size)
  double gamma = 0.1;
  // onecycle (torch.optim.lr_scheduler.OneCycleLR's arguments and defaults)
  double div_factor = 25.0;
  double final_div_factor = 1e4;
  std::string anneal = "cos";  // cos | linear
  bool cycle_momentum = true;
  double base_momentum = 0.85;
  double max_momentum = 0.95;
};

class LrSchedule {
 public:
  // Throws on an unknown policy or inconsistent lengths, naming the field.
  LrSchedule(double base_lr, const ScheduleConfig& config);

  // The learning rate of iteration `iter`.
  double lr(int64_t iter) const;
  // The momentum (SGD) or beta1 (Adam) onecycle prescribes at `iter`; none
  // for the other policies or when cycle_momentum is off.
  std::optional<double> momentum(int64_t iter) const;

  const ScheduleConfig& config() const { return config_; }

 private:
  double warmed(int64_t iter, double target) const;
  // OneCycleLR's two phases: start -> peak over the warmup, then peak -> end.
  double one_cycle(int64_t iter, double start, double peak, double end) const;

  double base_lr_;
  ScheduleConfig config_;
};

}  // namespace cudaseg::train
