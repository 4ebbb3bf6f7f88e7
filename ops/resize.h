// Resampling, forward and backward, with the semantics of torch.nn.functional
// (as of PyTorch 1.13 on the CPU): interpolate in 'nearest' and 'bilinear'
// modes, grid_sample (bilinear; zeros and border padding), pixel_shuffle and
// pixel_unshuffle. Inputs are NCHW, 4-D, any batch; non-contiguous inputs are
// accepted; results are new contiguous tensors. The *_backward functions are
// the pure kernels that autograd/resize.h wires into the tape.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "runtime/tensor.h"

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg::ops {

// ---- the kernels behind interpolate (torch's upsample_* ops) ----
//
// input [N, C, H, W] -> [N, C, output_size[0], output_size[1]]. A scale, when
// given and > 0, is the user's scale factor of that axis: the source
// coordinate then moves by 1/scale per output pixel; otherwise by in/out.
//
// Nearest: src = min(floor(dst * s), in - 1), computed in float32 (PyTorch's
// NCHW forward; the backward scatters through the same indices).
Tensor upsample_nearest2d(const Tensor& input, std::array<int64_t, 2> output_size,
                          std::optional<double> scale_h = std::nullopt, std::optional<double> scale_w = std::nullopt);
Tensor upsample_nearest2d_backward(const Tensor& grad_output, const Shape& input_shape,
                                   std::optional<double> scale_h = std::nullopt,
                                   std::optional<double> scale_w = std::nullopt);
// Bilinear: with align_corners, src = dst * (in-1)/(out-1) (scales unused);
// without, src = max(0, (dst + 0.5) * s - 0.5). An axis with out == in copies.
Tensor upsample_bilinear2d(const Tensor& input, std::array<int64_t, 2> output_size, bool align_corners,
                           std::optional<double> scale_h = std::nullopt, std::optional<double> scale_w = std::nullopt);
Tensor upsample_bilinear2d_backward(const Tensor& grad_output, const Shape& input_shape, bool align_corners,
                                    std::optional<double> scale_h = std::nullopt,
                                    std::optional<double> scale_w = std::nullopt);

// ---- interpolate ----
//
// What F.interpolate resolves its arguments to: the kernel and its arguments.
struct UpsampleCall {
  bool bilinear = false;  // else nearest
  std::array<int64_t, 2> output_size{0, 0};
  bool align_corners = false;
  std::optional<double> scale_h, scale_w;
};
// Exactly one of size and scale_factor is given. With a scale factor the
// output size is floor(in * scale); the kernel then uses the scale factor
// itself unless recompute_scale_factor is true, in which case it uses in/out.
// mode is "nearest" or "bilinear"; align_corners may be set only for
// bilinear (unset means false).
UpsampleCall resolve_interpolate(const Tensor& input, const std::optional<std::array<int64_t, 2>>& size,
                                 const std::optional<std::array<double, 2>>& scale_factor,
                                 const std::string& mode, std::optional<bool> align_corners,
                                 std::optional<bool> recompute_scale_factor);
// F.interpolate(input, size, scale_factor, mode, align_corners, recompute_scale_factor).
Tensor interpolate(const Tensor& input, const std::optional<std::array<int64_t, 2>>& size,
                   const std::optional<std::array<double, 2>>& scale_factor = std::nullopt,
                   const std::string& mode = "nearest", std::optional<bool> align_corners = std::nullopt,
                   std::optional<bool> recompute_scale_factor = std::nullopt);

// ---- grid_sample ----
//
// input [N, C, H, W], grid [N, Ho, Wo, 2] holding (x, y) in [-1, 1] ->
// [N, C, Ho, Wo]. mode "bilinear"; padding_mode "zeros" (outside samples are
// 0) or "border" (coordinates clamp to the edge). With align_corners, -1 and 1
// are the centres of the corner pixels; without, their outer edges.
Tensor grid_sample(const Tensor& input, const Tensor& grid, const std::string& mode = "bilinear",
                   const std::string& padding_mode = "zeros", bool align_corners = false);
// Gradients with respect to input and grid; each is computed only where its
// output_mask entry is set (else undefined). With border padding a coordinate
// clamped to the edge, or lying exactly on it, gets no gradient (PyTorch's choice).
std::pair<Tensor, Tensor> grid_sample_backward(const Tensor& grad_output, const Tensor& input, const Tensor& grid,
                                               const std::string& mode, const std::string& padding_mode,
                                               bool align_corners, std::array<bool, 2> output_mask = {true, true});

// ---- pixel shuffle ----
//
// [*, C*r*r, H, W] -> [*, C, H*r, W*r]: out[c, h*r + i, w*r + j] = in[c*r*r + i*r + j, h, w].
// Each is the other's inverse, hence its gradient.
Tensor pixel_shuffle(const Tensor& input, int64_t upscale_factor);
// [*, C, H*r, W*r] -> [*, C*r*r, H, W].
Tensor pixel_unshuffle(const Tensor& input, int64_t downscale_factor);

}  // namespace cudaseg::ops
CUDASEG_API_END
