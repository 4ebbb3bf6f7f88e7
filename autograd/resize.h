// Differentiable resampling (cudaseg::fn, the counterpart of torch's
// functional API): forward through ops/resize.h, backward through its
// *_backward kernels. Argument meanings are those of ops/resize.h.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "runtime/tensor.h"

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg::fn {

Tensor interpolate(const Tensor& input, const std::optional<std::array<int64_t, 2>>& size,
                   const std::optional<std::array<double, 2>>& scale_factor = std::nullopt,
                   const std::string& mode = "nearest", std::optional<bool> align_corners = std::nullopt,
                   std::optional<bool> recompute_scale_factor = std::nullopt);
Tensor upsample_nearest2d(const Tensor& input, std::array<int64_t, 2> output_size,
                          std::optional<double> scale_h = std::nullopt, std::optional<double> scale_w = std::nullopt);
Tensor upsample_bilinear2d(const Tensor& input, std::array<int64_t, 2> output_size, bool align_corners,
                           std::optional<double> scale_h = std::nullopt, std::optional<double> scale_w = std::nullopt);
// Differentiable in both input and grid.
Tensor grid_sample(const Tensor& input, const Tensor& grid, const std::string& mode = "bilinear",
                   const std::string& padding_mode = "zeros", bool align_corners = false);
Tensor pixel_shuffle(const Tensor& input, int64_t upscale_factor);
Tensor pixel_unshuffle(const Tensor& input, int64_t downscale_factor);

}  // namespace cudaseg::fn
CUDASEG_API_END
