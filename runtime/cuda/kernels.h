// The runtime's own device kernels (strided copy with dtype conversion, fill,
// Philox fills), used by Tensor and Generator; only built with CUDA.
#pragma once

#include <cstdint>

#include "runtime/tensor.h"

namespace cudaseg::runtime_cuda {

// dst and src on the same CUDA device, same shape; any dtypes and strides.
void copy_strided(const Tensor& dst, const Tensor& src);
void fill(const Tensor& dst, double value);
// Philox streams identical to the host ones (runtime/philox.h); dst contiguous f32/f64/f16/bf16.
void philox_uniform(const Tensor& dst, uint64_t seed, uint64_t offset, double low, double high);
void philox_normal(const Tensor& dst, uint64_t seed, uint64_t offset, double mean, double stddev);

}  // namespace cudaseg::runtime_cuda
