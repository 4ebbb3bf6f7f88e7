#include "train/schedule.h"

#include <algorithm>
#include <cmath>

#include "runtime/error.h"

namespace cudaseg::train {
namespace {

constexpr double kPi = 3.14159265358979323846;

double anneal(const std::string& kind, double start, double end, double pct) {
  if (kind == "linear") return (end - start) * pct + start;
  return end + (start - end) / 2.0 * (std::cos(kPi * pct) + 1.0);
}

}  // namespace

LrSchedule::LrSchedule(double base_lr, const ScheduleConfig& config) : base_lr_(base_lr), config_(config) {
  const auto& c = config_;
  CUDASEG_CHECK(c.policy == "poly" || c.policy == "cosine" || c.policy == "onecycle" || c.policy == "step",
                "schedule.policy: unknown '", c.policy, "' (accepted: poly, cosine, onecycle, step)");
  CUDASEG_CHECK(c.anneal == "cos" || c.anneal == "linear", "schedule.anneal: unknown '", c.anneal,
                "' (accepted: cos, linear)");
  CUDASEG_CHECK(c.total_iters > 0, "schedule.total_iters must be positive, got ", c.total_iters);
  CUDASEG_CHECK(c.warmup_iters >= 0 && c.warmup_iters < c.total_iters, "schedule.warmup_iters must be in [0, ",
                c.total_iters, ") (the run's iterations, train.iters), got ", c.warmup_iters);
  CUDASEG_CHECK(c.step_size > 0, "schedule.step_size must be positive, got ", c.step_size);
  CUDASEG_CHECK(c.div_factor > 0 && c.final_div_factor > 0, "schedule.div_factor and final_div_factor must be positive");
}

double LrSchedule::warmed(int64_t iter, double target) const {
  if (iter >= config_.warmup_iters) return target;
  const double f = config_.warmup_factor;
  const double alpha = static_cast<double>(iter) / static_cast<double>(config_.warmup_iters);
  return target * (f + (1.0 - f) * alpha);
}

double LrSchedule::one_cycle(int64_t iter, double start, double peak, double end) const {
  // torch's phases: [0, pct*total - 1] from start to peak, then to `end` at total - 1.
  const double phase1_end = static_cast<double>(config_.warmup_iters) - 1.0;
  const double last = static_cast<double>(config_.total_iters) - 1.0;
  const double step = static_cast<double>(std::min(iter, config_.total_iters - 1));
  if (step <= phase1_end) return anneal(config_.anneal, start, peak, phase1_end > 0 ? step / phase1_end : 1.0);
  const double span = last - phase1_end;
  return anneal(config_.anneal, peak, end, span > 0 ? (step - phase1_end) / span : 1.0);
}

double LrSchedule::lr(int64_t iter) const {
  CUDASEG_CHECK(iter >= 0, "LrSchedule::lr: negative iteration ", iter);
  const auto& c = config_;
  if (c.policy == "onecycle") {
    const double initial = base_lr_ / c.div_factor;
    return one_cycle(iter, initial, base_lr_, initial / c.final_div_factor);
  }
  if (c.policy == "step") {
    return warmed(iter, base_lr_ * std::pow(c.gamma, static_cast<double>(iter / c.step_size)));
  }
  if (iter < c.warmup_iters) return warmed(iter, base_lr_);
  const double t = static_cast<double>(std::min(iter, c.total_iters) - c.warmup_iters);
  const double span = static_cast<double>(c.total_iters - c.warmup_iters);
  if (c.policy == "poly") return c.min_lr + (base_lr_ - c.min_lr) * std::pow(1.0 - t / span, c.power);
  return c.min_lr + (base_lr_ - c.min_lr) * 0.5 * (1.0 + std::cos(kPi * t / span));
}

std::optional<double> LrSchedule::momentum(int64_t iter) const {
  if (config_.policy != "onecycle" || !config_.cycle_momentum) return std::nullopt;
  return one_cycle(iter, config_.max_momentum, config_.base_momentum, config_.max_momentum);
}

}  // namespace cudaseg::train
