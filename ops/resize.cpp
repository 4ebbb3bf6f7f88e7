#include "ops/resize.h"

#include <cmath>
#include <sstream>

#include "ops/common.h"
#include "ops/kernels/resize.h"

namespace cudaseg::ops {

Kernel<kernels::UpsampleNearest2dFn> kernels::upsample_nearest2d("upsample_nearest2d");
Kernel<kernels::UpsampleNearest2dBackwardFn> kernels::upsample_nearest2d_backward("upsample_nearest2d_backward");
Kernel<kernels::UpsampleBilinear2dFn> kernels::upsample_bilinear2d("upsample_bilinear2d");
Kernel<kernels::UpsampleBilinear2dBackwardFn> kernels::upsample_bilinear2d_backward("upsample_bilinear2d_backward");
Kernel<kernels::GridSampleFn> kernels::grid_sample("grid_sample");
Kernel<kernels::GridSampleBackwardFn> kernels::grid_sample_backward("grid_sample_backward");

namespace {

template <typename V>
std::string pair_str(const std::array<V, 2>& a) {
  std::ostringstream os;
  os << "[" << a[0] << ", " << a[1] << "]";
  return os.str();
}

void check_input(const char* op, const Tensor& input) {
  check_dim(op, "input", input, 4);
  check_float(op, "input", input);
  CUDASEG_CHECK(input.size(1) > 0 && input.size(2) > 0 && input.size(3) > 0, op,
                ": 'input' needs non-zero channels, height and width, got ", shape_str(input.shape()));
}

void check_output_size(const char* op, const std::array<int64_t, 2>& size, const Shape& input) {
  CUDASEG_CHECK(size[0] >= 1 && size[1] >= 1, op, ": output size ", pair_str(size),
                " must be positive (input ", shape_str(input), ")");
}

// The checks of a backward: the forward's input shape and a gradient of the
// forward's output shape.
void check_backward(const char* op, const Tensor& grad_output, const Shape& input_shape) {
  check_dim(op, "grad_output", grad_output, 4);
  check_float(op, "grad_output", grad_output);
  CUDASEG_CHECK(input_shape.size() == 4 && input_shape[2] > 0 && input_shape[3] > 0, op, ": input_shape ",
                shape_str(input_shape), " must be [N, C, H, W] with H, W > 0");
  CUDASEG_CHECK(grad_output.size(0) == input_shape[0] && grad_output.size(1) == input_shape[1] &&
                    grad_output.size(2) > 0 && grad_output.size(3) > 0,
                op, ": 'grad_output' ", shape_str(grad_output.shape()), " does not match input_shape ",
                shape_str(input_shape));
}

// A new contiguous tensor, never a view of the input (contiguous() would
// return one when the permutation moves only size-1 dims).
Tensor fresh_copy(const Tensor& t) { return t.is_contiguous() ? t.clone() : t.contiguous(); }

struct GridSampleModes {
  bool border;
};

GridSampleModes grid_sample_modes(const char* op, const std::string& mode, const std::string& padding_mode) {
  CUDASEG_CHECK(mode == "bilinear", op, ": mode '", mode, "' is not supported (supported: bilinear)");
  CUDASEG_CHECK(padding_mode == "zeros" || padding_mode == "border", op, ": padding_mode '", padding_mode,
                "' is not supported (supported: zeros, border)");
  return {padding_mode == "border"};
}

void check_grid(const char* op, const Tensor& input, const Tensor& grid) {
  check_input(op, input);
  check_dim(op, "grid", grid, 4);
  check_same_device(op, {{"input", &input}, {"grid", &grid}});
  check_same_dtype(op, {{"input", &input}, {"grid", &grid}});
  CUDASEG_CHECK(grid.size(3) == 2 && grid.size(0) == input.size(0), op, ": 'grid' ", shape_str(grid.shape()),
                " must be [N, Ho, Wo, 2] with the batch size of 'input' ", shape_str(input.shape()));
}

}  // namespace

Tensor upsample_nearest2d(const Tensor& input, std::array<int64_t, 2> output_size, std::optional<double> scale_h,
                          std::optional<double> scale_w) {
  const char* op = "upsample_nearest2d";
  check_input(op, input);
  check_output_size(op, output_size, input.shape());
  Tensor out = Tensor::empty({input.size(0), input.size(1), output_size[0], output_size[1]}, input.dtype(),
                             input.device());
  kernels::upsample_nearest2d(input.device(), input.contiguous(), out, scale_h, scale_w);
  return out;
}

Tensor upsample_nearest2d_backward(const Tensor& grad_output, const Shape& input_shape,
                                   std::optional<double> scale_h, std::optional<double> scale_w) {
  const char* op = "upsample_nearest2d_backward";
  check_backward(op, grad_output, input_shape);
  Tensor grad_input = Tensor::empty(input_shape, grad_output.dtype(), grad_output.device());
  kernels::upsample_nearest2d_backward(grad_output.device(), grad_output.contiguous(), grad_input, scale_h, scale_w);
  return grad_input;
}

Tensor upsample_bilinear2d(const Tensor& input, std::array<int64_t, 2> output_size, bool align_corners,
                           std::optional<double> scale_h, std::optional<double> scale_w) {
  const char* op = "upsample_bilinear2d";
  check_input(op, input);
  check_output_size(op, output_size, input.shape());
  Tensor out = Tensor::empty({input.size(0), input.size(1), output_size[0], output_size[1]}, input.dtype(),
                             input.device());
  kernels::upsample_bilinear2d(input.device(), input.contiguous(), out, align_corners, scale_h, scale_w);
  return out;
}

Tensor upsample_bilinear2d_backward(const Tensor& grad_output, const Shape& input_shape, bool align_corners,
                                    std::optional<double> scale_h, std::optional<double> scale_w) {
  const char* op = "upsample_bilinear2d_backward";
  check_backward(op, grad_output, input_shape);
  Tensor grad_input = Tensor::empty(input_shape, grad_output.dtype(), grad_output.device());
  kernels::upsample_bilinear2d_backward(grad_output.device(), grad_output.contiguous(), grad_input, align_corners,
                                        scale_h, scale_w);
  return grad_input;
}

UpsampleCall resolve_interpolate(const Tensor& input, const std::optional<std::array<int64_t, 2>>& size,
                                 const std::optional<std::array<double, 2>>& scale_factor,
                                 const std::string& mode, std::optional<bool> align_corners,
                                 std::optional<bool> recompute_scale_factor) {
  const char* op = "interpolate";
  check_input(op, input);
  const std::string in = shape_str(input.shape());
  CUDASEG_CHECK(mode == "nearest" || mode == "bilinear", op, ": mode '", mode,
                "' is not supported (supported: nearest, bilinear); input ", in);
  CUDASEG_CHECK(mode == "bilinear" || !align_corners, op,
                ": align_corners can only be set with mode 'bilinear', got mode '", mode, "'; input ", in);
  CUDASEG_CHECK(size.has_value() != scale_factor.has_value(), op,
                ": exactly one of size and scale_factor must be given; input ", in);
  CUDASEG_CHECK(!(size && recompute_scale_factor.value_or(false)), op,
                ": recompute_scale_factor is not meaningful with an explicit size; input ", in);
  UpsampleCall call;
  call.bilinear = mode == "bilinear";
  call.align_corners = align_corners.value_or(false);
  if (size) {
    check_output_size(op, *size, input.shape());
    call.output_size = *size;
    return call;
  }
  const std::array<double, 2>& sf = *scale_factor;
  CUDASEG_CHECK(sf[0] > 0 && sf[1] > 0 && std::isfinite(sf[0]) && std::isfinite(sf[1]), op, ": scale_factor ",
                pair_str(sf), " must be positive and finite; input ", in);
  for (int a = 0; a < 2; ++a)
    call.output_size[a] = static_cast<int64_t>(std::floor(static_cast<double>(input.size(2 + a)) * sf[a]));
  CUDASEG_CHECK(call.output_size[0] >= 1 && call.output_size[1] >= 1, op, ": scale_factor ", pair_str(sf),
                " gives an empty output ", pair_str(call.output_size), " for input ", in);
  if (!recompute_scale_factor.value_or(false)) {
    call.scale_h = sf[0];
    call.scale_w = sf[1];
  }
  return call;
}

Tensor interpolate(const Tensor& input, const std::optional<std::array<int64_t, 2>>& size,
                   const std::optional<std::array<double, 2>>& scale_factor, const std::string& mode,
                   std::optional<bool> align_corners, std::optional<bool> recompute_scale_factor) {
  const UpsampleCall c = resolve_interpolate(input, size, scale_factor, mode, align_corners, recompute_scale_factor);
  if (c.bilinear) return upsample_bilinear2d(input, c.output_size, c.align_corners, c.scale_h, c.scale_w);
  return upsample_nearest2d(input, c.output_size, c.scale_h, c.scale_w);
}

Tensor grid_sample(const Tensor& input, const Tensor& grid, const std::string& mode, const std::string& padding_mode,
                   bool align_corners) {
  const char* op = "grid_sample";
  const GridSampleModes modes = grid_sample_modes(op, mode, padding_mode);
  check_grid(op, input, grid);
  Tensor out = Tensor::empty({input.size(0), input.size(1), grid.size(1), grid.size(2)}, input.dtype(),
                             input.device());
  kernels::grid_sample(input.device(), input.contiguous(), grid.contiguous(), out, modes.border, align_corners);
  return out;
}

std::pair<Tensor, Tensor> grid_sample_backward(const Tensor& grad_output, const Tensor& input, const Tensor& grid,
                                               const std::string& mode, const std::string& padding_mode,
                                               bool align_corners, std::array<bool, 2> output_mask) {
  const char* op = "grid_sample_backward";
  const GridSampleModes modes = grid_sample_modes(op, mode, padding_mode);
  check_grid(op, input, grid);
  check_defined(op, "grad_output", grad_output);
  check_same_dtype(op, {{"input", &input}, {"grad_output", &grad_output}});
  check_same_device(op, {{"input", &input}, {"grad_output", &grad_output}});
  const Shape expected{input.size(0), input.size(1), grid.size(1), grid.size(2)};
  CUDASEG_CHECK(grad_output.shape() == expected, op, ": 'grad_output' ", shape_str(grad_output.shape()),
                " should be ", shape_str(expected));
  Tensor grad_input, grad_grid;
  if (output_mask[0]) grad_input = Tensor::empty(input.shape(), input.dtype(), input.device());
  if (output_mask[1]) grad_grid = Tensor::empty(grid.shape(), grid.dtype(), grid.device());
  kernels::grid_sample_backward(input.device(), grad_output.contiguous(), input.contiguous(), grid.contiguous(),
                                grad_input, grad_grid, modes.border, align_corners);
  return {grad_input, grad_grid};
}

Tensor pixel_shuffle(const Tensor& input, int64_t upscale_factor) {
  const char* op = "pixel_shuffle";
  check_defined(op, "input", input);
  const int64_t r = upscale_factor, nd = input.dim();
  CUDASEG_CHECK(nd >= 3, op, ": 'input' needs at least 3 dims [*, C, H, W], got ", shape_str(input.shape()));
  CUDASEG_CHECK(r >= 1, op, ": upscale_factor must be positive, got ", r, " (input ", shape_str(input.shape()), ")");
  const int64_t c = input.size(-3), h = input.size(-2), w = input.size(-1);
  CUDASEG_CHECK(c % (r * r) == 0, op, ": the channels of 'input' ", shape_str(input.shape()),
                " must be divisible by upscale_factor^2 = ", r * r);
  // A permuted copy: [*, C, r, r, H, W] -> [*, C, H, r, W, r].
  Shape lead(input.shape().begin(), input.shape().end() - 3);
  const int64_t b = static_cast<int64_t>(lead.size());
  Shape split = lead, merged = lead;
  for (int64_t s : {c / (r * r), r, r, h, w}) split.push_back(s);
  for (int64_t s : {c / (r * r), h * r, w * r}) merged.push_back(s);
  std::vector<int64_t> order;
  for (int64_t d = 0; d < b; ++d) order.push_back(d);
  for (int64_t d : {0, 3, 1, 4, 2}) order.push_back(b + d);
  return fresh_copy(input.reshape(split).permute(order)).view(merged);
}

Tensor pixel_unshuffle(const Tensor& input, int64_t downscale_factor) {
  const char* op = "pixel_unshuffle";
  check_defined(op, "input", input);
  const int64_t r = downscale_factor, nd = input.dim();
  CUDASEG_CHECK(nd >= 3, op, ": 'input' needs at least 3 dims [*, C, H, W], got ", shape_str(input.shape()));
  CUDASEG_CHECK(r >= 1, op, ": downscale_factor must be positive, got ", r, " (input ", shape_str(input.shape()),
                ")");
  const int64_t c = input.size(-3), h = input.size(-2), w = input.size(-1);
  CUDASEG_CHECK(h % r == 0 && w % r == 0, op, ": the height and width of 'input' ", shape_str(input.shape()),
                " must be divisible by downscale_factor ", r);
  // A permuted copy: [*, C, H, r, W, r] -> [*, C, r, r, H, W].
  Shape lead(input.shape().begin(), input.shape().end() - 3);
  const int64_t b = static_cast<int64_t>(lead.size());
  Shape split = lead, merged = lead;
  for (int64_t s : {c, h / r, r, w / r, r}) split.push_back(s);
  for (int64_t s : {c * r * r, h / r, w / r}) merged.push_back(s);
  std::vector<int64_t> order;
  for (int64_t d = 0; d < b; ++d) order.push_back(d);
  for (int64_t d : {0, 2, 4, 1, 3}) order.push_back(b + d);
  return fresh_copy(input.reshape(split).permute(order)).view(merged);
}

}  // namespace cudaseg::ops
