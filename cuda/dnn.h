// cuDNN convolution for the op set: forward, backward-data and
// backward-filter of a (grouped) 2-D cross-correlation on NCHW tensors, on the
// current stream. The algorithm is chosen once per (direction, shapes, options,
// dtype) from cuDNN's heuristics and cached; workspaces come from the caching
// allocator. Transposed convolution is the same primitive with the roles of
// forward and backward-data exchanged.
#pragma once

#include <array>
#include <cstdint>

#include "runtime/tensor.h"

namespace cudaseg::cuda {

struct ConvSpec {
  std::array<int64_t, 2> stride{1, 1}, padding{0, 0}, dilation{1, 1};
  int64_t groups = 1;
};

// All tensors contiguous on one CUDA device, same floating dtype; outputs
// preallocated with the convolution's shapes (y is [N, O, Ho, Wo] for x [N, C, H, W]).
void dnn_conv_forward(const Tensor& x, const Tensor& w, const Tensor& y, const ConvSpec& spec);
void dnn_conv_backward_data(const Tensor& dy, const Tensor& w, const Tensor& dx, const ConvSpec& spec);
void dnn_conv_backward_filter(const Tensor& x, const Tensor& dy, const Tensor& dw, const ConvSpec& spec);

}  // namespace cudaseg::cuda
