// Differentiable dropout (cudaseg::fn): the backward multiplies by the mask
// saved in the forward. See ops/dropout.h for the generator contract and the
// identity cases (training = false or p = 0 return `input` itself).
#pragma once

#include "runtime/rng.h"
#include "runtime/tensor.h"

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg::fn {

Tensor dropout(const Tensor& input, double p, bool training, Generator& generator);
Tensor dropout2d(const Tensor& input, double p, bool training, Generator& generator);

}  // namespace cudaseg::fn
CUDASEG_API_END
