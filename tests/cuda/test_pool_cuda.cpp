// CUDA pooling against the CPU kernels: every op, forward and backward, in
// float32, float64, float16 and bfloat16, on odd sizes and non-contiguous
// inputs. The CPU runs in float64 on the very values the device sees (random
// values rounded through the device dtype), and outputs are poisoned with NaN
// first so that an element a kernel fails to write fails the comparison.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "common/cuda_skip.h"
#include "common/testing.h"
#include "ops/pool.h"
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
// the error is that of float32 sums for float32, and for the 16-bit types
// mostly the final rounding of each output to an 11-bit (float16, unit
// roundoff 4.9e-4) or 8-bit (bfloat16, 3.9e-3) mantissa.
double tolerance(DType d) {
  switch (d) {
    case DType::f64: return 1e-12;
    case DType::f32: return 1e-5;
    case DType::f16: return 1e-2;
    default: return 2e-2;
  }
}

// float64 CPU values that `d` represents exactly.
Tensor values(const Shape& shape, uint64_t seed, DType d) {
  return ct::randn(shape, seed).to(d).to(DType::f64);
}

// `t` on the device in dtype `d`, as a strided view when asked.
Tensor device_copy(const Tensor& t, DType d, bool strided) {
  Tensor g = t.to(Device::cuda(0), d);
  return strided ? ct::noncontiguous(g) : g;
}

// Leaves freed blocks of the given shapes, filled with NaN (integers with
// -777), in the caching allocator: the op's next allocations of those sizes
// (best fit, on the same stream) get them back.
void poison(const std::vector<std::pair<Shape, DType>>& outputs) {
  gpu::empty_cache();
  std::vector<Tensor> blocks;
  for (const auto& [shape, dtype] : outputs) {
    blocks.push_back(Tensor::empty(shape, dtype, Device::cuda(0)));
    blocks.back().fill_(dtype == DType::i64 ? -777.0 : NAN);
  }
}

void expect_close(const Tensor& got, const Tensor& ref, DType d, const std::string& what) {
  ASSERT_TRUE(got.device().is_cuda()) << what;
  EXPECT_EQ(got.dtype(), d) << what;
  ASSERT_EQ(got.shape(), ref.shape()) << what;
  EXPECT_LE(ct::rel_l2(got, ref), tolerance(d)) << what << " " << cudaseg::dtype_name(d);
}

std::vector<ops::MaxPool2dParams> max_configs() {
  std::vector<ops::MaxPool2dParams> c(4);
  c[0].kernel_size = {3, 3}, c[0].stride = {2, 2}, c[0].padding = {1, 1};
  c[1].kernel_size = {2, 2};
  c[2].kernel_size = {3, 3}, c[2].stride = {1, 1}, c[2].padding = {1, 1}, c[2].dilation = {2, 2};
  c[3].kernel_size = {3, 2}, c[3].stride = {2, 1}, c[3].padding = {1, 0}, c[3].ceil_mode = true;
  return c;
}

std::vector<ops::AvgPool2dParams> avg_configs() {
  std::vector<ops::AvgPool2dParams> c(5);
  c[0].kernel_size = {3, 3}, c[0].stride = {2, 2}, c[0].padding = {1, 1};
  c[1] = c[0], c[1].count_include_pad = false, c[1].ceil_mode = true;
  c[2].kernel_size = {2, 2};
  c[3].kernel_size = {3, 3}, c[3].stride = {1, 1}, c[3].padding = {1, 1}, c[3].divisor_override = 5;
  c[4].kernel_size = {3, 5}, c[4].stride = {2, 3}, c[4].padding = {1, 2}, c[4].ceil_mode = true;
  c[4].count_include_pad = false;
  return c;
}

const Shape kInput{2, 3, 11, 13};

}  // namespace

