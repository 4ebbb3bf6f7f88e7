// CPU pooling kernels. They take validated arguments: contiguous NCHW float or
// double tensors (int64 indices) and preallocated contiguous outputs; ops/pool.cpp
// does the checking and allocation. Every kernel runs in parallel over the
// N*C planes.
#pragma once

#include <cstdint>

#include "runtime/tensor.h"

namespace cudaseg::ops::cpu {

// One pooling window layout: input plane ih x iw, output plane oh x ow, and
// per-axis kernel, stride, padding and dilation.
struct PoolGeometry {
  int64_t ih = 0, iw = 0, oh = 0, ow = 0;
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
};

void max_pool2d(const Tensor& input, const PoolGeometry& g, const Tensor& output, const Tensor& indices);
// grad_input (zeroed here) [.., H, W] += grad_output at indices, plane by plane.
void scatter_add_plane(const Tensor& grad_output, const Tensor& indices, const Tensor& grad_input);
// output (zeroed here) [.., H, W] at indices = input, plane by plane; `op` names errors.
void scatter_plane(const char* op, const Tensor& input, const Tensor& indices, const Tensor& output);
// output[i] = source at indices[i], plane by plane; `op` names errors.
void gather_plane(const char* op, const Tensor& source, const Tensor& indices, const Tensor& output);

// divisor_override 0 means none.
void avg_pool2d(const Tensor& input, const PoolGeometry& g, bool count_include_pad, int64_t divisor_override,
                const Tensor& output);
void avg_pool2d_backward(const Tensor& grad_output, const PoolGeometry& g, bool count_include_pad,
                         int64_t divisor_override, const Tensor& grad_input);

void adaptive_avg_pool2d(const Tensor& input, const Tensor& output);
void adaptive_avg_pool2d_backward(const Tensor& grad_output, const Tensor& grad_input);
void adaptive_max_pool2d(const Tensor& input, const Tensor& output, const Tensor& indices);

}  // namespace cudaseg::ops::cpu
