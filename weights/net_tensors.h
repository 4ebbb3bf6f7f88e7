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

}  // namespace cudaseg::weights
