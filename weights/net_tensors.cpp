#include "weights/net_tensors.h"

#include "autograd/engine.h"

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

}  // namespace cudaseg::weights
