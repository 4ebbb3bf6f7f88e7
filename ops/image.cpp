#include "ops/image.h"

#include "ops/kernels/image.h"

namespace cudaseg::ops {

Kernel<kernels::ImageToInputFn> kernels::image_to_input("image_to_input");

Tensor image_to_input(const Tensor& image, const ImageInputSpec& spec) {
  const char* op = "image_to_input";
  CUDASEG_CHECK(image.defined() && image.dim() == 3 && image.size(2) == 3 && image.dtype() == DType::u8, op,
                ": the image must be u8 [H, W, 3] (HWC, RGB), got ", image.defined() ? image.str() : "undefined");
  const int64_t h = image.size(0), w = image.size(1);
  CUDASEG_CHECK(h > 0 && w > 0, op, ": empty image ", image.str());
  CUDASEG_CHECK(spec.size[0] > 0 && spec.size[1] > 0, op, ": output size [", spec.size[0], ", ", spec.size[1],
                "] must be positive");
  CUDASEG_CHECK(!spec.pad || (spec.size[0] >= h && spec.size[1] >= w), op, ": cannot pad ", image.str(), " to [",
                spec.size[0], ", ", spec.size[1], "]");
  CUDASEG_CHECK(is_floating(spec.dtype), op, ": the output dtype must be floating, got ", dtype_name(spec.dtype));
  kernels::image_input::Params p{};
  for (int c = 0; c < 3; ++c) {
    const int from = spec.bgr ? 2 - c : c;
    CUDASEG_CHECK(spec.std[c] != 0.0, op, ": std of plane ", c, " is 0");
    // In double, rounded once to float: the host normalisation this replaces.
    const double mul = spec.scale / spec.std[c], add = -spec.mean[c] / spec.std[c];
    p.source_channel[c] = from;
    for (int v = 0; v < 256; ++v) p.lut[c][v] = static_cast<float>(v * mul + add);
  }
  p.pad = spec.pad;
  Tensor out = Tensor::empty({1, 3, spec.size[0], spec.size[1]}, spec.dtype, image.device());
  kernels::image_to_input(image.device(), image.contiguous(), out, p);
  return out;
}

}  // namespace cudaseg::ops
