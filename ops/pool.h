// 2-D pooling, forward and backward, with the semantics of
// torch.nn.functional: max_pool2d (with indices), max_unpool2d, avg_pool2d,
// adaptive_avg_pool2d and adaptive_max_pool2d. Inputs are NCHW, 4-D, any
// batch; non-contiguous inputs are accepted; results are new contiguous
// tensors. The *_backward functions are the pure kernels that autograd/pool.h
// wires into the tape.
//
// Indices are int64 and, as in PyTorch, flat within one (n, c) plane of the
// input: h * W + w.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <utility>

#include "runtime/tensor.h"

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg::ops {

// Per-axis (height, width) options, as torch's ints or pairs.
struct MaxPool2dParams {
  std::array<int64_t, 2> kernel_size{1, 1};  // >= 1
  std::array<int64_t, 2> stride{0, 0};       // >= 1; {0, 0} is torch's stride=None: the kernel size
  std::array<int64_t, 2> padding{0, 0};      // >= 0 and <= kernel_size / 2; pads with -inf
  std::array<int64_t, 2> dilation{1, 1};     // >= 1
  bool ceil_mode = false;
};

struct AvgPool2dParams {
  std::array<int64_t, 2> kernel_size{1, 1};
  std::array<int64_t, 2> stride{0, 0};   // {0, 0}: the kernel size
  std::array<int64_t, 2> padding{0, 0};  // <= kernel_size / 2; pads with zeros
  bool ceil_mode = false;
  // Divide by the whole window (padding included, clipped to input + padding)
  // rather than by the input elements it covers.
  bool count_include_pad = true;
  std::optional<int64_t> divisor_override = std::nullopt;  // non-zero; replaces the divisor when set
};

// PyTorch's pooled size along one axis:
//   out = floor_or_ceil((in + 2*pad - dilation*(kernel-1) - 1) / stride) + 1,
// and, with ceil_mode, one less when the last window would start beyond the
// input and its left padding ((out-1)*stride >= in + pad).
int64_t pool_output_size(int64_t input, int64_t kernel, int64_t stride, int64_t padding, int64_t dilation,
                         bool ceil_mode);

// input [N, C, H, W] -> [N, C, Ho, Wo]. The maximum over each window, NaN
// winning over numbers; ties go to the first element in row-major order.
Tensor max_pool2d(const Tensor& input, const MaxPool2dParams& params);
// The output and its int64 indices (return_indices=True).
std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& input, const MaxPool2dParams& params);
// Gradient of max_pool2d (or adaptive_max_pool2d) with respect to its input of
// shape `input_shape`: each grad_output element is added at its index.
Tensor max_pool2d_backward(const Tensor& grad_output, const Tensor& indices, const Shape& input_shape);

// input [N, C, H, W] and indices of its shape (as from max_pool2d_with_indices)
// -> [N, C, output_size[0], output_size[1]], zeros except output[index] = input.
// Where indices repeat, the last in row-major order wins. An index outside
// the output plane is an error.
Tensor max_unpool2d(const Tensor& input, const Tensor& indices, std::array<int64_t, 2> output_size);
// torch's default output size of max_unpool2d for the pooling `params` that
// gave an input of `pooled_shape`: (in - 1)*stride - 2*padding + kernel_size
// (dilation and ceil_mode are not part of it).
std::array<int64_t, 2> max_unpool2d_output_size(const Shape& pooled_shape, const MaxPool2dParams& params);
// Gradient of max_unpool2d with respect to its input: grad_output gathered at
// the indices, giving indices' shape.
Tensor max_unpool2d_backward(const Tensor& grad_output, const Tensor& indices);

// input [N, C, H, W] -> [N, C, Ho, Wo], the mean of each window.
Tensor avg_pool2d(const Tensor& input, const AvgPool2dParams& params);
Tensor avg_pool2d_backward(const Tensor& grad_output, const Shape& input_shape, const AvgPool2dParams& params);

// input [N, C, H, W] -> [N, C, oh, ow] for any output size (smaller or
// larger): output row i pools input rows [floor(i*H/oh), ceil((i+1)*H/oh)),
// and likewise for columns.
Tensor adaptive_avg_pool2d(const Tensor& input, std::array<int64_t, 2> output_size);
Tensor adaptive_avg_pool2d_backward(const Tensor& grad_output, const Shape& input_shape);
Tensor adaptive_max_pool2d(const Tensor& input, std::array<int64_t, 2> output_size);
// The output and its indices; the gradient is max_pool2d_backward.
std::pair<Tensor, Tensor> adaptive_max_pool2d_with_indices(const Tensor& input, std::array<int64_t, 2> output_size);

}  // namespace cudaseg::ops
CUDASEG_API_END