TEST(CudaPool, MaxPool2dForwardAndBackward) {
  CUDASEG_REQUIRE_CUDA();
  uint64_t seed = 100;
  for (const ops::MaxPool2dParams& p : max_configs())
    for (DType d : kDtypes)
      for (bool strided : {false, true}) {
        const std::string what = "max_pool2d k" + std::to_string(p.kernel_size[0]) + " strided " +
                                 std::to_string(strided);
        const Tensor x = values(kInput, ++seed, d);
        const auto [ref, ref_idx] = ops::max_pool2d_with_indices(x, p);
        const Tensor xg = device_copy(x, d, strided);
        poison({{ref.shape(), d}, {ref.shape(), DType::i64}});
        const auto [out, idx] = ops::max_pool2d_with_indices(xg, p);
        expect_close(out, ref, d, what);
        // Same values, same comparisons: the same argmax, ties included.
        EXPECT_EQ(idx.to_vector(), ref_idx.to_vector()) << what;

        const Tensor gy = values(ref.shape(), ++seed, d);
        const Tensor ref_gx = ops::max_pool2d_backward(gy, ref_idx, kInput);
        const Tensor gyg = device_copy(gy, d, strided);
        poison({{kInput, d}});
        const Tensor gx = ops::max_pool2d_backward(gyg, idx, kInput);
        expect_close(gx, ref_gx, d, what + " backward");
        if (d == DType::f32) {
          // The gather adds in the CPU's order: bitwise the float32 CPU result.
          const Tensor cpu32 = ops::max_pool2d_backward(gy.to(DType::f32), ref_idx, kInput);
          EXPECT_EQ(gx.to_vector(), cpu32.to_vector()) << what;
        }
      }
}

TEST(CudaPool, MaxUnpool2dForwardAndBackward) {
  CUDASEG_REQUIRE_CUDA();
  uint64_t seed = 200;
  // Overlapping windows (the first config) repeat indices: the last must win.
  for (const ops::MaxPool2dParams& p : max_configs())
    for (DType d : kDtypes)
      for (bool strided : {false, true}) {
        const Tensor x = values(kInput, ++seed, d);
        const auto [pooled, idx] = ops::max_pool2d_with_indices(x, p);
        const std::array<int64_t, 2> size = {kInput[2], kInput[3]};
        const Tensor ref = ops::max_unpool2d(pooled, idx, size);
        const Tensor pg = device_copy(pooled, d, strided);
        const Tensor ig = idx.to(Device::cuda(0));
        const Shape out_shape{kInput[0], kInput[1], size[0], size[1]};
        poison({{out_shape, d}});
        expect_close(ops::max_unpool2d(pg, ig, size), ref, d, "max_unpool2d");

        const Tensor gy = values(out_shape, ++seed, d);
        const Tensor ref_gx = ops::max_unpool2d_backward(gy, idx);
        const Tensor gyg = device_copy(gy, d, strided);
        poison({{idx.shape(), d}});
        expect_close(ops::max_unpool2d_backward(gyg, ig), ref_gx, d, "max_unpool2d_backward");
      }
}

TEST(CudaPool, AvgPool2dForwardAndBackward) {
  CUDASEG_REQUIRE_CUDA();
  uint64_t seed = 300;
  int config = 0;
  for (const ops::AvgPool2dParams& p : avg_configs()) {
    ++config;
    for (DType d : kDtypes)
      for (bool strided : {false, true}) {
        const std::string what = "avg_pool2d config " + std::to_string(config);
        const Tensor x = values(kInput, ++seed, d);
        const Tensor ref = ops::avg_pool2d(x, p);
        const Tensor xg = device_copy(x, d, strided);
        poison({{ref.shape(), d}});
        expect_close(ops::avg_pool2d(xg, p), ref, d, what);

        const Tensor gy = values(ref.shape(), ++seed, d);
        const Tensor ref_gx = ops::avg_pool2d_backward(gy, kInput, p);
        const Tensor gyg = device_copy(gy, d, strided);
        poison({{kInput, d}});
        expect_close(ops::avg_pool2d_backward(gyg, kInput, p), ref_gx, d, what + " backward");
      }
  }
}

