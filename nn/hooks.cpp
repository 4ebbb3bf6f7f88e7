#include "nn/hooks.h"

#include <algorithm>
#include <cmath>

#include "nn/layers.h"
#include "runtime/gpu.h"

namespace cudaseg::nn {
namespace {

void walk(const nn::Module& m, const std::string& prefix, std::unordered_map<const nn::Module*, std::string>& out) {
  if (!out.emplace(&m, prefix).second) return;
  for (const auto& [name, child] : m.named_children())
    walk(*child, prefix.empty() ? name : prefix + "." + name, out);
}

void sync_if_cuda(const std::vector<Tensor>& ts) {
  for (const Tensor& t : ts)
    if (t.defined() && t.device().is_cuda()) gpu::synchronize(t.device().index);
}

}  // namespace

std::unordered_map<const nn::Module*, std::string> module_names(const nn::Module& root) {
  std::unordered_map<const nn::Module*, std::string> out;
  walk(root, "", out);
  return out;
}

TensorStats tensor_stats(const Tensor& t) {
  TensorStats s;
  s.shape = t.shape();
  for (double v : t.to_vector()) {
    s.sum += v;
    s.abs_sum += std::fabs(v);
    s.sq_sum += v * v;
  }
  return s;
}

// ---------------------------------------------------------------- LayerRecorder

LayerRecorder::LayerRecorder(const nn::Module& root, std::set<std::string> capture, bool stats)
    : names_(module_names(root)), capture_(std::move(capture)), stats_(stats) {}

void LayerRecorder::after(const nn::Module& module, const std::vector<Tensor>&, const std::vector<Tensor>& outputs) {
  auto it = names_.find(&module);
  if (it == names_.end() || it->second.empty()) return;
  const std::string& name = it->second;
  const int64_t call = calls_[name]++;
  // A copy: later in-place work (a fused epilogue) must not change what was captured.
  if (capture_.count(name) && call == 0 && !outputs.empty())
    captured_[name] = outputs[0].to(Device::cpu(), DType::f32).clone();
  for (size_t k = 1; call == 0 && k < outputs.size(); ++k) {
    const std::string key = name + "#" + std::to_string(k);
    if (capture_.count(key)) captured_[key] = outputs[k].to(Device::cpu(), DType::f32).clone();
  }
  if (!stats_) return;
  LayerRecord record{name, call, module.type_name(), {}};
  for (const Tensor& t : outputs) record.outputs.push_back(tensor_stats(t));
  records_.push_back(std::move(record));
}

// ---------------------------------------------------------------- LayerTimer

LayerTimer::LayerTimer(const nn::Module& root) : names_(module_names(root)) {}

void LayerTimer::before(const nn::Module& module, const std::vector<Tensor>& inputs) {
  auto it = names_.find(&module);
  if (it != names_.end() && !it->second.empty() && index_.emplace(it->second, entries_.size()).second) {
    const auto depth = 1 + std::count(it->second.begin(), it->second.end(), '.');
    entries_.push_back({it->second, module.type_name(), static_cast<int>(depth), 0, 0.0});
  }
  sync_if_cuda(inputs);
  starts_.push_back(std::chrono::steady_clock::now());
}

void LayerTimer::after(const nn::Module& module, const std::vector<Tensor>&, const std::vector<Tensor>& outputs) {
  sync_if_cuda(outputs);
  const auto end = std::chrono::steady_clock::now();
  CUDASEG_CHECK(!starts_.empty(), "LayerTimer: a call ended that never started");
  const double ms = std::chrono::duration<double, std::milli>(end - starts_.back()).count();
  starts_.pop_back();
  auto it = names_.find(&module);
  if (it == names_.end() || it->second.empty()) return;
  Entry& e = entries_[index_.at(it->second)];
  ++e.calls;
  e.total_ms += ms;
}

std::vector<LayerTimer::Entry> LayerTimer::entries() const { return entries_; }

void LayerTimer::reset() {
  starts_.clear();
  index_.clear();
  entries_.clear();
}

// ---------------------------------------------------------------- MacCounter

MacCounter::MacCounter(const nn::Module& root) {
  for (const auto& [m, name] : module_names(root))
    if (dynamic_cast<const nn::Conv2d*>(m) || dynamic_cast<const nn::ConvTranspose2d*>(m) ||
        dynamic_cast<const nn::Linear*>(m))
      ++total_;
}

void MacCounter::after(const nn::Module& module, const std::vector<Tensor>& inputs,
                       const std::vector<Tensor>& outputs) {
  if (module.bypassed()) return;
  auto per_output = [](const Tensor& w) { return w.numel() / w.size(0); };
  // Conv2d, ConvTranspose2d and Linear take and return one tensor.
  if (auto* conv = dynamic_cast<const nn::Conv2d*>(&module)) {
    macs_ += outputs.at(0).numel() * per_output(conv->weight);
  } else if (auto* tconv = dynamic_cast<const nn::ConvTranspose2d*>(&module)) {
    macs_ += inputs.at(0).numel() * per_output(tconv->weight);
  } else if (auto* linear = dynamic_cast<const nn::Linear*>(&module)) {
    macs_ += outputs.at(0).numel() * linear->weight.size(1);
  } else {
    return;
  }
  seen_.insert(&module);
}

}  // namespace cudaseg::nn
