// CUDA twins of ops/cpu's resampling kernels: same arguments (contiguous NCHW
// inputs, preallocated contiguous outputs), same results. The upsample
// backwards are deterministic gathers; grid_sample's input gradient uses
// floating-point atomics and may differ in the last bits from run to run, as
// PyTorch's does.
#pragma once

#include <optional>

#include "runtime/tensor.h"

namespace cudaseg::cuda {

// The scales are as in ops/resize.h (the user's scale factor, or none).
void upsample_nearest2d(const Tensor& input, const Tensor& output, std::optional<double> scale_h,
                        std::optional<double> scale_w);
// grad_input is overwritten.
void upsample_nearest2d_backward(const Tensor& grad_output, const Tensor& grad_input, std::optional<double> scale_h,
                                 std::optional<double> scale_w);
void upsample_bilinear2d(const Tensor& input, const Tensor& output, bool align_corners,
                         std::optional<double> scale_h, std::optional<double> scale_w);
void upsample_bilinear2d_backward(const Tensor& grad_output, const Tensor& grad_input, bool align_corners,
                                  std::optional<double> scale_h, std::optional<double> scale_w);

// Bilinear grid sampling; `border` selects border padding (else zeros). The
// grid has the input's dtype.
void grid_sample(const Tensor& input, const Tensor& grid, const Tensor& output, bool border, bool align_corners);
// Writes the gradients whose tensors are defined (grad_input and/or grad_grid).
void grid_sample_backward(const Tensor& grad_output, const Tensor& input, const Tensor& grid,
                          const Tensor& grad_input, const Tensor& grad_grid, bool border, bool align_corners);

}  // namespace cudaseg::cuda
