// CUDA resampling against the CPU kernels: nearest and bilinear upsampling
// (sizes and scale factors, align_corners both ways), grid_sample (zeros and
// border, align_corners both ways) and pixel (un)shuffle, forward and
// backward, in float32, float64, float16 and bfloat16, on odd sizes and
// non-contiguous inputs. The CPU runs in float64 on the very values the device
// sees (random values rounded through the device dtype), and outputs are
// poisoned with NaN first so that an element a kernel fails to write fails the
// comparison.
#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/cuda_skip.h"
#include "common/testing.h"
#include "ops/resize.h"
#include "runtime/gpu.h"

namespace ct = cudaseg::testing;
using cudaseg::Device;
using cudaseg::DType;
using cudaseg::Shape;
using cudaseg::Tensor;
namespace ops = cudaseg::ops;
namespace gpu = cudaseg::gpu;

namespace {

const DType kDtypes[] = {DType::f32, DType::f64, DType::f16, DType::bf16};

// Relative L2 bounds against the float64 CPU result. Inputs are exact in
// every dtype and the device accumulates in float32 (float64 for float64), so
// the error is that of float32 arithmetic for float32, and for the 16-bit
// types mostly the final rounding of each output to an 11-bit (float16, unit
// roundoff 4.9e-4) or 8-bit (bfloat16, 3.9e-3) mantissa. (Bilinear source
// coordinates are float32 on the device and float64 on the CPU; the
// interpolation is continuous in them, so that costs float32 rounding only.)
double tolerance(DType d) {
  switch (d) {
    case DType::f64: return 1e-12;
    case DType::f32: return 1e-5;
    case DType::f16: return 1e-2;
    default: return 2e-2;
  }
}

// float64 CPU values that `d` represents exactly.
Tensor values(const Tensor& t, DType d) { return t.to(d).to(DType::f64); }
Tensor values(const Shape& shape, uint64_t seed, DType d) { return values(ct::randn(shape, seed), d); }

// `t` on the device in dtype `d`, as a strided view when asked.
Tensor device_copy(const Tensor& t, DType d, bool strided) {
  Tensor g = t.to(Device::cuda(0), d);
  return strided ? ct::noncontiguous(g) : g;
}

// Leaves freed blocks of the given shapes, filled with NaN, in the caching
// allocator: the op's next allocations of those sizes (best fit, on the same
// stream) get them back.
void poison(const std::vector<std::pair<Shape, DType>>& outputs) {
  gpu::empty_cache();
  std::vector<Tensor> blocks;
  for (const auto& [shape, dtype] : outputs) {
    blocks.push_back(Tensor::empty(shape, dtype, Device::cuda(0)));
    blocks.back().fill_(NAN);
  }
}

void expect_close(const Tensor& got, const Tensor& ref, DType d, const std::string& what) {
  ASSERT_TRUE(got.defined()) << what;
  ASSERT_TRUE(got.device().is_cuda()) << what;
  EXPECT_EQ(got.dtype(), d) << what;
  ASSERT_EQ(got.shape(), ref.shape()) << what;
  EXPECT_LE(ct::rel_l2(got, ref), tolerance(d)) << what << " " << cudaseg::dtype_name(d);
}

// An upsample call: output size and the scales the kernel is given.
struct Resize {
  std::array<int64_t, 2> size;
  std::optional<double> scale_h, scale_w;
};

const Shape kInput{2, 3, 7, 9};

std::vector<Resize> resizes() {
  return {{{13, 20}, std::nullopt, std::nullopt},  // up, non-integer ratios
          {{3, 4}, std::nullopt, std::nullopt},    // down
          {{7, 20}, std::nullopt, std::nullopt},   // one axis unchanged
          {{1, 1}, std::nullopt, std::nullopt},
          {{14, 27}, 2.0, 3.0},                    // integer scale factors
          {{15, 20}, 2.2, 2.3},                    // scale factors that are not in/out
          {{5, 4}, 0.75, 0.5}};
}

std::string str(const Resize& r) {
  return std::to_string(r.size[0]) + "x" + std::to_string(r.size[1]) +
         (r.scale_h ? " scale " + std::to_string(*r.scale_h) : std::string());
}

}  // namespace

