// conv2d and conv_transpose2d on CUDA (cuDNN for dense and grouped, the
// hand-written kernels for depthwise, the bias kernels) against the CPU ops in
// float64 on the same values, per dtype, forward and every backward.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "common/cuda_skip.h"
#include "common/testing.h"
#include "ops/conv.h"
#include "runtime/gpu.h"

namespace ct = cudaseg::testing;
using cudaseg::Device;
using cudaseg::DType;
using cudaseg::Shape;
using cudaseg::Tensor;
using cudaseg::ops::Conv2dParams;
using cudaseg::ops::ConvTranspose2dParams;

namespace {

const Device kCuda = Device::cuda(0);
const DType kDtypes[] = {DType::f32, DType::f16, DType::bf16, DType::f64};

// Relative L2 bounds. The CPU reference computes in float64 on the very
// values the device sees (inputs are rounded to the dtype first), so only the
// device's arithmetic counts: fp32 uses FMA math (TF32 is off), so it is
// accurate to a few ulps of the sums; fp16 (11-bit mantissa) and bf16 (8-bit)
// accumulate in fp32, so the error is dominated by rounding the result to
// the dtype, 2^-11 and 2^-8 relative, well below 1e-2 and 2e-2.
double tolerance(DType dtype) {
  switch (dtype) {
    case DType::f64: return 1e-10;
    case DType::f32: return 1e-5;
    case DType::f16: return 1e-2;
    default: return 2e-2;
  }
}

// Random values representable in `dtype`, held in float64 on the CPU.
Tensor random(const Shape& shape, uint64_t seed, DType dtype) {
  return ct::randn(shape, seed).to(dtype).to(DType::f64);
}

// `t` in `dtype` on the device, as a non-contiguous view (every other column
// of a wider buffer) when `strided`.
Tensor on_device(const Tensor& t, DType dtype, bool strided) {
  Tensor d = t.to(kCuda, dtype);
  if (!strided) return d;
  Shape wide = t.shape();
  wide.back() *= 2;
  Tensor view = Tensor::empty(wide, dtype, kCuda).slice(-1, 0, wide.back(), 2);
  view.copy_(d);
  return view;
}

// Makes the caching allocator's next block of this size a NaN-filled one, so
// that an op allocating its output there must write every element.
void poison_next_output(const Shape& shape, DType dtype) {
  Tensor t = Tensor::empty(shape, dtype, kCuda);
  t.fill_(NAN);
}

template <typename F>
Tensor run_poisoned(const Shape& out_shape, DType dtype, F op) {
  poison_next_output(out_shape, dtype);
  Tensor out = op();
  EXPECT_TRUE(out.device() == kCuda);
  EXPECT_EQ(out.dtype(), dtype);
  EXPECT_TRUE(out.is_contiguous());
  return out.to(Device::cpu()).to(DType::f64);
}

void expect_close(const Tensor& got, const Tensor& want, DType dtype, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  const double err = ct::rel_l2(got, want);
  EXPECT_LE(err, tolerance(dtype)) << what << " " << cudaseg::dtype_name(dtype);  // NaN fails too
}

struct ConvCase {
  std::string name;
  Shape x, w;
  Conv2dParams p;
};

Conv2dParams conv_params(std::array<int64_t, 2> stride, std::array<int64_t, 2> padding,
                         std::array<int64_t, 2> dilation, int64_t groups) {
  Conv2dParams p;
  p.stride = stride;
  p.padding = padding;
  p.dilation = dilation;
  p.groups = groups;
  return p;
}

// conv2d forward (with bias), backward-input, backward-weight and
// backward-bias of every case in every dtype, inputs strided on alternate runs.
void check_conv2d(const std::vector<ConvCase>& cases) {
  uint64_t seed = 100;
  int run = 0;
  for (const ConvCase& c : cases) {
    for (DType dtype : kDtypes) {
      const bool strided = run++ % 2 == 1;
      const std::string what = c.name + (strided ? " (strided)" : "");
      const Tensor x = random(c.x, ++seed, dtype), w = random(c.w, ++seed, dtype), b = random({c.w[0]}, ++seed, dtype);
      const Tensor y_ref = cudaseg::ops::conv2d(x, w, b, c.p);
      const Tensor gy = random(y_ref.shape(), ++seed, dtype);
      const Tensor dx = on_device(x, dtype, strided), dw = on_device(w, dtype, strided),
                   db = on_device(b, dtype, false), dgy = on_device(gy, dtype, strided);

      expect_close(run_poisoned(y_ref.shape(), dtype, [&] { return cudaseg::ops::conv2d(dx, dw, db, c.p); }), y_ref,
                   dtype, what + " forward");
      expect_close(run_poisoned(c.x, dtype,
                                [&] { return cudaseg::ops::conv2d_backward_input(dgy, dw, c.x, c.p); }),
                   cudaseg::ops::conv2d_backward_input(gy, w, c.x, c.p), dtype, what + " backward-input");
      expect_close(run_poisoned(c.w, dtype,
                                [&] { return cudaseg::ops::conv2d_backward_weight(dgy, dx, c.w, c.p); }),
                   cudaseg::ops::conv2d_backward_weight(gy, x, c.w, c.p), dtype, what + " backward-weight");
      expect_close(run_poisoned({c.w[0]}, dtype, [&] { return cudaseg::ops::conv2d_backward_bias(dgy); }),
                   cudaseg::ops::conv2d_backward_bias(gy), dtype, what + " backward-bias");
    }
  }
}

TEST(CudaConv2d, Dense) {
  CUDASEG_REQUIRE_CUDA();
  check_conv2d({
      {"3x3 pad 1", {2, 5, 11, 13}, {7, 5, 3, 3}, conv_params({1, 1}, {1, 1}, {1, 1}, 1)},
      {"stride 2 dilation 2x1", {2, 4, 15, 12}, {6, 4, 3, 3}, conv_params({2, 2}, {1, 2}, {2, 1}, 1)},
      {"pointwise", {3, 6, 9, 7}, {5, 6, 1, 1}, conv_params({1, 1}, {0, 0}, {1, 1}, 1)},
      {"asymmetric 1x5 stride 1x3", {1, 3, 8, 17}, {4, 3, 1, 5}, conv_params({1, 3}, {0, 2}, {1, 1}, 1)},
  });
}

TEST(CudaConv2d, Grouped) {
  CUDASEG_REQUIRE_CUDA();
  check_conv2d({
      {"groups 3", {2, 6, 10, 9}, {9, 2, 3, 3}, conv_params({2, 2}, {1, 1}, {1, 1}, 3)},
      {"groups 2 dilation 2", {1, 8, 13, 11}, {4, 4, 3, 3}, conv_params({1, 1}, {2, 2}, {2, 2}, 2)},
  });
}

TEST(CudaConv2d, Depthwise) {
  CUDASEG_REQUIRE_CUDA();
  check_conv2d({
      {"dw 3x3", {2, 6, 13, 11}, {6, 1, 3, 3}, conv_params({1, 1}, {1, 1}, {1, 1}, 6)},
      {"dw 5x5 stride 2", {2, 5, 17, 14}, {5, 1, 5, 5}, conv_params({2, 2}, {2, 2}, {1, 1}, 5)},
      {"dw 1x7", {1, 4, 9, 19}, {4, 1, 1, 7}, conv_params({1, 1}, {0, 3}, {1, 1}, 4)},
      {"dw 7x1", {1, 4, 19, 9}, {4, 1, 7, 1}, conv_params({1, 1}, {3, 0}, {1, 1}, 4)},
      {"dw 3x3 dilation 2", {2, 3, 12, 15}, {3, 1, 3, 3}, conv_params({1, 1}, {2, 2}, {2, 2}, 3)},
      {"dw 3x3 stride 2 unpadded", {1, 7, 10, 11}, {7, 1, 3, 3}, conv_params({2, 2}, {0, 0}, {1, 1}, 7)},
      // More kernel columns than one register chunk of backward-weight (16).
      {"dw 3x17", {1, 2, 9, 23}, {2, 1, 3, 17}, conv_params({1, 1}, {1, 8}, {1, 1}, 2)},
  });
}

TEST(CudaConv2d, DepthwiseMultiplier2) {
  CUDASEG_REQUIRE_CUDA();
  check_conv2d({
      {"dw x2 3x3", {2, 4, 11, 10}, {8, 1, 3, 3}, conv_params({1, 1}, {1, 1}, {1, 1}, 4)},
      {"dw x2 5x5 stride 2 dilation 2", {1, 3, 19, 17}, {6, 1, 5, 5}, conv_params({2, 2}, {4, 3}, {2, 2}, 3)},
      {"dw x3 single channel 1x7", {2, 1, 8, 15}, {3, 1, 1, 7}, conv_params({1, 2}, {0, 3}, {1, 1}, 1)},
  });
}

// A large plane so that backward-weight and backward-bias split it into
// several slices; the fixed order of the two-pass reductions makes repeated
// runs bitwise equal.
TEST(CudaConv2d, LargePlaneReductionsAreDeterministic) {
  CUDASEG_REQUIRE_CUDA();
  const Shape xs{2, 3, 96, 160}, ws{3, 1, 3, 3};
  const Conv2dParams p = conv_params({1, 1}, {1, 1}, {1, 1}, 3);
  const Tensor x = random(xs, 7, DType::f32), gy = random(xs, 8, DType::f32);
  const Tensor dx = on_device(x, DType::f32, false), dgy = on_device(gy, DType::f32, false);
  const Tensor gw1 = cudaseg::ops::conv2d_backward_weight(dgy, dx, ws, p).to(Device::cpu());
  const Tensor gw2 = cudaseg::ops::conv2d_backward_weight(dgy, dx, ws, p).to(Device::cpu());
  EXPECT_EQ(gw1.to_vector(), gw2.to_vector());
  expect_close(gw1.to(DType::f64), cudaseg::ops::conv2d_backward_weight(gy, x, ws, p), DType::f32,
               "large depthwise backward-weight");
  const Tensor gb1 = cudaseg::ops::conv2d_backward_bias(dgy).to(Device::cpu());
  const Tensor gb2 = cudaseg::ops::conv2d_backward_bias(dgy).to(Device::cpu());
  EXPECT_EQ(gb1.to_vector(), gb2.to_vector());
  expect_close(gb1.to(DType::f64), cudaseg::ops::conv2d_backward_bias(gy), DType::f32, "large backward-bias");
}

struct TransposeCase {
  std::string name;
  Shape x, w;
  ConvTranspose2dParams p;
};

ConvTranspose2dParams transpose_params(std::array<int64_t, 2> stride, std::array<int64_t, 2> padding,
                                       std::array<int64_t, 2> output_padding, std::array<int64_t, 2> dilation,
                                       int64_t groups) {
  ConvTranspose2dParams p;
  p.stride = stride;
  p.padding = padding;
  p.output_padding = output_padding;
  p.dilation = dilation;
  p.groups = groups;
  return p;
}

TEST(CudaConvTranspose2d, ForwardAndBackward) {
  CUDASEG_REQUIRE_CUDA();
  const std::vector<TransposeCase> cases = {
      {"stride 2 output_padding 1", {2, 6, 7, 5}, {6, 4, 3, 3}, transpose_params({2, 2}, {1, 1}, {1, 1}, {1, 1}, 1)},
      {"groups 2 4x4 stride 2", {1, 6, 6, 7}, {6, 3, 4, 4}, transpose_params({2, 2}, {1, 1}, {0, 1}, {1, 1}, 2)},
      {"stride 3x2 output_padding 2x1", {2, 4, 5, 6}, {4, 5, 3, 2},
       transpose_params({3, 2}, {1, 0}, {2, 1}, {1, 1}, 1)},
      // output_padding >= stride (allowed below the dilation): the output is
      // larger than cuDNN's conv2d geometry inverts.
      {"output_padding above stride", {2, 5, 6, 7}, {5, 3, 3, 3}, transpose_params({1, 1}, {1, 1}, {1, 2}, {2, 3}, 1)},
      {"depthwise stride 2", {2, 6, 8, 7}, {6, 1, 3, 3}, transpose_params({2, 2}, {1, 1}, {1, 0}, {1, 1}, 6)},
      {"depthwise output_padding above stride", {1, 4, 6, 5}, {4, 1, 3, 3},
       transpose_params({1, 1}, {0, 1}, {1, 1}, {2, 2}, 4)},
  };
  uint64_t seed = 500;
  int run = 0;
  for (const TransposeCase& c : cases) {
    for (DType dtype : kDtypes) {
      const bool strided = run++ % 2 == 1;
      const std::string what = c.name + (strided ? " (strided)" : "");
      const int64_t cout = c.w[1] * c.p.groups;
      const Tensor x = random(c.x, ++seed, dtype), w = random(c.w, ++seed, dtype), b = random({cout}, ++seed, dtype);
      const Tensor y_ref = cudaseg::ops::conv_transpose2d(x, w, b, c.p);
      const Tensor gy = random(y_ref.shape(), ++seed, dtype);
      const Tensor dx = on_device(x, dtype, strided), dw = on_device(w, dtype, strided),
                   db = on_device(b, dtype, false), dgy = on_device(gy, dtype, strided);

      expect_close(run_poisoned(y_ref.shape(), dtype,
                                [&] { return cudaseg::ops::conv_transpose2d(dx, dw, db, c.p); }),
                   y_ref, dtype, what + " forward");
      expect_close(run_poisoned(c.x, dtype,
                                [&] { return cudaseg::ops::conv_transpose2d_backward_input(dgy, dw, c.x, c.p); }),
                   cudaseg::ops::conv_transpose2d_backward_input(gy, w, c.x, c.p), dtype, what + " backward-input");
      expect_close(run_poisoned(c.w, dtype,
                                [&] { return cudaseg::ops::conv_transpose2d_backward_weight(dgy, dx, c.w, c.p); }),
                   cudaseg::ops::conv_transpose2d_backward_weight(gy, x, c.w, c.p), dtype,
                   what + " backward-weight");
      expect_close(run_poisoned({cout}, dtype, [&] { return cudaseg::ops::conv2d_backward_bias(dgy); }),
                   cudaseg::ops::conv2d_backward_bias(gy), dtype, what + " backward-bias");
    }
  }
}

TEST(CudaConv2d, MixedDevicesAreRejected) {
  CUDASEG_REQUIRE_CUDA();
  const Tensor x = ct::randn({1, 2, 5, 5}, 1, DType::f32).to(kCuda);
  const Tensor w = ct::randn({3, 2, 3, 3}, 2, DType::f32);
  EXPECT_TRUE(ct::throws_mentioning([&] { cudaseg::ops::conv2d(x, w); }, {"conv2d"}));
}

}  // namespace

