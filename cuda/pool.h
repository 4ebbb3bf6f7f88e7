// CUDA twins of ops/cpu's pooling kernels: same arguments (contiguous NCHW
// inputs, preallocated contiguous outputs), same results. Every backward here
// is deterministic: no floating-point atomics.
#pragma once

#include <cstdint>

#include "ops/cpu/pool.h"
#include "runtime/tensor.h"

namespace cudaseg::cuda {

using PoolGeometry = ops::cpu::PoolGeometry;

void max_pool2d(const Tensor& input, const PoolGeometry& g, const Tensor& output, const Tensor& indices);
// grad_input [.., H, W] = the sum of grad_output at each index, plane by plane
// (overwritten). Indices may come from any pooling; one outside the plane is an error.
void max_pool2d_backward(const Tensor& grad_output, const Tensor& indices, const Tensor& grad_input);
// output (overwritten) at indices = input; where indices repeat the last wins.
void max_unpool2d(const Tensor& input, const Tensor& indices, const Tensor& output);
// grad_input[i] = grad_output at indices[i], plane by plane.
void max_unpool2d_backward(const Tensor& grad_output, const Tensor& indices, const Tensor& grad_input);

// divisor_override 0 means none.
void avg_pool2d(const Tensor& input, const PoolGeometry& g, bool count_include_pad, int64_t divisor_override,
                const Tensor& output);
void avg_pool2d_backward(const Tensor& grad_output, const PoolGeometry& g, bool count_include_pad,
                         int64_t divisor_override, const Tensor& grad_input);

void adaptive_avg_pool2d(const Tensor& input, const Tensor& output);
void adaptive_avg_pool2d_backward(const Tensor& grad_output, const Tensor& grad_input);
void adaptive_max_pool2d(const Tensor& input, const Tensor& output, const Tensor& indices);

}  // namespace cudaseg::cuda
