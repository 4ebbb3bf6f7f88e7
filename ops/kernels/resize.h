// The kernels of resampling (ops/resize.h): contiguous NCHW inputs and
// preallocated contiguous outputs. The scales are as in ops/resize.h (the
// user's scale factor, or none). On CUDA the upsample backwards are
// deterministic gathers; grid_sample's input gradient uses floating-point
// atomics and may differ in the last bits from run to run, as PyTorch's does.
#pragma once

#include <optional>

#include "ops/dispatch.h"
#include "runtime/tensor.h"

namespace cudaseg::ops::kernels {

using UpsampleNearest2dFn = void(const Tensor& input, const Tensor& output, std::optional<double> scale_h,
                                 std::optional<double> scale_w);
// grad_input is overwritten.
using UpsampleNearest2dBackwardFn = void(const Tensor& grad_output, const Tensor& grad_input,
                                         std::optional<double> scale_h, std::optional<double> scale_w);
using UpsampleBilinear2dFn = void(const Tensor& input, const Tensor& output, bool align_corners,
                                  std::optional<double> scale_h, std::optional<double> scale_w);
using UpsampleBilinear2dBackwardFn = void(const Tensor& grad_output, const Tensor& grad_input, bool align_corners,
                                          std::optional<double> scale_h, std::optional<double> scale_w);
// Bilinear grid sampling; `border` selects border padding (else zeros). The
// grid has the input's dtype.
using GridSampleFn = void(const Tensor& input, const Tensor& grid, const Tensor& output, bool border,
                          bool align_corners);
// Writes the gradients whose tensors are defined (grad_input and/or grad_grid).
using GridSampleBackwardFn = void(const Tensor& grad_output, const Tensor& input, const Tensor& grid,
                                  const Tensor& grad_input, const Tensor& grad_grid, bool border, bool align_corners);

extern Kernel<UpsampleNearest2dFn> upsample_nearest2d;
extern Kernel<UpsampleNearest2dBackwardFn> upsample_nearest2d_backward;
extern Kernel<UpsampleBilinear2dFn> upsample_bilinear2d;
extern Kernel<UpsampleBilinear2dBackwardFn> upsample_bilinear2d_backward;
extern Kernel<GridSampleFn> grid_sample;
extern Kernel<GridSampleBackwardFn> grid_sample_backward;

}  // namespace cudaseg::ops::kernels
