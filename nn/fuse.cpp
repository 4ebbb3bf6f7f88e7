#include "nn/fuse.h"

#include <cmath>
#include <set>

#include "autograd/engine.h"
#include "nn/hooks.h"
#include "runtime/thread_pool.h"

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

// The convolution's output is a fresh tensor nobody else holds yet, so when
// no gradient is wanted relu and relu6 can overwrite it instead of
// allocating another one.
std::function<Tensor(const Tensor&)> make_epilogue(ActKind kind) {
  auto act = std::make_shared<nn::Activation>(kind);
  return [act, kind](const Tensor& y) -> Tensor {
    const bool in_place = (kind == ActKind::relu || kind == ActKind::relu6) && y.device().is_cpu() &&
                          y.dtype() == DType::f32 && y.is_contiguous() &&
                          !(autograd::grad_mode_enabled() && y.requires_grad());
    if (!in_place) return act->forward(y);
    float* p = y.data<float>();
    const float hi = kind == ActKind::relu6 ? 6.0f : INFINITY;
    // Compares rather than std::fmin/fmax: those are libm calls that do not
    // vectorise (they were half of FastSCNN's CPU time). NaN fails both tests
    // and passes through, as torch's relu lets it.
    parallel_for(0, y.numel(), 1 << 16, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const float v = p[i] < 0.0f ? 0.0f : p[i];
        p[i] = v > hi ? hi : v;
      }
    });
    y.storage()->bump_version();
    return y;
  };
}

void collect_chains(nn::Module& m, std::vector<nn::FusableChain>& out) {
  for (const auto& c : m.fusable_chains()) out.push_back(c);
  for (const auto& [name, child] : m.named_children()) collect_chains(*child, out);
}

// Writes the folded weight and bias into `conv`, keeping its device and dtype.
void fold(nn::Conv2d& conv, const nn::BatchNorm2d& bn) {
  const int64_t out = conv.out_channels();
  const std::vector<double> mean = bn.running_mean.to_vector(), var = bn.running_var.to_vector();
  const std::vector<double> gamma = bn.weight.defined() ? bn.weight.to_vector() : std::vector<double>(out, 1.0);
  const std::vector<double> beta = bn.bias.defined() ? bn.bias.to_vector() : std::vector<double>(out, 0.0);
  std::vector<double> w = conv.weight.to_vector();
  std::vector<double> b = conv.bias.defined() ? conv.bias.to_vector() : std::vector<double>(out, 0.0);
  const int64_t per_channel = static_cast<int64_t>(w.size()) / out;
  for (int64_t c = 0; c < out; ++c) {
    const double s = gamma[c] / std::sqrt(var[c] + bn.eps());
    for (int64_t i = 0; i < per_channel; ++i) w[c * per_channel + i] *= s;
    b[c] = (b[c] - mean[c]) * s + beta[c];
  }
  autograd::NoGradGuard no_grad;
  conv.weight.copy_(Tensor::from_vector(w, conv.weight.shape(), DType::f64));
  const Tensor new_bias = Tensor::from_vector(b, {out}, DType::f64);
  if (conv.bias.defined()) {
    conv.bias.copy_(new_bias);
  } else {
    conv.bias = conv.register_buffer("bias", new_bias.to(conv.weight.device(), conv.weight.dtype()), false);
  }
}

}  // namespace

nn::Activation* activation_leaf(nn::Module& module) {
  nn::Module* m = &module;
  while (m) {
    if (auto* act = dynamic_cast<nn::Activation*>(m)) return act;
    const auto children = m->named_children();
    if (children.size() != 1 || !m->named_parameters(false).empty() || !m->named_buffers(false).empty())
      return nullptr;
    m = children[0].second.get();
  }
  return nullptr;
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
  std::set<const nn::Module*> used;
  for (const auto& chain : chains) {
    CUDASEG_CHECK(chain.conv && chain.bn, root.type_name(), ": a fusable chain needs a conv and a bn");
    auto* conv = dynamic_cast<nn::Conv2d*>(chain.conv.get());
    auto* bn = dynamic_cast<nn::BatchNorm2d*>(chain.bn.get());
    const std::string where = name_of(chain.conv) + " -> " + name_of(chain.bn);
    CUDASEG_CHECK(conv && bn, root.type_name(), ": fusable chain ", where, " is not Conv2d -> BatchNorm2d (",
                  chain.conv->type_name(), " -> ", chain.bn->type_name(), ")");
    if (bn->bypassed() || used.count(conv) || used.count(bn)) continue;
    CUDASEG_CHECK(!bn->is_training(), "fuse_for_inference: ", name_of(chain.bn),
                  " is in training mode; call eval() first");
    if (!bn->running_mean.defined() || !bn->running_var.defined()) {
      report.skipped.push_back(where + ": BatchNorm2d uses batch statistics");
      continue;
    }
    CUDASEG_CHECK(bn->running_mean.numel() == conv->out_channels(), "fuse_for_inference: ", where, ": ",
                  conv->out_channels(), " conv channels but ", bn->running_mean.numel(), " BatchNorm features");
    if (conv->epilogue) {
      report.skipped.push_back(where + ": the convolution already has an epilogue");
      continue;
    }
    fold(*conv, *bn);
    bn->set_bypassed(true);
    used.insert(conv);
    used.insert(bn);
    ++report.folded_batchnorms;

    if (!options.fuse_activations || !chain.act) continue;
    nn::Activation* act = activation_leaf(*chain.act);
    if (!act || act->bypassed()) continue;
    if (!argument_free(act->kind())) {
      report.skipped.push_back(name_of(chain.act) + ": activation with arguments stays separate");
      continue;
    }
    conv->epilogue = make_epilogue(act->kind());
    act->set_bypassed(true);
    ++report.fused_activations;
  }
  return report;
}

}  // namespace cudaseg::nn
