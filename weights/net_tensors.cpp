#include "weights/net_tensors.h"

#include <algorithm>

#include "autograd/engine.h"
#include "nn/layers.h"

namespace cudaseg::weights {

std::vector<TensorSpec> expected_tensors(const nn::Json& model) {
  autograd::NoGradGuard no_grad;
  const nn::ModulePtr net = nn::create_net(model);
  std::vector<TensorSpec> specs;
  for (const auto& [name, t] : net->state_dict()) specs.push_back({name, t.shape(), t.dtype()});
  return specs;
}

void check_against_net(const TensorDict& tensors, const nn::Json& model, const std::string& source) {
  const nn::Json resolved = nn::resolve_model_config(model);
  check_tensors(tensors, expected_tensors(resolved), source + " for net " + resolved.dump(), true);
}

TensorDict fold_state_aliases(const TensorDict& tensors, const nn::SegNet& net, const std::string& source) {
  const auto aliases = net.state_dict_aliases();
  if (aliases.empty()) return tensors;
  TensorDict out;
  for (const auto& [name, t] : tensors) {
    const auto alias = std::find_if(aliases.begin(), aliases.end(), [&name = name](const auto& a) {
      return name.compare(0, a.first.size(), a.first) == 0;
    });
    if (alias == aliases.end()) {
      out.insert(name, t);
      continue;
    }
    const std::string original = alias->second + name.substr(alias->first.size());
    const Tensor* o = tensors.find(original);
    CUDASEG_CHECK(o != nullptr, source, ": '", name, "' is an alias of '", original,
                  "' (the same upstream module registered twice), which is missing");
    CUDASEG_CHECK(o->dtype() == t.dtype() && o->shape() == t.shape() && contiguous_bytes(*o) == contiguous_bytes(t),
                  source, ": '", name, "' ", dtype_name(t.dtype()), " ", shape_str(t.shape()), " differs from '",
                  original, "' ", dtype_name(o->dtype()), " ", shape_str(o->shape()),
                  ", of which it is an alias (the same upstream module registered twice)");
  }
  return out;
}

TensorDict fold_state_aliases(const TensorDict& tensors, const nn::Json& model, const std::string& source) {
  autograd::NoGradGuard no_grad;
  nn::SkipInitGuard skip_init;
  return fold_state_aliases(tensors, *nn::create_net(model), source);
}

}  // namespace cudaseg::weights
