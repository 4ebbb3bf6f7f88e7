#include "nn/fuse.h"

#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <typeinfo>

#include "autograd/arith.h"
#include "autograd/engine.h"
#include "nn/hooks.h"

namespace cudaseg::nn {
namespace {

using nn::ActKind;

bool argument_free(ActKind kind) {
  switch (kind) {
    case ActKind::relu:
    case ActKind::relu6:
    case ActKind::silu:
    case ActKind::hardswish:
    case ActKind::hardsigmoid:
    case ActKind::sigmoid:
    case ActKind::tanh:
    case ActKind::gelu:
    case ActKind::gelu_tanh:
    case ActKind::selu:
      return true;
    default:
      return false;
  }
}

std::function<Tensor(const Tensor&)> make_epilogue(ActKind kind) {
  auto act = std::make_shared<nn::Activation>(kind);
  return [act](const Tensor& y) { return act->forward(y); };
}

// The innermost module of `module` through parameter-free single-child
// wrappers (zh320's Activation wraps nn::Activation or nn::PReLU).
nn::Module* leaf_of(nn::Module& module) {
  nn::Module* m = &module;
  while (true) {
    if (dynamic_cast<nn::Activation*>(m) || dynamic_cast<nn::PReLU*>(m)) return m;
    const auto children = m->named_children();
    if (children.size() != 1 || !m->named_parameters(false).empty() || !m->named_buffers(false).empty())
      return m;
    m = children[0].second.get();
  }
}

// What a Conv2d applies as it stores its output, for the activation module
// `leaf`: relu, relu6, GELU (erf form), or a PReLU with one slope or one per channel.
std::optional<ops::ConvAct> store_act(nn::Module& leaf, int64_t out_channels) {
  if (auto* prelu = dynamic_cast<nn::PReLU*>(&leaf)) {
    const int64_t n = prelu->weight.numel();
    if (n != 1 && n != out_channels) return std::nullopt;
    return ops::ConvAct{prelu->weight};
  }
  auto* act = dynamic_cast<nn::Activation*>(&leaf);
  if (act && act->kind() == ActKind::relu) return ops::ConvAct{Tensor(), 0.0, INFINITY};
  if (act && act->kind() == ActKind::relu6) return ops::ConvAct{Tensor(), 0.0, 6.0};
  if (act && act->kind() == ActKind::gelu) return ops::ConvAct{Tensor(), -INFINITY, INFINITY, true};
  return std::nullopt;
}

void collect_chains(nn::Module& m, std::vector<nn::FusableChain>& out) {
  for (const auto& c : m.fusable_chains()) out.push_back(c);
  for (const auto& [name, child] : m.named_children()) collect_chains(*child, out);
}

// Scales each output channel c of a weight by s[c] and maps its bias b[c] to
// (b[c] - mean[c]) * s[c] + beta[c], with s = gamma / sqrt(var + eps): the
// BatchNorm that followed, folded in. `channel_of(i)` is the output channel of
// weight element i (the layouts of Conv2d and ConvTranspose2d differ).
template <typename ChannelOf>
void fold_into(Module& conv, Tensor& weight, Tensor& bias, int64_t out, const nn::BatchNorm2d& bn,
               ChannelOf channel_of) {
  const std::vector<double> mean = bn.running_mean.to_vector(), var = bn.running_var.to_vector();
  const std::vector<double> gamma = bn.weight.defined() ? bn.weight.to_vector() : std::vector<double>(out, 1.0);
  const std::vector<double> beta = bn.bias.defined() ? bn.bias.to_vector() : std::vector<double>(out, 0.0);
  std::vector<double> w = weight.to_vector();
  std::vector<double> b = bias.defined() ? bias.to_vector() : std::vector<double>(out, 0.0);
  std::vector<double> s(out);
  for (int64_t c = 0; c < out; ++c) {
    s[c] = gamma[c] / std::sqrt(var[c] + bn.eps());
    b[c] = (b[c] - mean[c]) * s[c] + beta[c];
  }
  for (size_t i = 0; i < w.size(); ++i) w[i] *= s[channel_of(static_cast<int64_t>(i))];
  autograd::NoGradGuard no_grad;
  weight.copy_(Tensor::from_vector(w, weight.shape(), DType::f64));
  const Tensor new_bias = Tensor::from_vector(b, {out}, DType::f64);
  if (bias.defined()) {
    bias.copy_(new_bias);
  } else {
    bias = conv.register_buffer("bias", new_bias.to(weight.device(), weight.dtype()), false);
  }
}

// Conv2d weight [out, in/groups, kh, kw]: channel-major.
void fold(nn::Conv2d& conv, const nn::BatchNorm2d& bn) {
  const int64_t out = conv.out_channels(), per_channel = conv.weight.numel() / out;
  fold_into(conv, conv.weight, conv.bias, out, bn, [per_channel](int64_t i) { return i / per_channel; });
}

// ConvTranspose2d weight [in, out/groups, kh, kw]: input channel ci of group
// ci / (in/groups) feeds output channels group * (out/groups) + j.
void fold(nn::ConvTranspose2d& conv, const nn::BatchNorm2d& bn) {
  const int64_t out = conv.out_channels(), in = conv.weight.size(0);
  const int64_t out_per_group = conv.weight.size(1), in_per_group = in / conv.groups();
  const int64_t kernel = conv.weight.numel() / (in * out_per_group);
  fold_into(conv, conv.weight, conv.bias, out, bn, [=](int64_t i) {
    const int64_t ci = i / (out_per_group * kernel), j = i / kernel % out_per_group;
    return ci / in_per_group * out_per_group + j;
  });
}

}  // namespace

nn::Activation* activation_leaf(nn::Module& module) { return dynamic_cast<nn::Activation*>(leaf_of(module)); }

Tensor activate_sum(nn::Module& act, const Tensor& a, const Tensor& b) {
  const bool plain = a.defined() && b.defined() && a.dim() >= 2 && a.shape() == b.shape() &&
                     a.dtype() == b.dtype() && a.device() == b.device() && !act.bypassed() &&
                     nn::active_forward_hook() == nullptr && !act.is_training();
  // act itself, or a BatchNorm2d (running statistics) and then act, the two
  // children of a plain Sequential (ERFNet's bn_act).
  nn::BatchNorm2d* bn = nullptr;
  nn::Module* leaf = plain ? leaf_of(act) : nullptr;
  if (plain && typeid(act) == typeid(nn::Sequential)) {
    const auto children = act.named_children();
    bn = children.size() == 2 ? dynamic_cast<nn::BatchNorm2d*>(children[0].second.get()) : nullptr;
    leaf = bn && !bn->bypassed() && !bn->is_training() && bn->running_mean.defined() ? leaf_of(*children[1].second)
                                                                                          : nullptr;
  }
  if (leaf && !leaf->bypassed()) {
    std::optional<ops::ConvAct> fused = store_act(*leaf, a.size(1));
    const bool grad = autograd::grad_mode_enabled() &&
                      (a.requires_grad() || b.requires_grad() ||
                       (fused && fused->slope.defined() && fused->slope.requires_grad()) ||
                       (bn && ((bn->weight.defined() && bn->weight.requires_grad()) ||
                               (bn->bias.defined() && bn->bias.requires_grad()))));
    if (fused && !fused->gelu && !grad) {
      if (fused->slope.defined()) fused->slope = fused->slope.to(a.device(), a.dtype());
      if (!bn) return ops::add_act(a, b, *fused);
      return ops::add_batch_norm_act(a, b, bn->running_mean, bn->running_var, bn->weight, bn->bias, bn->eps(),
                                     *fused);
    }
  }
  return act(fn::add(a, b));
}

FuseReport fuse_for_inference(nn::Module& root, const FuseOptions& options) {
  FuseReport report;
  if (!options.fold_batchnorm) return report;
  std::vector<nn::FusableChain> chains;
  collect_chains(root, chains);
  if (chains.empty()) return report;
  const auto names = module_names(root);
  auto name_of = [&](const nn::ModulePtr& m) {
    auto it = names.find(m.get());
    return it == names.end() ? m->type_name() : it->second;
  };
  // An activation module may be named by several chains (one module applied
  // after several convolutions): it is bypassed only when every chain that
  // names it takes it, or one of its uses would lose it.
  struct Candidate {
    nn::Conv2d* conv;
    std::optional<ops::ConvAct> store;
    ActKind kind;
  };
  std::map<nn::Module*, std::vector<Candidate>> candidates;
  std::map<nn::Module*, int64_t> uses;
  std::map<nn::Module*, std::string> act_names;
  std::set<const nn::Module*> used;
  for (const auto& chain : chains) {
    nn::Module* leaf = chain.act ? leaf_of(*chain.act) : nullptr;
    if (leaf) {
      ++uses[leaf];
      act_names.emplace(leaf, name_of(chain.act));
    }
    CUDASEG_CHECK(chain.conv, root.type_name(), ": a fusable chain needs a conv");
    auto* conv = dynamic_cast<nn::Conv2d*>(chain.conv.get());
    auto* tconv = dynamic_cast<nn::ConvTranspose2d*>(chain.conv.get());
    if (chain.bn) {
      auto* bn = dynamic_cast<nn::BatchNorm2d*>(chain.bn.get());
      const std::string where = name_of(chain.conv) + " -> " + name_of(chain.bn);
      CUDASEG_CHECK((conv || tconv) && bn, root.type_name(), ": fusable chain ", where,
                    " is not Conv2d or ConvTranspose2d -> BatchNorm2d (", chain.conv->type_name(), " -> ",
                    chain.bn->type_name(), ")");
      if (bn->bypassed() || used.count(chain.conv.get()) || used.count(bn)) continue;
      CUDASEG_CHECK(!bn->is_training(), "fuse_for_inference: ", name_of(chain.bn),
                    " is in training mode; call eval() first");
      if (!bn->running_mean.defined() || !bn->running_var.defined()) {
        report.skipped.push_back(where + ": BatchNorm2d uses batch statistics");
        continue;
      }
      const int64_t out_channels = conv ? conv->out_channels() : tconv->out_channels();
      CUDASEG_CHECK(bn->running_mean.numel() == out_channels, "fuse_for_inference: ", where, ": ", out_channels,
                    " conv channels but ", bn->running_mean.numel(), " BatchNorm features");
      if (conv && (conv->epilogue || conv->act)) {
        report.skipped.push_back(where + ": the convolution already has an activation fused");
        continue;
      }
      if (conv) fold(*conv, *bn);
      else fold(*tconv, *bn);
      bn->set_bypassed(true);
      used.insert(bn);
      ++report.folded_batchnorms;
    } else {
      CUDASEG_CHECK(conv, root.type_name(), ": a fusable chain without BatchNorm must start at a Conv2d, not ",
                    chain.conv->type_name());
      if (used.count(conv) || conv->epilogue || conv->act) continue;
    }
    used.insert(chain.conv.get());

    // Transposed convolutions have no epilogue: their activation stays a layer.
    if (!conv || !options.fuse_activations || !leaf || leaf->bypassed()) continue;
    if (auto act = store_act(*leaf, conv->out_channels())) {
      candidates[leaf].push_back({conv, std::move(act), ActKind::relu});
    } else if (auto* a = dynamic_cast<nn::Activation*>(leaf)) {
      if (!argument_free(a->kind())) {
        report.skipped.push_back(name_of(chain.act) + ": activation with arguments stays separate");
        continue;
      }
      candidates[leaf].push_back({conv, std::nullopt, a->kind()});
    }
  }
  for (auto& [leaf, list] : candidates) {
    if (static_cast<int64_t>(list.size()) != uses[leaf]) {
      report.skipped.push_back(act_names[leaf] + ": applied after " + std::to_string(uses[leaf]) +
                               " convolutions, of which only " + std::to_string(list.size()) + " can take it");
      continue;
    }
    for (auto& c : list) {
      if (c.store) c.conv->act = std::move(c.store);
      else c.conv->epilogue = make_epilogue(c.kind);
    }
    leaf->set_bypassed(true);
    report.fused_activations += static_cast<int64_t>(list.size());
  }
  return report;
}

}  // namespace cudaseg::nn
