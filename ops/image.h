// A photo into a net's input in one pass: a u8 [H, W, 3] RGB image (HWC, as
// read_image gives it) becomes [1, 3, h, w] planes of the requested floating
// dtype, each value (v * scale - mean) / std of its plane, either
// resized bilinearly to [h, w] (align_corners false) or copied to the
// top-left of zeros (0 is the normalised mean colour). The result equals,
// bit for bit, normalising in float32 on the host, resizing with
// upsample_bilinear2d and casting to the dtype (tests/ops/test_image.cpp);
// on CUDA the image travels as u8, a third of float32's bytes, and the planes
// are made on the device (cuda/image.cu), with the same bits as on the CPU.
// The result lies on the image's device.
#pragma once

#include <array>
#include <cstdint>

#include "runtime/tensor.h"

namespace cudaseg::ops {

struct ImageInputSpec {
  std::array<int64_t, 2> size{0, 0};  // the output's [h, w]
  // true: the image at the top-left of zeros (size at least the image's);
  // false: resized to size (a copy when it is the image's).
  bool pad = false;
  // Per output plane, in the planes' order (a checkpoint's channel_order).
  std::array<double, 3> mean{0.0, 0.0, 0.0}, std{1.0, 1.0, 1.0};
  double scale = 1.0;
  bool bgr = false;  // output planes B, G, R (read from the RGB image's channels 2, 1, 0)
  DType dtype = DType::f32;
};

Tensor image_to_input(const Tensor& image, const ImageInputSpec& spec);

}  // namespace cudaseg::ops