// conv2d_act on CUDA (the convolution, then PReLU and the clamp, where the
// device has no fused kernel) against the CPU's fused one on the same values.
TEST(CudaConv2d, FusedActivationMatchesTheCpu) {
  CUDASEG_REQUIRE_CUDA();
  const Tensor x = ct::randn({2, 6, 13, 17}, 41).to(DType::f32), w = ct::randn({9, 6, 3, 3}, 42).to(DType::f32);
  const Tensor b = ct::randn({9}, 43).to(DType::f32), slope = ct::randn({9}, 44).to(DType::f32);
  const Conv2dParams p = conv_params({1, 1}, {1, 1}, {1, 1}, 1);
  for (const auto& act : {cudaseg::ops::ConvAct{Tensor(), 0.0, 6.0}, cudaseg::ops::ConvAct{slope},
                          cudaseg::ops::ConvAct{slope, -0.5, 0.5}}) {
    cudaseg::ops::ConvAct on_gpu = act;
    if (act.slope.defined()) on_gpu.slope = act.slope.to(kCuda);
    const Tensor got = cudaseg::ops::conv2d_act(x.to(kCuda), w.to(kCuda), b.to(kCuda), p, on_gpu);
    expect_close(got.to(Device::cpu()).to(DType::f64), cudaseg::ops::conv2d_act(x, w, b, p, act).to(DType::f64),
                 DType::f32, "conv2d_act");
  }
}
