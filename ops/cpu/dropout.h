// CPU reference kernel of the dropout mask (ops/dropout.h).
#pragma once

#include <cstdint>

#include "runtime/tensor.h"

namespace cudaseg::ops::cpu {

// mask[i] = 1 / (1 - p) where Philox uniform (seed, start + i) < 1 - p, else 0;
// mask is contiguous float32 or float64.
void dropout_mask(uint64_t seed, uint64_t start, double p, const Tensor& mask);

}  // namespace cudaseg::ops::cpu
