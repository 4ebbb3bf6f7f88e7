// Visual outputs of a segmentation: palettes, colour maps, overlays and
// label PNGs (what rtseg_infer writes and the C API returns).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "runtime/tensor.h"

namespace cudaseg::infer {

using Palette = std::vector<std::array<uint8_t, 3>>;

// Cityscapes' colours for 19 classes; otherwise distinct generated colours
// (golden-ratio hues), class 0 black.
Palette default_palette(int64_t num_classes);
// labels int64 [H, W] -> u8 [H, W, 3]; a label outside the palette is an error.
Tensor colorize(const Tensor& labels, const Palette& palette);
// image * (1 - alpha) + color * alpha, rounded; both u8 [H, W, 3].
Tensor overlay(const Tensor& image, const Tensor& color, double alpha);
// labels int64 [H, W] -> u8 [H, W] class ids (at most 256 classes).
Tensor label_png(const Tensor& labels);

}  // namespace cudaseg::infer
