// CUDA twin of ops/cpu's dropout mask kernel (ops/cpu/dropout.h).
#pragma once

#include <cstdint>

#include "runtime/tensor.h"

namespace cudaseg::cuda {

// mask[i] = 1 / (1 - p) where Philox uniform (seed, start + i) < 1 - p, else
// 0, for a contiguous floating mask: bit for bit the CPU kernel's mask.
void dropout_mask(uint64_t seed, uint64_t start, double p, const Tensor& mask);

}  // namespace cudaseg::cuda
