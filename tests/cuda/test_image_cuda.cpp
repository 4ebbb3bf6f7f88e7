// The device kernel of ops::image_to_input against the CPU kernel, bit for
// bit in every output dtype: both evaluate ops/kernels/image_index.h with
// each operation rounded on its own, and the 16-bit casts round to nearest
// even on both sides. The CPU kernel equals the host path it replaced
// (tests/ops/test_image.cpp). Outputs are poisoned with NaN first, so an
// element the kernel leaves unwritten (the padding) fails.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "common/cuda_compare.h"
#include "common/cuda_skip.h"
#include "ops/image.h"
#include "runtime/rng.h"

namespace cudaseg::ops {
namespace {

Tensor random_image(int64_t h, int64_t w, uint64_t seed) {
  const Tensor u = Generator(seed, 0).uniform({h, w, 3}, 0.0, 255.99);
  return u.to(DType::u8);
}

struct Case {
  int64_t h, w;
  std::array<int64_t, 2> size;
  bool pad;
};

// Those of tests/ops/test_image.cpp, and a photo-sized one (a grid of many
// blocks, rows longer than a block).
const Case kCases[] = {
    {37, 53, {37, 53}, false}, {37, 53, {64, 64}, true},     {37, 53, {37, 64}, true},
    {37, 53, {16, 24}, false}, {13, 17, {32, 40}, false},    {40, 30, {40, 17}, false},
    {1, 1, {5, 7}, false},     {96, 160, {48, 80}, false},   {5, 3, {8, 8}, true},
    {1024, 2048, {512, 1024}, false}, {1000, 1500, {1024, 1504}, true},
};

TEST(ImageToInputCuda, EqualsTheCpuKernelBitForBit) {
  CUDASEG_REQUIRE_CUDA();
  uint64_t seed = 1;
  for (const Case& c : kCases)
    for (DType dtype : {DType::f32, DType::f16, DType::bf16, DType::f64})
      for (bool bgr : {false, true}) {
        const std::string what = std::to_string(c.h) + "x" + std::to_string(c.w) + " -> " +
                                 std::to_string(c.size[0]) + "x" + std::to_string(c.size[1]) +
                                 (c.pad ? " pad " : " resize ") + dtype_name(dtype) + (bgr ? " BGR" : "");
        SCOPED_TRACE(what);
        const Tensor image = random_image(c.h, c.w, seed++);
        ImageInputSpec spec;
        spec.size = c.size;
        spec.pad = c.pad;
        spec.mean = {0.485, 0.456, 0.406};
        spec.std = {0.229, 0.224, 0.225};
        spec.scale = 1.0 / 255.0;
        spec.bgr = bgr;
        spec.dtype = dtype;
        testing::cuda::poison({1, 3, c.size[0], c.size[1]}, dtype);
        const Tensor got = image_to_input(image.to(Device::cuda(0)), spec);
        ASSERT_TRUE(got.device().is_cuda());
        const Tensor host = got.to(Device::cpu());
        const Tensor want = image_to_input(image, spec);
        ASSERT_EQ(host.shape(), want.shape());
        const size_t bytes = static_cast<size_t>(want.numel()) * dtype_size(dtype);
        if (std::memcmp(host.raw_data(), want.raw_data(), bytes) != 0) {
          const std::vector<double> g = host.to_vector(), w = want.to_vector();
          for (size_t i = 0; i < g.size(); ++i)
            if (!(g[i] == w[i])) {
              ADD_FAILURE() << "element " << i << ": device " << g[i] << ", CPU " << w[i];
              break;
            }
        }
      }
}

}  // namespace
}  // namespace cudaseg::ops
