// ForwardHooks (nn/module.h) for inspecting a net at inference: module
// names, per-layer output statistics in the format of
// tools/goldens/dump_layers.py, full outputs of chosen layers, per-layer
// timing and MAC counting. They see every module called through
// Module::operator() or observed_call(), whatever its signature.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "nn/module.h"

namespace cudaseg::nn {

// Dotted module paths under `root` ("backbone.layer1.0"; "" for the root).
// A module reachable under two paths keeps the first in registration order.
std::unordered_map<const nn::Module*, std::string> module_names(const nn::Module& root);

// dump_layers.py's tensor_stats, summed in double.
struct TensorStats {
  Shape shape;
  double sum = 0, abs_sum = 0, sq_sum = 0;
};
TensorStats tensor_stats(const Tensor& t);

struct LayerRecord {
  std::string name;
  int64_t call = 0;  // 0 for a module's first call, 1 for its second, ...
  std::string type;
  std::vector<TensorStats> outputs;
};

// Records every named module's outputs (the root excluded) in call order, all
// the tensors of a module returning several, and keeps a full copy of the
// output of the modules in `capture` (first call; the first tensor of several,
// or, captured as "NAME#K", its K-th from 0: a backbone's feature maps).
class LayerRecorder : public nn::ForwardHook {
 public:
  explicit LayerRecorder(const nn::Module& root, std::set<std::string> capture = {}, bool stats = true);
  void after(const nn::Module& module, const std::vector<Tensor>& inputs,
             const std::vector<Tensor>& outputs) override;
  const std::vector<LayerRecord>& records() const { return records_; }
  // Captured outputs by name (float32, on the CPU); a name never called is absent.
  const std::map<std::string, Tensor>& captured() const { return captured_; }

 private:
  std::unordered_map<const nn::Module*, std::string> names_;
  std::set<std::string> capture_;
  bool stats_;
  std::map<std::string, int64_t> calls_;
  std::vector<LayerRecord> records_;
  std::map<std::string, Tensor> captured_;
};

// Wall time of every named module's calls, inclusive of its children. CUDA
// work is synchronised at each boundary, which serialises the device: use it
// to rank layers, not to measure the whole net.
class LayerTimer : public nn::ForwardHook {
 public:
  explicit LayerTimer(const nn::Module& root);
  void before(const nn::Module& module, const std::vector<Tensor>& inputs) override;
  void after(const nn::Module& module, const std::vector<Tensor>& inputs,
             const std::vector<Tensor>& outputs) override;
  struct Entry {
    std::string name, type;
    int depth = 0;  // number of dots + 1
    int64_t calls = 0;
    double total_ms = 0;
  };
  // Modules in order of their first call's start (a parent before its children).
  std::vector<Entry> entries() const;
  void reset();

 private:
  std::unordered_map<const nn::Module*, std::string> names_;
  std::vector<std::chrono::steady_clock::time_point> starts_;
  std::map<std::string, size_t> index_;
  std::vector<Entry> entries_;
};

// Multiply-accumulates of Conv2d, ConvTranspose2d and Linear calls (attention
// matmuls and elementwise ops are not counted), and how many of the tree's
// such modules were reached, so an undercount is visible.
class MacCounter : public nn::ForwardHook {
 public:
  explicit MacCounter(const nn::Module& root);
  void after(const nn::Module& module, const std::vector<Tensor>& inputs,
             const std::vector<Tensor>& outputs) override;
  int64_t macs() const { return macs_; }
  int64_t counted_modules() const { return static_cast<int64_t>(seen_.size()); }
  int64_t total_modules() const { return total_; }

 private:
  int64_t macs_ = 0;
  int64_t total_ = 0;
  std::set<const nn::Module*> seen_;
};

}  // namespace cudaseg::nn