TEST(CudaPool, AdaptivePoolingForwardAndBackward) {
  CUDASEG_REQUIRE_CUDA();
  uint64_t seed = 400;
  // Shrinking, global, growing (overlapping windows), identity, mixed.
  const std::vector<std::array<int64_t, 2>> sizes = {{4, 5}, {1, 1}, {15, 17}, {11, 13}, {3, 13}};
  for (const auto& size : sizes)
    for (DType d : kDtypes)
      for (bool strided : {false, true}) {
        const std::string what = std::to_string(size[0]) + "x" + std::to_string(size[1]);
        const Shape out_shape{kInput[0], kInput[1], size[0], size[1]};
        const Tensor x = values(kInput, ++seed, d);
        const Tensor xg = device_copy(x, d, strided);

        const Tensor ref_avg = ops::adaptive_avg_pool2d(x, size);
        poison({{out_shape, d}});
        expect_close(ops::adaptive_avg_pool2d(xg, size), ref_avg, d, "adaptive_avg_pool2d " + what);

        const auto [ref_max, ref_idx] = ops::adaptive_max_pool2d_with_indices(x, size);
        poison({{out_shape, d}, {out_shape, DType::i64}});
        const auto [out_max, idx] = ops::adaptive_max_pool2d_with_indices(xg, size);
        expect_close(out_max, ref_max, d, "adaptive_max_pool2d " + what);
        EXPECT_EQ(idx.to_vector(), ref_idx.to_vector()) << what;

        const Tensor gy = values(out_shape, ++seed, d);
        const Tensor gyg = device_copy(gy, d, strided);
        const Tensor ref_gavg = ops::adaptive_avg_pool2d_backward(gy, kInput);
        poison({{kInput, d}});
        expect_close(ops::adaptive_avg_pool2d_backward(gyg, kInput), ref_gavg, d,
                     "adaptive_avg_pool2d_backward " + what);
        const Tensor ref_gmax = ops::max_pool2d_backward(gy, ref_idx, kInput);
        poison({{kInput, d}});
        expect_close(ops::max_pool2d_backward(gyg, idx, kInput), ref_gmax, d, "adaptive max backward " + what);
      }
}

TEST(CudaPool, BackwardsAreDeterministic) {
  CUDASEG_REQUIRE_CUDA();
  const Shape big{4, 16, 67, 61};
  const Tensor x = ct::randn(big, 7, DType::f32).to(Device::cuda(0));
  ops::MaxPool2dParams mp;
  mp.kernel_size = {3, 3}, mp.stride = {1, 1}, mp.padding = {1, 1};
  ops::AvgPool2dParams ap;
  ap.kernel_size = {3, 3}, ap.stride = {2, 2}, ap.padding = {1, 1};
  const auto [y, idx] = ops::max_pool2d_with_indices(x, mp);
  const Tensor gy = ct::randn(y.shape(), 8, DType::f32).to(Device::cuda(0));
  const Tensor ga = ct::randn(ops::avg_pool2d(x, ap).shape(), 9, DType::f32).to(Device::cuda(0));
  const Tensor gs = ct::randn({4, 16, 29, 31}, 10, DType::f32).to(Device::cuda(0));
  EXPECT_EQ(ops::max_pool2d_backward(gy, idx, big).to_vector(), ops::max_pool2d_backward(gy, idx, big).to_vector());
  EXPECT_EQ(ops::avg_pool2d_backward(ga, big, ap).to_vector(), ops::avg_pool2d_backward(ga, big, ap).to_vector());
  EXPECT_EQ(ops::adaptive_avg_pool2d_backward(gs, big).to_vector(),
            ops::adaptive_avg_pool2d_backward(gs, big).to_vector());
}

TEST(CudaPool, IndicesOutsideThePlaneAreErrors) {
  CUDASEG_REQUIRE_CUDA();
  const Tensor gy = Tensor::ones({1, 2, 2, 2}, DType::f32, Device::cuda(0));
  const Tensor bad = Tensor::from_vector({0, 1, 2, 3, 4, 5, 6, 99}, {1, 2, 2, 2}, DType::i64).to(Device::cuda(0));
  EXPECT_TRUE(ct::throws_mentioning([&] { ops::max_pool2d_backward(gy, bad, {1, 2, 3, 3}); },
                                    {"max_pool2d_backward", "99", "outside the input plane"}));
  EXPECT_TRUE(ct::throws_mentioning([&] { ops::max_unpool2d(gy, bad, {3, 3}); },
                                    {"max_unpool2d", "99", "outside the output plane"}));
  EXPECT_TRUE(ct::throws_mentioning([&] { ops::max_unpool2d_backward(Tensor::ones({1, 2, 3, 3}, DType::f32,
                                                                                  Device::cuda(0)), bad); },
                                    {"max_unpool2d_backward", "99", "outside the plane"}));
  // The device is still usable afterwards.
  const Tensor ok = Tensor::zeros({1, 2, 2, 2}, DType::i64, Device::cuda(0));
  EXPECT_EQ(ops::max_pool2d_backward(gy, ok, {1, 2, 3, 3}).to_vector()[0], 4.0);
}
