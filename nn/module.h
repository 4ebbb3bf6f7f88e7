// Module: the counterpart of torch.nn.Module. A module owns named parameters,
// buffers and child modules in registration order, so state_dict() yields
// exactly the keys and order of the upstream PyTorch module
// ("backbone.layer1.0.bn1.running_var"): a module's own parameters, then its
// buffers, then each child's entries under "child_name.".
//
// Calling convention: nets call their children as (*child)(x), never
// child->forward(x). operator() reports the call to the thread's ForwardHook
// (layer dumps, per-layer timing, MAC counting) and skips a module folded
// into its predecessor (set_bypassed). A forward with another signature
// (several tensors in or out, extra arguments) wraps its body in
// observed_call(), which reports it the same way; a child called through
// forward() directly is invisible to hooks.
#pragma once

#include <array>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "runtime/tensor.h"

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg::nn {

class Module;
using ModulePtr = std::shared_ptr<Module>;

// A conv -> BatchNorm2d [-> activation] run that a module executes back to
// back in its forward, each output feeding only the next module, so the
// BatchNorm (and the activation) can be folded into the convolution for
// inference (nn/fuse.h); or, with `bn` null, a Conv2d -> activation run.
// `act`, when set, is the module that takes the BatchNorm's (or the conv's)
// output next; it is fused only when it is (or only wraps) an activation
// nn/fuse.h supports. The bn object must serve only this chain. An act
// module that the forward applies at several call sites must be named by a
// chain at every one of them (it is bypassed at all of them, and fused only
// when every chain takes it).
struct FusableChain {
  ModulePtr conv, bn, act;
};

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class ForwardHook;
// The hook installed on this thread, or null.
ForwardHook* active_forward_hook();

class Module : public std::enable_shared_from_this<Module> {
 public:
  explicit Module(std::string type_name) : type_name_(std::move(type_name)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The single-tensor forward of most layers; modules with other signatures
  // offer their own methods and leave this one throwing.
  virtual Tensor forward(const Tensor& x);
  // forward(x) (or x itself when bypassed), reported to this thread's
  // ForwardHook, if any. Not virtual: override forward().
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

  // Runs `body` as one call of this module, reported to this thread's
  // ForwardHook as operator() reports forward(): the body of every forward
  // with another signature, so that PyTorch's hooks on the upstream module
  // and ours see the same calls. `inputs` are the call's tensor arguments;
  // `body` returns a Tensor, a std::pair or std::array of them or a
  // std::vector, and the hook gets every returned tensor in order (as a
  // PyTorch hook gets a returned tuple).
  template <typename Body>
  auto observed_call(std::initializer_list<Tensor> inputs, Body&& body) const -> decltype(body()) {
    return observe(inputs, body);
  }
  template <typename Body>
  auto observed_call(const std::vector<Tensor>& inputs, Body&& body) const -> decltype(body()) {
    return observe(inputs, body);
  }

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
  template <typename Inputs, typename Body>
  auto observe(const Inputs& inputs, Body& body) const -> decltype(body());

  std::string type_name_;
  std::vector<Entry> params_;
  std::vector<Entry> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
  bool bypassed_ = false;
};

// Observes the module calls of one thread (Module::operator() and
// observed_call): before() as a call starts, after() with its outputs
// (before any later op can touch them). Modules called inside a module's
// forward report in between. `inputs` are the call's tensor arguments,
// `outputs` every tensor it returned, in order.
class ForwardHook {
 public:
  virtual ~ForwardHook() = default;
  virtual void before(const Module& module, const std::vector<Tensor>& inputs) {
    (void)module;
    (void)inputs;
  }
  virtual void after(const Module& module, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs) = 0;
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

namespace detail {
inline void append_outputs(std::vector<Tensor>& out, const Tensor& t) { out.push_back(t); }
inline void append_outputs(std::vector<Tensor>& out, const std::vector<Tensor>& ts) {
  out.insert(out.end(), ts.begin(), ts.end());
}
template <size_t N>
void append_outputs(std::vector<Tensor>& out, const std::array<Tensor, N>& ts) {
  out.insert(out.end(), ts.begin(), ts.end());
}
inline void append_outputs(std::vector<Tensor>& out, const std::pair<Tensor, Tensor>& ts) {
  out.push_back(ts.first);
  out.push_back(ts.second);
}
}  // namespace detail

// The inputs are gathered into a vector only under a hook: unobserved, a call
// costs the body alone.
template <typename Inputs, typename Body>
auto Module::observe(const Inputs& inputs, Body& body) const -> decltype(body()) {
  ForwardHook* hook = active_forward_hook();
  if (hook == nullptr) return body();
  const std::vector<Tensor> in(inputs.begin(), inputs.end());
  hook->before(*this, in);
  auto result = body();
  std::vector<Tensor> out;
  detail::append_outputs(out, result);
  hook->after(*this, in, out);
  return result;
}

// Runs children in order (torch.nn.Sequential); children are named "0", "1", ...
class Sequential : public Module {
 public:
  Sequential() : Module("Sequential") {}
  explicit Sequential(const std::vector<ModulePtr>& modules);
  Sequential& push_back(ModulePtr module);
  size_t size() const { return named_children().size(); }
  ModulePtr operator[](size_t i) const;
  Tensor forward(const Tensor& x) override;
  // Consecutive Conv2d or ConvTranspose2d, BatchNorm2d [, Activation] children (plain Sequential only:
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
CUDASEG_API_END
