#include "nn/module.h"

#include <algorithm>
#include <sstream>
#include <typeinfo>

namespace cudaseg::nn {
namespace {

// Replaces the data behind every handle of `t` (the module's and any other
// holder's), so optimizers and views taken before a move see the new data.
void rebind(const Tensor& t, const Tensor& moved) {
  if (moved.is_same(t)) return;
  TensorImpl& impl = t.impl();
  impl.storage = moved.storage();
  impl.dtype = moved.dtype();
  impl.shape = moved.shape();
  impl.strides = moved.strides();
  impl.offset = moved.offset();
  impl.grad.reset();
}

std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

thread_local ForwardHook* current_hook = nullptr;

}  // namespace

ForwardHookGuard::ForwardHookGuard(ForwardHook* hook) : previous_(current_hook) { current_hook = hook; }
ForwardHookGuard::~ForwardHookGuard() { current_hook = previous_; }
ForwardHook* active_forward_hook() { return current_hook; }

Tensor Module::operator()(const Tensor& x) {
  return observed_call({x}, [&] { return bypassed_ ? x : forward(x); });
}

Tensor Module::forward(const Tensor&) {
  CUDASEG_FAIL(type_name_, ": has no single-tensor forward; call its own forward method");
}

void Module::check_new_name(const std::string& name) const {
  CUDASEG_CHECK(!name.empty() && name.find('.') == std::string::npos, type_name_,
                ": invalid attribute name '", name, "' (non-empty, no '.')");
  auto taken = [&](const std::vector<Entry>& v) {
    return std::any_of(v.begin(), v.end(), [&](const Entry& e) { return e.name == name; });
  };
  const bool child = std::any_of(children_.begin(), children_.end(), [&](const auto& c) { return c.first == name; });
  CUDASEG_CHECK(!taken(params_) && !taken(buffers_) && !child, type_name_, ": attribute '", name,
                "' registered twice");
}

Tensor Module::register_parameter(const std::string& name, Tensor value) {
  check_new_name(name);
  CUDASEG_CHECK(value.defined(), type_name_, ": parameter '", name, "' is undefined");
  if (is_floating(value.dtype())) value.set_requires_grad(true);
  params_.push_back({name, value, true});
  return value;
}

Tensor Module::register_buffer(const std::string& name, Tensor value, bool persistent) {
  check_new_name(name);
  CUDASEG_CHECK(value.defined(), type_name_, ": buffer '", name, "' is undefined");
  buffers_.push_back({name, value, persistent});
  return value;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> child) {
  check_new_name(name);
  CUDASEG_CHECK(child != nullptr, type_name_, ": child module '", name, "' is null");
  children_.emplace_back(name, std::move(child));
}

void Module::collect(const std::string& prefix, bool params, bool buffers, bool persistent_only, bool recurse,
                     NamedTensors& out) const {
  if (params)
    for (const Entry& e : params_) out.emplace_back(join(prefix, e.name), e.tensor);
  if (buffers)
    for (const Entry& e : buffers_)
      if (e.persistent || !persistent_only) out.emplace_back(join(prefix, e.name), e.tensor);
  if (!recurse) return;
  for (const auto& [name, child] : children_)
    child->collect(join(prefix, name), params, buffers, persistent_only, true, out);
}

NamedTensors Module::named_parameters(bool recurse) const {
  NamedTensors out;
  collect("", true, false, false, recurse, out);
  return out;
}

NamedTensors Module::named_buffers(bool recurse) const {
  NamedTensors out;
  collect("", false, true, false, recurse, out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_parameters()) out.push_back(t);
  return out;
}

NamedTensors Module::state_dict() const {
  NamedTensors out;
  collect("", true, true, true, true, out);
  return out;
}

Tensor Module::get(const std::string& name) const {
  NamedTensors all;
  collect("", true, true, false, true, all);
  for (auto& [n, t] : all)
    if (n == name) return t;
  std::ostringstream near;
  const std::string stem = name.substr(0, name.rfind('.') == std::string::npos ? 0 : name.rfind('.'));
  int shown = 0;
  for (auto& [n, t] : all)
    if (!stem.empty() && n.rfind(stem, 0) == 0 && shown++ < 8) near << " " << n;
  CUDASEG_FAIL(type_name_, ": no parameter or buffer named '", name, "'",
               shown ? "; near names:" + near.str() : std::string());
}

void Module::load_state_dict(const std::map<std::string, Tensor>& state, bool strict) {
  std::vector<std::string> missing, unexpected, mismatched;
  const NamedTensors own = state_dict();
  std::map<std::string, Tensor> own_map(own.begin(), own.end());
  for (const auto& [name, t] : own) {
    auto it = state.find(name);
    if (it == state.end()) {
      missing.push_back(name + " " + shape_str(t.shape()));
    } else if (it->second.shape() != t.shape()) {
      mismatched.push_back(name + ": checkpoint " + shape_str(it->second.shape()) + ", model " +
                           shape_str(t.shape()));
    }
  }
  for (const auto& [name, t] : state)
    if (!own_map.count(name)) unexpected.push_back(name + " " + shape_str(t.shape()));

  if (!mismatched.empty() || (strict && (!missing.empty() || !unexpected.empty()))) {
    std::ostringstream os;
    os << "load_state_dict for " << type_name_ << ":";
    auto list = [&](const char* what, const std::vector<std::string>& v) {
      if (v.empty()) return;
      os << "\n  " << v.size() << " " << what << ":";
      for (const auto& s : v) os << "\n    " << s;
    };
    list("missing", strict ? missing : std::vector<std::string>{});
    list("unexpected", strict ? unexpected : std::vector<std::string>{});
    list("mis-shaped", mismatched);
    CUDASEG_FAIL(os.str());
  }
  for (const auto& [name, t] : own) {
    auto it = state.find(name);
    if (it == state.end()) continue;
    Tensor dst = t;
    dst.copy_(it->second);
  }
}

void Module::train(bool on) {
  training_ = on;
  on_train(on);
  for (auto& [name, child] : children_) child->train(on);
}

void Module::to(Device device) {
  NamedTensors all;
  collect("", true, true, false, true, all);
  for (auto& [name, t] : all) rebind(t, t.to(device));
}

void Module::to(DType dtype) {
  NamedTensors all;
  collect("", true, true, false, true, all);
  for (auto& [name, t] : all)
    if (is_floating(t.dtype())) rebind(t, t.to(dtype));
}

// ---------------------------------------------------------------- containers

Sequential::Sequential(const std::vector<ModulePtr>& modules) : Sequential() {
  for (const auto& m : modules) push_back(m);
}

Sequential& Sequential::push_back(ModulePtr module) {
  register_module(std::to_string(size()), std::move(module));
  return *this;
}

ModulePtr Sequential::operator[](size_t i) const {
  CUDASEG_CHECK(i < size(), "Sequential: index ", i, " out of range (size ", size(), ")");
  return named_children()[i].second;
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (const auto& [name, child] : named_children()) {
    try {
      y = (*child)(y);
    } catch (const Error& e) {
      throw e.with_context(name + " (" + child->type_name() + ")");
    }
  }
  return y;
}

std::vector<FusableChain> Sequential::fusable_chains() const {
  if (typeid(*this) != typeid(Sequential)) return {};
  std::vector<FusableChain> chains;
  const auto& c = named_children();
  for (size_t i = 0; i + 1 < c.size(); ++i) {
    const std::string& conv = c[i].second->type_name();
    if (conv == "Conv2d" && c[i + 1].second->type_name() != "BatchNorm2d") {
      chains.push_back({c[i].second, nullptr, c[i + 1].second});
      continue;
    }
    if ((conv != "Conv2d" && conv != "ConvTranspose2d") || c[i + 1].second->type_name() != "BatchNorm2d") continue;
    FusableChain chain{c[i].second, c[i + 1].second, nullptr};
    if (i + 2 < c.size()) chain.act = c[i + 2].second;
    chains.push_back(chain);
  }
  return chains;
}

ModuleList::ModuleList(const std::vector<ModulePtr>& modules) : ModuleList() {
  for (const auto& m : modules) push_back(m);
}

ModuleList& ModuleList::push_back(ModulePtr module) {
  register_module(std::to_string(size()), std::move(module));
  return *this;
}

ModulePtr ModuleList::operator[](size_t i) const {
  CUDASEG_CHECK(i < size(), "ModuleList: index ", i, " out of range (size ", size(), ")");
  return named_children()[i].second;
}

}  // namespace cudaseg::nn
