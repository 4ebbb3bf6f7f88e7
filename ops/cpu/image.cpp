#include <algorithm>
#include <vector>

#include "ops/kernels/image.h"
#include "runtime/thread_pool.h"

namespace cudaseg::ops::cpu {
namespace {

using kernels::image_input::Params;
using kernels::image_input::Tap;

template <typename T>
void fill(const Tensor& image, const Tensor& output, const Params& p) {
  namespace ii = kernels::image_input;
  const int64_t ih = image.size(0), iw = image.size(1), oh = output.size(2), ow = output.size(3);
  const uint8_t* in = image.data<uint8_t>();
  T* out = output.data<T>();
  // The taps of every column, shared by all rows (the CUDA kernel computes
  // them per pixel with the same function, so the bits agree).
  std::vector<Tap> tx(static_cast<size_t>(ow));
  const float rx = ii::resize_ratio(iw, ow), ry = ii::resize_ratio(ih, oh);
  for (int64_t x = 0; x < ow; ++x) tx[x] = ii::linear_tap(x, iw, ow, rx);
  parallel_for(0, oh, std::max<int64_t>(1, 4096 / ow), [&](int64_t first, int64_t last) {
    for (int64_t y = first; y < last; ++y) {
      for (int c = 0; c < 3; ++c) {
        const float* lut = p.lut[c];
        const int ch = p.source_channel[c];
        T* row = out + (c * oh + y) * ow;
        if (p.pad) {
          const int64_t inside = y < ih ? iw : 0;
          for (int64_t x = 0; x < inside; ++x) row[x] = convert<T>(lut[in[(y * iw + x) * 3 + ch]]);
          for (int64_t x = inside; x < ow; ++x) row[x] = convert<T>(0.0f);
          continue;
        }
        const Tap ty = ii::linear_tap(y, ih, oh, ry);
        for (int64_t x = 0; x < ow; ++x) row[x] = convert<T>(ii::resized_value(in, iw, lut, ch, ty, tx[x]));
      }
    }
  });
}

void image_to_input(const Tensor& image, const Tensor& output, const Params& params) {
  switch (output.dtype()) {
    case DType::f32: return fill<float>(image, output, params);
    case DType::f64: return fill<double>(image, output, params);
    case DType::f16: return fill<Half>(image, output, params);
    case DType::bf16: return fill<BFloat16>(image, output, params);
    default: CUDASEG_FAIL("image_to_input: the output dtype must be floating, got ", dtype_name(output.dtype()));
  }
}

}  // namespace

CUDASEG_REGISTER_KERNEL(kernels::image_to_input, cpu, image_to_input)

}  // namespace cudaseg::ops::cpu
