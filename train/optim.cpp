#include "train/optim.h"

#include <algorithm>
#include <cmath>

#include "ops/ops.h"
#include "runtime/error.h"

namespace cudaseg::train {
namespace {

bool is_adam(const std::string& type) { return type == "adam" || type == "adamw"; }

void collect_norm_and_bias(const nn::Module& m, const std::string& prefix, std::set<std::string>& out) {
  const bool norm = m.type_name().find("Norm") != std::string::npos;
  for (const auto& [name, t] : m.named_parameters(false)) {
    if (norm || name == "bias") out.insert(prefix + name);
  }
  for (const auto& [name, child] : m.named_children()) collect_norm_and_bias(*child, prefix + name + ".", out);
}

}  // namespace

std::set<std::string> norm_and_bias_names(const nn::Module& model) {
  std::set<std::string> out;
  collect_norm_and_bias(model, "", out);
  return out;
}

std::vector<OptimParam> make_param_groups(const nn::Module& model, const OptimizerConfig& config) {
  const std::set<std::string> no_decay =
      config.no_decay_norm_bias ? norm_and_bias_names(model) : std::set<std::string>{};
  std::vector<OptimParam> out;
  for (const auto& [name, t] : model.named_parameters()) {
    OptimParam p{name, t, 1.0, no_decay.count(name) ? 0.0 : config.weight_decay};
    size_t best = 0;
    for (const auto& [prefix, mult] : config.lr_mult) {
      if (name.compare(0, prefix.size(), prefix) == 0 && prefix.size() >= best) {
        best = prefix.size();
        p.lr_mult = mult;
      }
    }
    out.push_back(std::move(p));
  }
  return out;
}

double clip_grad_norm(const std::vector<OptimParam>& params, double max_norm) {
  CUDASEG_CHECK(max_norm > 0, "clip_grad_norm: max_norm must be positive, got ", max_norm);
  double sq = 0.0;
  for (const auto& p : params) {
    const Tensor g = p.tensor.grad();
    if (!g.defined()) continue;
    const double n = ops::norm(g.to(DType::f64)).item();
    sq += n * n;
  }
  const double total = std::sqrt(sq);
  const double coef = max_norm / (total + 1e-6);
  if (coef < 1.0) {
    for (const auto& p : params) {
      Tensor g = p.tensor.grad();
      if (g.defined()) g.copy_(ops::mul(g, coef));
    }
  }
  return total;
}

Optimizer::Optimizer(std::vector<OptimParam> params, const OptimizerConfig& config)
    : params_(std::move(params)), config_(config), lr_(config.lr), slots_(params_.size()) {
  CUDASEG_CHECK(config.type == "sgd" || is_adam(config.type), "optimizer.type: unknown '", config.type,
                "' (accepted: sgd, adam, adamw)");
  CUDASEG_CHECK(config.lr >= 0, "optimizer.lr must be >= 0, got ", config.lr);
  CUDASEG_CHECK(config.weight_decay >= 0, "optimizer.weight_decay must be >= 0, got ", config.weight_decay);
  CUDASEG_CHECK(!config.nesterov || (config.type == "sgd" && config.momentum > 0),
                "optimizer.nesterov needs sgd with momentum > 0");
  std::set<std::string> seen;
  for (const auto& p : params_) {
    CUDASEG_CHECK(seen.insert(p.name).second, "Optimizer: parameter '", p.name, "' given twice");
    CUDASEG_CHECK(p.tensor.defined(), "Optimizer: parameter '", p.name, "' is undefined");
  }
}

void Optimizer::set_momentum(double momentum) {
  if (is_adam(config_.type)) {
    config_.beta1 = momentum;
  } else {
    config_.momentum = momentum;
  }
}

double Optimizer::momentum() const { return is_adam(config_.type) ? config_.beta1 : config_.momentum; }

void Optimizer::zero_grad() {
  for (const auto& p : params_) p.tensor.set_grad(Tensor());
}

void Optimizer::step() {
  if (config_.grad_clip_norm > 0) clip_grad_norm(params_, config_.grad_clip_norm);
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor grad = params_[i].tensor.grad();
    if (!grad.defined()) continue;
    if (is_adam(config_.type)) {
      adam_update(params_[i], grad, slots_[i]);
    } else {
      sgd_update(params_[i], grad, slots_[i]);
    }
  }
}

void Optimizer::sgd_update(const OptimParam& p, const Tensor& grad, Slot& s) {
  Tensor w = p.tensor;
  Tensor d = p.weight_decay != 0 ? ops::add(grad, w, p.weight_decay) : grad;
  if (config_.momentum != 0) {
    s.buf1 = s.buf1.defined() ? ops::add(ops::mul(s.buf1, config_.momentum), d) : d.clone();
    d = config_.nesterov ? ops::add(d, s.buf1, config_.momentum) : s.buf1;
  }
  ++s.steps;
  w.copy_(ops::add(w, d, -lr_ * p.lr_mult));
}

