// The tensors a registered net expects in a checkpoint: its state_dict names,
// shapes and dtypes, from the net built by the registry (nn/registry.h).
#pragma once

#include <vector>

#include "nn/registry.h"
#include "weights/tensor_dict.h"

namespace cudaseg::weights {

// Builds the net named by `model` (validated, defaults filled) and lists its
// state_dict. Throws naming the accepted nets or keys when `model` is invalid.
std::vector<TensorSpec> expected_tensors(const nn::Json& model);

// Checks `tensors` against the net named by `model`: every missing, unexpected
// and mis-shaped tensor is listed in one error that names the net and `source`.
// Floating tensors of another precision are accepted (they convert on load).
void check_against_net(const TensorDict& tensors, const nn::Json& model, const std::string& source);

// `tensors` without the alias entries of an upstream checkpoint (the
// {alias prefix, original prefix} pairs of net.state_dict_aliases(), e.g.
// STDC-Seg's `cp.backbone.x8.0.*` for `cp.backbone.features.2.*`): each alias
// entry must have its original with the same dtype, shape and values, else
// the error names both. Returns `tensors` unchanged when the net has none.
TensorDict fold_state_aliases(const TensorDict& tensors, const nn::SegNet& net, const std::string& source);
// The same for the net that `model` names (built without drawing parameters).
TensorDict fold_state_aliases(const TensorDict& tensors, const nn::Json& model, const std::string& source);

}  // namespace cudaseg::weights
