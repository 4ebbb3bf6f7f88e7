// cuDNN convolution for the op set: forward, backward-data and
// backward-filter of a (grouped) 2-D cross-correlation on NCHW or
// channels-last tensors, on the current stream. Each thread holds its own
// cuDNN handle per device, on which every convolution it has run keeps its
// descriptors, set once; the algorithm is chosen once per key (cuda/dnn_key.h:
// direction, device, dtype, layout, math type, shapes, geometry) from cuDNN's
// heuristics into a table all threads share. A call whose convolution its
// thread has run before takes no lock and sets no descriptor. Workspaces come
// from the caching allocator. Transposed convolution is the same primitive
// with the roles of forward and backward-data exchanged.
#pragma once

#include <array>
#include <cstdint>

#include "runtime/tensor.h"

namespace cudaseg::cuda {

struct ConvSpec {
  std::array<int64_t, 2> stride{1, 1}, padding{0, 0}, dilation{1, 1};
  int64_t groups = 1;
};

// All tensors on one CUDA device, same floating dtype, and either all
// contiguous (NCHW) or all channels-last (NHWC strides over the same logical
// shapes, the filter [O, kh, kw, C/g] in memory); outputs preallocated with
// the convolution's shapes (y is [N, O, Ho, Wo] for x [N, C, H, W]).
void dnn_conv_forward(const Tensor& x, const Tensor& w, const Tensor& y, const ConvSpec& spec);
void dnn_conv_backward_data(const Tensor& dy, const Tensor& w, const Tensor& dx, const ConvSpec& spec);
void dnn_conv_backward_filter(const Tensor& x, const Tensor& dy, const Tensor& dw, const ConvSpec& spec);

}  // namespace cudaseg::cuda