TEST(CudaResize, NearestForwardAndBackward) {
  CUDASEG_REQUIRE_CUDA();
  uint64_t seed = 500;
  for (const Resize& r : resizes())
    for (DType d : kDtypes)
      for (bool strided : {false, true}) {
        const Shape out_shape{kInput[0], kInput[1], r.size[0], r.size[1]};
        const Tensor x = values(kInput, ++seed, d);
        const Tensor ref = ops::upsample_nearest2d(x, r.size, r.scale_h, r.scale_w);
        const Tensor xg = device_copy(x, d, strided);
        poison({{out_shape, d}});
        const Tensor out = ops::upsample_nearest2d(xg, r.size, r.scale_h, r.scale_w);
        expect_close(out, ref, d, "nearest " + str(r));
        // A pure copy: the same float32 index rule gives the very same elements.
        EXPECT_EQ(out.to_vector(), ref.to_vector()) << str(r);

        const Tensor gy = values(out_shape, ++seed, d);
        const Tensor ref_gx = ops::upsample_nearest2d_backward(gy, kInput, r.scale_h, r.scale_w);
        const Tensor gyg = device_copy(gy, d, strided);
        poison({{kInput, d}});
        expect_close(ops::upsample_nearest2d_backward(gyg, kInput, r.scale_h, r.scale_w), ref_gx, d,
                     "nearest backward " + str(r));
      }
}

TEST(CudaResize, BilinearForwardAndBackward) {
  CUDASEG_REQUIRE_CUDA();
  uint64_t seed = 600;
  for (const Resize& r : resizes())
    for (bool ac : {false, true})
      for (DType d : kDtypes)
        for (bool strided : {false, true}) {
          const std::string what = "bilinear " + str(r) + (ac ? " align_corners" : "");
          const Shape out_shape{kInput[0], kInput[1], r.size[0], r.size[1]};
          const Tensor x = values(kInput, ++seed, d);
          const Tensor ref = ops::upsample_bilinear2d(x, r.size, ac, r.scale_h, r.scale_w);
          const Tensor xg = device_copy(x, d, strided);
          poison({{out_shape, d}});
          expect_close(ops::upsample_bilinear2d(xg, r.size, ac, r.scale_h, r.scale_w), ref, d, what);

          const Tensor gy = values(out_shape, ++seed, d);
          const Tensor ref_gx = ops::upsample_bilinear2d_backward(gy, kInput, ac, r.scale_h, r.scale_w);
          const Tensor gyg = device_copy(gy, d, strided);
          poison({{kInput, d}});
          expect_close(ops::upsample_bilinear2d_backward(gyg, kInput, ac, r.scale_h, r.scale_w), ref_gx, d,
                       what + " backward");
        }
}

TEST(CudaResize, InterpolateDispatchesToCuda) {
  CUDASEG_REQUIRE_CUDA();
  const Tensor x = values(kInput, 650, DType::f32);
  const Tensor xg = x.to(Device::cuda(0), DType::f32);
  const std::array<double, 2> sf{1.7, 2.5};
  for (const std::string mode : {"nearest", "bilinear"}) {
    const std::optional<bool> ac = mode == "bilinear" ? std::optional<bool>(false) : std::nullopt;
    expect_close(ops::interpolate(xg, std::nullopt, sf, mode, ac), ops::interpolate(x, std::nullopt, sf, mode, ac),
                 DType::f32, "interpolate " + mode);
    expect_close(ops::interpolate(xg, std::nullopt, sf, mode, ac, true),
                 ops::interpolate(x, std::nullopt, sf, mode, ac, true), DType::f32, "interpolate recomputed " + mode);
  }
}

