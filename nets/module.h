// Module: the counterpart of torch.nn.Module. A module owns named parameters,
// buffers and child modules in registration order, so state_dict() yields
// exactly the keys and order of the upstream PyTorch module
// ("backbone.layer1.0.bn1.running_var"): a module's own parameters, then its
// buffers, then each child's entries under "child_name.".
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "runtime/tensor.h"

namespace cudaseg::nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Module : public std::enable_shared_from_this<Module> {
 public:
  explicit Module(std::string type_name) : type_name_(std::move(type_name)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The single-tensor forward of most layers; modules with other signatures
  // offer their own methods and leave this one throwing.
  virtual Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }

  const std::string& type_name() const { return type_name_; }

  // ---- registration (constructors call these, in upstream order) ----
  // Registers `value` as a trainable parameter (requires_grad set) and returns it.
  Tensor register_parameter(const std::string& name, Tensor value);
  // Registers a buffer (running stats, index tables); persistent ones are in state_dict.
  Tensor register_buffer(const std::string& name, Tensor value, bool persistent = true);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> child) {
    add_child(name, child);
    return child;
  }

  // ---- introspection (recursive names joined by '.') ----
  NamedTensors named_parameters(bool recurse = true) const;
  NamedTensors named_buffers(bool recurse = true) const;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const { return children_; }
  std::vector<Tensor> parameters() const;
  // Parameters and persistent buffers in PyTorch's state_dict order.
  NamedTensors state_dict() const;
  // The named parameter or buffer; throws listing close names when absent.
  Tensor get(const std::string& name) const;

  // Copies every tensor of `state` into the matching parameter or buffer
  // (converting dtype). When strict, missing, unexpected and mis-shaped
  // entries are all listed in one error naming this module's type; when not,
  // only mis-shaped entries are errors and the rest are skipped.
  void load_state_dict(const std::map<std::string, Tensor>& state, bool strict = true);

  // ---- mode and placement ----
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  // Moves every parameter and buffer, keeping the handles other code holds.
  void to(Device device);
  void to(DType dtype);  // floating parameters and buffers only

 protected:
  virtual void on_train(bool) {}

 private:
  struct Entry {
    std::string name;
    Tensor tensor;
    bool persistent = true;
  };
  void add_child(const std::string& name, std::shared_ptr<Module> child);
  void check_new_name(const std::string& name) const;
  void collect(const std::string& prefix, bool params, bool buffers, bool persistent_only, bool recurse,
               NamedTensors& out) const;

  std::string type_name_;
  std::vector<Entry> params_;
  std::vector<Entry> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

using ModulePtr = std::shared_ptr<Module>;

// Runs children in order (torch.nn.Sequential); children are named "0", "1", ...
class Sequential : public Module {
 public:
  Sequential() : Module("Sequential") {}
  explicit Sequential(const std::vector<ModulePtr>& modules);
  Sequential& push_back(ModulePtr module);
  size_t size() const { return named_children().size(); }
  ModulePtr operator[](size_t i) const;
  Tensor forward(const Tensor& x) override;
};

// Holds children named "0", "1", ... with no forward of its own (torch.nn.ModuleList).
class ModuleList : public Module {
 public:
  ModuleList() : Module("ModuleList") {}
  explicit ModuleList(const std::vector<ModulePtr>& modules);
  ModuleList& push_back(ModulePtr module);
  size_t size() const { return named_children().size(); }
  ModulePtr operator[](size_t i) const;
};

// Identity (torch.nn.Identity): returns its input.
class Identity : public Module {
 public:
  Identity() : Module("Identity") {}
  Tensor forward(const Tensor& x) override { return x; }
};

}  // namespace cudaseg::nn
