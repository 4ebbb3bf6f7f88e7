// The kernel of the dropout mask (ops/dropout.h). CPU and CUDA draw the same
// Philox stream (runtime/philox.h), so their masks agree bit for bit.
#pragma once

#include <cstdint>

#include "ops/dispatch.h"
#include "runtime/tensor.h"

namespace cudaseg::ops::kernels {

// mask[i] = 1 / (1 - p) where Philox uniform (seed, start + i) < 1 - p, else
// 0; mask is contiguous and floating (float32 or float64 on the CPU).
using DropoutMaskFn = void(uint64_t seed, uint64_t start, double p, const Tensor& mask);

extern Kernel<DropoutMaskFn> dropout_mask;

}  // namespace cudaseg::ops::kernels