TEST(CudaResize, LargeFactorsAndDeterministicBackward) {
  CUDASEG_REQUIRE_CUDA();
  // A segmentation head's x8 upsampling and a strong downsampling.
  const Shape in{2, 5, 16, 24};
  const Tensor x = values(in, 660, DType::f32);
  const Tensor xg = x.to(Device::cuda(0), DType::f32);
  for (const std::array<int64_t, 2> size : {std::array<int64_t, 2>{128, 192}, std::array<int64_t, 2>{3, 5}})
    for (bool ac : {false, true}) {
      const Shape out_shape{in[0], in[1], size[0], size[1]};
      expect_close(ops::upsample_bilinear2d(xg, size, ac), ops::upsample_bilinear2d(x, size, ac), DType::f32,
                   "large bilinear");
      const Tensor gy = values(out_shape, 661, DType::f32);
      const Tensor gyg = gy.to(Device::cuda(0), DType::f32);
      const Tensor gx = ops::upsample_bilinear2d_backward(gyg, in, ac);
      expect_close(gx, ops::upsample_bilinear2d_backward(gy, in, ac), DType::f32, "large bilinear backward");
      EXPECT_EQ(gx.to_vector(), ops::upsample_bilinear2d_backward(gyg, in, ac).to_vector());
      const Tensor gn = ops::upsample_nearest2d_backward(gyg, in);
      expect_close(gn, ops::upsample_nearest2d_backward(gy, in), DType::f32, "large nearest backward");
      EXPECT_EQ(gn.to_vector(), ops::upsample_nearest2d_backward(gyg, in).to_vector());
    }
}

TEST(CudaResize, GridSampleForwardAndBackward) {
  CUDASEG_REQUIRE_CUDA();
  uint64_t seed = 700;
  const Shape grid_shape{kInput[0], 5, 6, 2};
  const Shape out_shape{kInput[0], kInput[1], 5, 6};
  for (const std::string pad : {"zeros", "border"})
    for (bool ac : {false, true})
      for (DType d : kDtypes)
        for (bool strided : {false, true}) {
          const std::string what = "grid_sample " + pad + (ac ? " align_corners" : "");
          const Tensor x = values(kInput, ++seed, d);
          // Beyond [-1, 1], so that zeros and border padding both matter.
          const Tensor grid = values(ct::uniform(grid_shape, -1.2, 1.2, ++seed), d);
          const Tensor ref = ops::grid_sample(x, grid, "bilinear", pad, ac);
          const Tensor xg = device_copy(x, d, strided), gridg = device_copy(grid, d, strided);
          poison({{out_shape, d}});
          expect_close(ops::grid_sample(xg, gridg, "bilinear", pad, ac), ref, d, what);

          const Tensor gy = values(out_shape, ++seed, d);
          const auto [ref_gx, ref_gg] = ops::grid_sample_backward(gy, x, grid, "bilinear", pad, ac);
          const Tensor gyg = device_copy(gy, d, strided);
          poison({{kInput, d}, {grid_shape, d}});
          const auto [gx, gg] = ops::grid_sample_backward(gyg, xg, gridg, "bilinear", pad, ac);
          expect_close(gx, ref_gx, d, what + " grad input");
          expect_close(gg, ref_gg, d, what + " grad grid");
          // Each gradient alone.
          poison({{kInput, d}});
          const auto [only_gx, no_gg] = ops::grid_sample_backward(gyg, xg, gridg, "bilinear", pad, ac, {true, false});
          expect_close(only_gx, ref_gx, d, what + " grad input alone");
          EXPECT_FALSE(no_gg.defined());
          poison({{grid_shape, d}});
          const auto [no_gx, only_gg] = ops::grid_sample_backward(gyg, xg, gridg, "bilinear", pad, ac, {false, true});
          EXPECT_FALSE(no_gx.defined());
          expect_close(only_gg, ref_gg, d, what + " grad grid alone");
        }
}

TEST(CudaResize, PixelShuffleRunsOnCuda) {
  CUDASEG_REQUIRE_CUDA();
  uint64_t seed = 800;
  for (DType d : kDtypes)
    for (bool strided : {false, true}) {
      const Tensor x = values({2, 12, 3, 5}, ++seed, d);
      const Tensor xg = device_copy(x, d, strided);
      const Tensor up = ops::pixel_shuffle(xg, 2);
      EXPECT_TRUE(up.device().is_cuda());
      EXPECT_EQ(up.to_vector(), ops::pixel_shuffle(x, 2).to_vector());
      const Tensor y = values({2, 3, 6, 10}, ++seed, d);
      const Tensor down = ops::pixel_unshuffle(device_copy(y, d, strided), 2);
      EXPECT_TRUE(down.device().is_cuda());
      EXPECT_EQ(down.to_vector(), ops::pixel_unshuffle(y, 2).to_vector());
      EXPECT_EQ(ops::pixel_unshuffle(up, 2).to_vector(), x.to_vector());
    }
}
