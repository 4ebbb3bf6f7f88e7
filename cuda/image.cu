// A u8 HWC photo into a net's input on the device (ops/image.h): one thread
// per output pixel reads its (at most four) source pixels' three bytes,
// which lie side by side, and writes the pixel's three planes, so
// consecutive threads store consecutive addresses of each plane. The
// normalisation tables (3 KiB) are copied into shared memory first: the
// kernel parameters they arrive in are constant memory, which serialises a
// warp's reads of different addresses, and a table lookup by pixel value
// is exactly that. The arithmetic is ops/kernels/image_index.h's, shared
// with the CPU kernel, so both give the same bits.
#include "cuda/common.cuh"
#include "ops/kernels/image.h"

namespace cudaseg::cuda {
namespace {

namespace ii = ops::kernels::image_input;

template <typename T>
__global__ void image_to_input_kernel(const uint8_t* image, T* out, int64_t ih, int64_t iw, int64_t oh, int64_t ow,
                                      float ry, float rx, const ii::Params p) {
  __shared__ float lut[3][256];
  for (int i = threadIdx.x; i < 3 * 256; i += blockDim.x) lut[i / 256][i % 256] = p.lut[i / 256][i % 256];
  __syncthreads();
  const int64_t plane = oh * ow;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < plane;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t x = i % ow, y = i / ow;
    if (p.pad) {
      const bool inside = y < ih && x < iw;
#pragma unroll
      for (int c = 0; c < 3; ++c)
        out[c * plane + i] = store<T>(inside ? lut[c][image[(y * iw + x) * 3 + p.source_channel[c]]] : 0.0f);
      continue;
    }
    const ii::Tap ty = ii::linear_tap(y, ih, oh, ry), tx = ii::linear_tap(x, iw, ow, rx);
#pragma unroll
    for (int c = 0; c < 3; ++c)
      out[c * plane + i] = store<T>(ii::resized_value(image, iw, lut[c], p.source_channel[c], ty, tx));
  }
}

void image_to_input(const Tensor& image, const Tensor& output, const ii::Params& params) {
  const int64_t ih = image.size(0), iw = image.size(1), oh = output.size(2), ow = output.size(3);
  gpu::DeviceGuard guard(output.device().index);
  const float ry = ii::resize_ratio(ih, oh), rx = ii::resize_ratio(iw, ow);
  dispatch_floating("image_to_input", output.dtype(), [&](auto tag) {
    using T = decltype(tag);
    image_to_input_kernel<T><<<blocks_for(oh * ow), kThreads, 0, stream_for(output)>>>(
        ptr<const uint8_t>(image), ptr<T>(output), ih, iw, oh, ow, ry, rx, params);
  });
  CUDASEG_CUDA_LAUNCH_CHECK("image_to_input ", image.str(), " -> ", output.str());
}

}  // namespace

CUDASEG_REGISTER_KERNEL(ops::kernels::image_to_input, cuda, image_to_input)

}  // namespace cudaseg::cuda