void Optimizer::adam_update(const OptimParam& p, Tensor grad, Slot& s) {
  Tensor w = p.tensor;
  const double lr = lr_ * p.lr_mult;
  const double b1 = config_.beta1, b2 = config_.beta2;
  if (!s.buf1.defined()) {
    s.buf1 = Tensor::zeros(w.shape(), w.dtype(), w.device());
    s.buf2 = Tensor::zeros(w.shape(), w.dtype(), w.device());
  }
  ++s.steps;
  Tensor base = w;
  if (p.weight_decay != 0) {
    if (config_.type == "adamw") {
      base = ops::mul(w, 1.0 - lr * p.weight_decay);
    } else {
      grad = ops::add(grad, w, p.weight_decay);
    }
  }
  s.buf1 = ops::add(ops::mul(s.buf1, b1), grad, 1.0 - b1);
  s.buf2 = ops::add(ops::mul(s.buf2, b2), ops::mul(grad, grad), 1.0 - b2);
  const double t = static_cast<double>(s.steps);
  const double step_size = lr / (1.0 - std::pow(b1, t));
  const double bc2_sqrt = std::sqrt(1.0 - std::pow(b2, t));
  const Tensor denom = ops::add(ops::div(ops::sqrt(s.buf2), bc2_sqrt), config_.eps);
  w.copy_(ops::sub(base, ops::div(s.buf1, denom), step_size));
}

weights::TensorDict Optimizer::state() const {
  weights::TensorDict out;
  const bool adam = is_adam(config_.type);
  for (size_t i = 0; i < params_.size(); ++i) {
    const Slot& s = slots_[i];
    if (s.steps == 0) continue;
    const std::string& n = params_[i].name;
    out.insert("step/" + n, Tensor::full({}, static_cast<double>(s.steps), DType::i64));
    if (s.buf1.defined()) out.insert((adam ? "exp_avg/" : "momentum_buffer/") + n, s.buf1);
    if (s.buf2.defined()) out.insert("exp_avg_sq/" + n, s.buf2);
  }
  return out;
}

nlohmann::json Optimizer::hyper() const {
  return {{"type", config_.type},       {"lr", lr_},
          {"momentum", config_.momentum}, {"nesterov", config_.nesterov},
          {"weight_decay", config_.weight_decay}, {"beta1", config_.beta1},
          {"beta2", config_.beta2},     {"eps", config_.eps}, {"state_tensors", state().size()}};
}

void Optimizer::load_state(const weights::TensorDict& state, const nlohmann::json& hyper) {
  const std::string type = hyper.value("type", std::string());
  CUDASEG_CHECK(type == config_.type, "optimizer state: saved by '", type, "', cannot load into '", config_.type,
                "'");
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < params_.size(); ++i) index[params_[i].name] = i;
  std::vector<Slot> slots(params_.size());
  for (const auto& [key, t] : state) {
    const size_t slash = key.find('/');
    CUDASEG_CHECK(slash != std::string::npos, "optimizer state: malformed entry '", key, "'");
    const std::string kind = key.substr(0, slash), name = key.substr(slash + 1);
    auto it = index.find(name);
    CUDASEG_CHECK(it != index.end(), "optimizer state: '", key, "' names no optimised parameter");
    const Tensor& w = params_[it->second].tensor;
    Slot& s = slots[it->second];
    if (kind == "step") {
      s.steps = static_cast<int64_t>(t.item());
      continue;
    }
    CUDASEG_CHECK(t.shape() == w.shape(), "optimizer state: '", key, "' has shape ", shape_str(t.shape()),
                  ", parameter has ", shape_str(w.shape()));
    Tensor copy = Tensor::empty(w.shape(), w.dtype(), w.device());
    copy.copy_(t);
    if (kind == "momentum_buffer" || kind == "exp_avg") {
      s.buf1 = copy;
    } else if (kind == "exp_avg_sq") {
      s.buf2 = copy;
    } else {
      CUDASEG_FAIL("optimizer state: unknown entry kind '", kind, "' in '", key, "'");
    }
  }
  // A tensor dropped from a damaged checkpoint would silently restart its
  // parameter's momentum: every parameter that was stepped has the buffers
  // the others have, and the count matches the one saved.
  const bool any_buf1 = std::any_of(slots.begin(), slots.end(), [](const Slot& s) { return s.buf1.defined(); });
  const bool any_buf2 = std::any_of(slots.begin(), slots.end(), [](const Slot& s) { return s.buf2.defined(); });
  const bool adam = is_adam(config_.type);
  for (size_t i = 0; i < slots.size(); ++i) {
    const Slot& s = slots[i];
    const std::string& n = params_[i].name;
    const bool has_any = s.steps > 0 || s.buf1.defined() || s.buf2.defined();
    if (!has_any) continue;
    CUDASEG_CHECK(s.steps > 0, "optimizer state: 'step/", n, "' is missing");
    CUDASEG_CHECK(!any_buf1 || s.buf1.defined(), "optimizer state: '", adam ? "exp_avg/" : "momentum_buffer/", n,
                  "' is missing");
    CUDASEG_CHECK(!any_buf2 || s.buf2.defined(), "optimizer state: 'exp_avg_sq/", n, "' is missing");
  }
  if (hyper.contains("state_tensors")) {
    const size_t saved = hyper["state_tensors"].get<size_t>();
    CUDASEG_CHECK(saved == state.size(), "optimizer state: ", saved, " tensors were saved, ", state.size(),
                  " are present (some were removed)");
  }
  slots_ = std::move(slots);
  lr_ = hyper.value("lr", lr_);
  if (hyper.contains("momentum")) config_.momentum = hyper["momentum"].get<double>();
  if (hyper.contains("beta1")) config_.beta1 = hyper["beta1"].get<double>();
}

}  // namespace cudaseg::train
