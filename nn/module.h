// Module: the counterpart of torch.nn.Module. A module owns named parameters,
// buffers and child modules in registration order, so state_dict() yields
// exactly the keys and order of the upstream PyTorch module
// ("backbone.layer1.0.bn1.running_var"): a module's own parameters, then its
// buffers, then each child's entries under "child_name.".
//
// Calling convention: nets call their children as (*child)(x), never
// child->forward(x). operator() is the one place a call can be observed
// (ForwardHook: layer dumps, per-layer timing, MAC counting) and where a
// module folded into its predecessor (set_bypassed) is skipped; a child
// called through forward() directly is invisible to hooks.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "runtime/tensor.h"

namespace cudaseg::nn {

class Module;
using ModulePtr = std::shared_ptr<Module>;

// A conv -> BatchNorm2d [-> activation] run that a module executes back to
// back in its forward, each output feeding only the next module, so the
// BatchNorm (and the activation) can be folded into the convolution for
// inference (nn/fuse.h). `act`, when set, is the module that takes the
// BatchNorm's output next; it is fused only when it is (or only wraps) an
// activation nn/fuse.h supports. The bn and act objects must serve only
// this chain: a ReLU module shared by several call sites would be bypassed at
// all of them.
struct FusableChain {
  ModulePtr conv, bn, act;
};

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
  // forward(x) (or x itself when bypassed), then reports the call to this
  // thread's ForwardHook, if any. Not virtual: override forward().
  Tensor operator()(const Tensor& x);

  // A bypassed module returns its input: its effect has been folded into the
  // module before it (nn/fuse.h). BatchNorm2d and the activations also
  // honour it in forward(), for nets that still call them directly.
  void set_bypassed(bool on) { bypassed_ = on; }
  bool bypassed() const { return bypassed_; }
  // The chains of this module's own forward that may be fused; nets whose
  // forward runs conv -> bn [-> act] outside a Sequential override this.
  virtual std::vector<FusableChain> fusable_chains() const { return {}; }

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
  bool bypassed_ = false;
};

// Observes the calls made through Module::operator() on one thread: before()
// as the call starts, after() with its output (before any later op can touch
// it). Modules called inside a module's forward report in between.
class ForwardHook {
 public:
  virtual ~ForwardHook() = default;
  virtual void before(const Module& module, const Tensor& input) {
    (void)module;
    (void)input;
  }
  virtual void after(const Module& module, const Tensor& input, const Tensor& output) = 0;
};

// Installs `hook` on this thread for the guard's lifetime (the previous one,
// if any, is suspended and restored afterwards).
class ForwardHookGuard {
 public:
  explicit ForwardHookGuard(ForwardHook* hook);
  ~ForwardHookGuard();
  ForwardHookGuard(const ForwardHookGuard&) = delete;
  ForwardHookGuard& operator=(const ForwardHookGuard&) = delete;

 private:
  ForwardHook* previous_;
};

// The hook installed on this thread, or null.
ForwardHook* active_forward_hook();

// Runs children in order (torch.nn.Sequential); children are named "0", "1", ...
class Sequential : public Module {
 public:
  Sequential() : Module("Sequential") {}
  explicit Sequential(const std::vector<ModulePtr>& modules);
  Sequential& push_back(ModulePtr module);
  size_t size() const { return named_children().size(); }
  ModulePtr operator[](size_t i) const;
  Tensor forward(const Tensor& x) override;
  // Consecutive Conv2d, BatchNorm2d [, Activation] children (plain Sequential only:
  // a subclass with its own forward declares its chains itself).
  std::vector<FusableChain> fusable_chains() const override;
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
