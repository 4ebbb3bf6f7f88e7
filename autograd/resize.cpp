#include "autograd/resize.h"

#include "autograd/engine.h"
#include "ops/resize.h"

namespace cudaseg::fn {
namespace {

using autograd::Node;
using autograd::SavedTensor;

struct UpsampleNearestBackward : Node {
  const char* name() const override { return "UpsampleNearest2DBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    return {ops::upsample_nearest2d_backward(g[0], input_shape, scale_h, scale_w)};
  }
  Shape input_shape;
  std::optional<double> scale_h, scale_w;
};

struct UpsampleBilinearBackward : Node {
  const char* name() const override { return "UpsampleBilinear2DBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    return {ops::upsample_bilinear2d_backward(g[0], input_shape, align_corners, scale_h, scale_w)};
  }
  Shape input_shape;
  bool align_corners = false;
  std::optional<double> scale_h, scale_w;
};

struct GridSampleBackward : Node {
  const char* name() const override { return "GridSampler2DBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    auto grads = ops::grid_sample_backward(g[0], input.unpack(*this), grid.unpack(*this), mode, padding_mode,
                                           align_corners, {next_edges[0].valid(), next_edges[1].valid()});
    return {grads.first, grads.second};
  }
  void release_saved() override {
    input.reset();
    grid.reset();
  }
  SavedTensor input, grid;
  std::string mode, padding_mode;
  bool align_corners = false;
};

// pixel_shuffle and pixel_unshuffle are each other's inverse and permutations,
// so each one's gradient is the other applied to the incoming gradient.
struct PixelShuffleBackward : Node {
  const char* name() const override { return unshuffle ? "PixelUnshuffleBackward" : "PixelShuffleBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    return {unshuffle ? ops::pixel_shuffle(g[0], factor) : ops::pixel_unshuffle(g[0], factor)};
  }
  int64_t factor = 1;
  bool unshuffle = false;
};

Tensor shuffle(const Tensor& input, int64_t factor, bool unshuffle) {
  Tensor out = unshuffle ? ops::pixel_unshuffle(input, factor) : ops::pixel_shuffle(input, factor);
  if (autograd::any_requires_grad({&input})) {
    auto node = std::make_shared<PixelShuffleBackward>();
    node->factor = factor;
    node->unshuffle = unshuffle;
    autograd::record(node, {&input}, {&out});
  }
  return out;
}

}  // namespace

Tensor upsample_nearest2d(const Tensor& input, std::array<int64_t, 2> output_size, std::optional<double> scale_h,
                          std::optional<double> scale_w) {
  Tensor out = ops::upsample_nearest2d(input, output_size, scale_h, scale_w);
  if (autograd::any_requires_grad({&input})) {
    auto node = std::make_shared<UpsampleNearestBackward>();
    node->input_shape = input.shape();
    node->scale_h = scale_h;
    node->scale_w = scale_w;
    autograd::record(node, {&input}, {&out});
  }
  return out;
}

Tensor upsample_bilinear2d(const Tensor& input, std::array<int64_t, 2> output_size, bool align_corners,
                           std::optional<double> scale_h, std::optional<double> scale_w) {
  Tensor out = ops::upsample_bilinear2d(input, output_size, align_corners, scale_h, scale_w);
  if (autograd::any_requires_grad({&input})) {
    auto node = std::make_shared<UpsampleBilinearBackward>();
    node->input_shape = input.shape();
    node->align_corners = align_corners;
    node->scale_h = scale_h;
    node->scale_w = scale_w;
    autograd::record(node, {&input}, {&out});
  }
  return out;
}

Tensor interpolate(const Tensor& input, const std::optional<std::array<int64_t, 2>>& size,
                   const std::optional<std::array<double, 2>>& scale_factor, const std::string& mode,
                   std::optional<bool> align_corners, std::optional<bool> recompute_scale_factor) {
  const ops::UpsampleCall c =
      ops::resolve_interpolate(input, size, scale_factor, mode, align_corners, recompute_scale_factor);
  if (c.bilinear) return upsample_bilinear2d(input, c.output_size, c.align_corners, c.scale_h, c.scale_w);
  return upsample_nearest2d(input, c.output_size, c.scale_h, c.scale_w);
}

Tensor grid_sample(const Tensor& input, const Tensor& grid, const std::string& mode, const std::string& padding_mode,
                   bool align_corners) {
  Tensor out = ops::grid_sample(input, grid, mode, padding_mode, align_corners);
  if (autograd::any_requires_grad({&input, &grid})) {
    auto node = std::make_shared<GridSampleBackward>();
    node->input = SavedTensor(input);
    node->grid = SavedTensor(grid);
    node->mode = mode;
    node->padding_mode = padding_mode;
    node->align_corners = align_corners;
    autograd::record(node, {&input, &grid}, {&out});
  }
  return out;
}

Tensor pixel_shuffle(const Tensor& input, int64_t upscale_factor) { return shuffle(input, upscale_factor, false); }
Tensor pixel_unshuffle(const Tensor& input, int64_t downscale_factor) { return shuffle(input, downscale_factor, true); }

}  // namespace cudaseg::fn
