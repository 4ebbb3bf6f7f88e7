// conv_transpose2d forward and its backward kernels against naive
// double-precision scatter loops written here.
#include <gtest/gtest.h>

#include <cmath>

#include "common/cuda_skip.h"
#include "common/testing.h"
#include "ops/conv.h"

using namespace cudaseg;
namespace tt = cudaseg::testing;
using ops::ConvTranspose2dParams;

namespace {

struct Geometry {
  int64_t n, cin, h, w, cout, cog, kh, kw, ho, wo;
};

Geometry geometry(const Shape& x, const Shape& w, const ConvTranspose2dParams& p) {
  Geometry g{x[0], x[1], x[2], x[3], w[1] * p.groups, w[1], w[2], w[3], 0, 0};
  g.ho = (g.h - 1) * p.stride[0] - 2 * p.padding[0] + p.dilation[0] * (g.kh - 1) + p.output_padding[0] + 1;
  g.wo = (g.w - 1) * p.stride[1] - 2 * p.padding[1] + p.dilation[1] * (g.kw - 1) + p.output_padding[1] + 1;
  return g;
}

// Calls f(x_index, w_index, y_index) for every product of the transposed
// convolution: input pixel (ih, iw) scatters to (ih*s - p + i*d, iw*s - p + j*d).
template <typename F>
void for_each_tap(const Geometry& g, const ConvTranspose2dParams& p, F f) {
  const int64_t cig = g.cin / p.groups;
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t ci = 0; ci < g.cin; ++ci)
      for (int64_t ih = 0; ih < g.h; ++ih)
        for (int64_t iw = 0; iw < g.w; ++iw)
          for (int64_t co = 0; co < g.cog; ++co)
            for (int64_t i = 0; i < g.kh; ++i)
              for (int64_t j = 0; j < g.kw; ++j) {
                const int64_t oh = ih * p.stride[0] - p.padding[0] + i * p.dilation[0];
                const int64_t ow = iw * p.stride[1] - p.padding[1] + j * p.dilation[1];
                if (oh < 0 || oh >= g.ho || ow < 0 || ow >= g.wo) continue;
                const int64_t c = (ci / cig) * g.cog + co;
                f(((n * g.cin + ci) * g.h + ih) * g.w + iw, ((ci * g.cog + co) * g.kh + i) * g.kw + j,
                  ((n * g.cout + c) * g.ho + oh) * g.wo + ow);
              }
}

Tensor ref_forward(const Tensor& x, const Tensor& w, const Tensor& b, const ConvTranspose2dParams& p) {
  const Geometry g = geometry(x.shape(), w.shape(), p);
  const std::vector<double> xv = x.to_vector(), wv = w.to_vector();
  std::vector<double> y(static_cast<size_t>(g.n * g.cout * g.ho * g.wo), 0.0);
  if (b.defined()) {
    const std::vector<double> bv = b.to_vector();
    for (size_t k = 0; k < y.size(); ++k) y[k] = bv[(k / (g.ho * g.wo)) % g.cout];
  }
  for_each_tap(g, p, [&](int64_t xi, int64_t wi, int64_t yi) { y[yi] += xv[xi] * wv[wi]; });
  return Tensor::from_vector(y, {g.n, g.cout, g.ho, g.wo}, DType::f64);
}

ConvTranspose2dParams params(std::array<int64_t, 2> stride, std::array<int64_t, 2> padding,
                             std::array<int64_t, 2> output_padding = {0, 0}, std::array<int64_t, 2> dilation = {1, 1},
                             int64_t groups = 1) {
  ConvTranspose2dParams p;
  p.stride = stride;
  p.padding = padding;
  p.output_padding = output_padding;
  p.dilation = dilation;
  p.groups = groups;
  return p;
}

double atol_for(DType dtype) { return dtype == DType::f32 ? 2e-4 : 1e-10; }

void check_case(const Shape& xs, const Shape& ws, const ConvTranspose2dParams& p, uint64_t seed, bool bias = true) {
  for (DType dtype : {DType::f64, DType::f32}) {
    SCOPED_TRACE(::testing::Message() << "x " << shape_str(xs) << " w " << shape_str(ws) << " stride "
                                      << p.stride[0] << "," << p.stride[1] << " " << dtype_name(dtype));
    const Tensor x = tt::randn(xs, seed, dtype), w = tt::randn(ws, seed + 1, dtype);
    const Tensor b = bias ? tt::randn({ws[1] * p.groups}, seed + 2, dtype) : Tensor();
    const Tensor y = ops::conv_transpose2d(x, w, b, p);
    const Tensor ref = ref_forward(x, w, b, p);
    EXPECT_TRUE(tt::all_close(y, ref, atol_for(dtype), 1e-5));

    const Geometry g = geometry(xs, ws, p);
    const Tensor gy = tt::randn(y.shape(), seed + 3, dtype);
    const std::vector<double> gyv = gy.to_vector(), xv = x.to_vector(), wv = w.to_vector();
    std::vector<double> gx(xv.size(), 0.0), gw(wv.size(), 0.0);
    for_each_tap(g, p, [&](int64_t xi, int64_t wi, int64_t yi) {
      gx[xi] += gyv[yi] * wv[wi];
      gw[wi] += gyv[yi] * xv[xi];
    });
    EXPECT_TRUE(tt::all_close(ops::conv_transpose2d_backward_input(gy, w, xs, p),
                                   Tensor::from_vector(gx, xs, DType::f64), atol_for(dtype), 1e-5));
    const double wtol = atol_for(dtype) * std::sqrt(static_cast<double>(x.numel() / ws[0]));
    EXPECT_TRUE(tt::all_close(ops::conv_transpose2d_backward_weight(gy, x, ws, p),
                                   Tensor::from_vector(gw, ws, DType::f64), wtol, 1e-5));
  }
}

}  // namespace

TEST(ConvTranspose2d, OutputPadding) {
  check_case({2, 4, 5, 7}, {4, 3, 3, 3}, params({2, 2}, {1, 1}, {1, 1}), 1);
  check_case({2, 4, 5, 7}, {4, 3, 3, 3}, params({2, 3}, {1, 0}, {0, 2}), 2);
  check_case({1, 3, 6, 5}, {3, 2, 4, 4}, params({2, 2}, {1, 1}), 3, false);
}

TEST(ConvTranspose2d, StridesTwoToEight) {
  for (int64_t s = 2; s <= 8; ++s) {
    const int64_t k = std::min<int64_t>(2 * s - 1, 15);
    check_case({1, 3, 4, 5}, {3, 2, k, k}, params({s, s}, {s / 2, s / 2}, {s - 1, s / 2}), 10 + s);
  }
  check_case({1, 2, 3, 4}, {2, 3, 2, 2}, params({2, 2}, {0, 0}), 20);
  check_case({1, 2, 3, 2}, {2, 2, 15, 15}, params({8, 8}, {3, 3}, {7, 7}), 21);
}

TEST(ConvTranspose2d, OutputPaddingBelowDilation) {
  // output_padding >= stride is allowed when it is below the dilation.
  check_case({2, 3, 5, 6}, {3, 2, 3, 3}, params({1, 2}, {1, 0}, {2, 1}, {3, 2}), 30);
}

TEST(ConvTranspose2d, Groups) {
  check_case({2, 4, 5, 7}, {4, 3, 3, 3}, params({2, 2}, {1, 1}, {1, 0}, {1, 1}, 2), 40);
  check_case({1, 6, 4, 5}, {6, 1, 3, 3}, params({1, 1}, {1, 1}, {0, 0}, {1, 1}, 3), 41);
  check_case({2, 6, 5, 4}, {6, 1, 4, 4}, params({2, 2}, {1, 1}, {0, 0}, {1, 1}, 6), 42);  // depthwise
  check_case({1, 4, 5, 4}, {4, 2, 3, 3}, params({2, 1}, {0, 1}, {1, 0}, {2, 1}, 4), 43);  // depthwise x2
}

TEST(ConvTranspose2d, PointwiseAndAsymmetric) {
  check_case({2, 5, 7, 13}, {5, 3, 1, 1}, params({1, 1}, {0, 0}), 50);
  check_case({1, 4, 6, 7}, {4, 3, 1, 7}, params({1, 2}, {0, 3}, {0, 1}), 51);
  check_case({1, 4, 6, 7}, {4, 3, 7, 1}, params({3, 1}, {2, 0}, {2, 0}), 52);
}

TEST(ConvTranspose2d, NonContiguousInputAndWeight) {
  const ConvTranspose2dParams p = params({2, 2}, {1, 1}, {1, 1}, {1, 1}, 2);
  for (DType dtype : {DType::f64, DType::f32}) {
    const Tensor x = tt::randn({2, 4, 5, 7}, 60, dtype), w = tt::randn({4, 3, 3, 3}, 61, dtype);
    const Tensor b = tt::randn({6}, 62, dtype);
    const Tensor xp = x.permute({0, 2, 3, 1}).contiguous().permute({0, 3, 1, 2});
    const Tensor wn = tt::noncontiguous(w);
    ASSERT_FALSE(xp.is_contiguous());
    EXPECT_TRUE(tt::all_close(ops::conv_transpose2d(xp, wn, b, p), ref_forward(x, w, b, p), atol_for(dtype), 1e-5));
  }
}

TEST(ConvTranspose2d, Misuse) {
  const Tensor x = tt::randn({2, 5, 7, 13}, 70, DType::f32), w = tt::randn({4, 3, 3, 3}, 71, DType::f32);
  EXPECT_TRUE(tt::throws_mentioning([&] { ops::conv_transpose2d(x, w); },
                                         {"conv_transpose2d", "weight [4, 3, 3, 3]", "4 input channels", "[2, 5, 7, 13]"}));
  const Tensor x4 = tt::randn({2, 4, 7, 13}, 72, DType::f32);
  EXPECT_TRUE(tt::throws_mentioning([&] { ops::conv_transpose2d(x4, w, Tensor(), params({2, 2}, {0, 0}, {2, 0})); },
                                         {"conv_transpose2d", "output_padding [2, 0]", "stride [2, 2]", "dilation [1, 1]"}));
  EXPECT_TRUE(tt::throws_mentioning([&] { ops::conv_transpose2d(x4, w, Tensor(), params({1, 1}, {0, 0}, {0, 1})); },
                                         {"conv_transpose2d", "output_padding [0, 1]"}));
  EXPECT_TRUE(tt::throws_mentioning(
      [&] { ops::conv_transpose2d(x4, w, Tensor(), params({1, 1}, {0, 0}, {0, 0}, {1, 1}, 3)); },
      {"conv_transpose2d", "groups=3", "[2, 4, 7, 13]"}));
  EXPECT_TRUE(tt::throws_mentioning([&] { ops::conv_transpose2d(x4, w, tt::randn({4}, 73, DType::f32)); },
                                         {"conv_transpose2d", "bias [4]", "[3]"}));
  EXPECT_TRUE(tt::throws_mentioning([&] { ops::conv_transpose2d(x4, w.to(DType::f64)); },
                                         {"conv_transpose2d", "'weight'", "float64", "float32"}));
  EXPECT_TRUE(tt::throws_mentioning([&] { ops::conv_transpose2d(x4.select(0, 1), w); },
                                         {"conv_transpose2d", "'input'", "4 dims", "[4, 7, 13]"}));
  EXPECT_TRUE(tt::throws_mentioning(
      [&] { ops::conv_transpose2d(tt::randn({1, 4, 1, 1}, 74, DType::f32), w, Tensor(), params({1, 1}, {2, 2})); },
      {"conv_transpose2d", "empty output", "[1, 3, -1, -1]"}));
  const Tensor gy = tt::randn({2, 3, 9, 15}, 75, DType::f32);
  EXPECT_TRUE(tt::throws_mentioning([&] { ops::conv_transpose2d_backward_input(gy, w, {2, 4, 7, 12}); },
                                         {"conv_transpose2d_backward_input", "grad_output [2, 3, 9, 15]", "[2, 3, 9, 14]"}));
  EXPECT_TRUE(tt::throws_mentioning([&] { ops::conv_transpose2d_backward_weight(gy, x4, {4, 3, 3, 3, 1}); },
                                         {"conv_transpose2d_backward_weight", "'weight'", "[4, 3, 3, 3, 1]"}));
}

// Only a build with a CUDA device can hold operands on two devices.
TEST(ConvTranspose2d, MismatchedDevices) {
  CUDASEG_REQUIRE_CUDA();
  const Tensor x = tt::randn({1, 4, 5, 5}, 80, DType::f32), w = tt::randn({4, 3, 3, 3}, 81, DType::f32);
  EXPECT_TRUE(tt::throws_mentioning([&] { ops::conv_transpose2d(x, w.to(Device::cuda(0))); },
                                         {"conv_transpose2d", "'weight'", "cuda", "cpu"}));
  EXPECT_TRUE(tt::throws_mentioning([&] { ops::conv2d(x.to(Device::cuda(0)), w); },
                                         {"conv2d", "'weight'", "cpu", "cuda"}));
}

// The CPU runs a transposed convolution as one stride-1 convolution per
// output phase (ops/cpu/conv_transpose.cpp): phases that no tap reaches
// (kernel below the stride: the bias alone), padding past the kernel (the
// phase convolution's output starts inside its padding), and channel counts
// and widths that take the direct kernels' blocked and pointwise paths.
TEST(ConvTranspose2d, PhasesOfEveryKind) {
  check_case({1, 3, 4, 5}, {3, 2, 1, 1}, params({2, 3}, {0, 0}, {1, 2}), 60);        // k < s: bias-only phases
  check_case({1, 3, 4, 5}, {3, 2, 2, 3}, params({3, 4}, {1, 1}, {2, 1}), 61);        // k < s with padding
  check_case({1, 2, 6, 7}, {2, 3, 3, 3}, params({1, 1}, {2, 2}), 62);                // p > k - 1, stride 1
  check_case({1, 2, 6, 7}, {2, 3, 5, 4}, params({2, 3}, {4, 3}, {1, 2}), 63);        // p >= k - 1, strided
  check_case({1, 16, 9, 70}, {16, 19, 2, 2}, params({2, 2}, {0, 0}), 64);            // ERFNet's output: pointwise phases
  check_case({1, 24, 5, 53}, {24, 11, 3, 3}, params({2, 2}, {1, 1}, {1, 1}), 65);    // its upsamplers
  check_case({2, 10, 7, 40}, {10, 9, 3, 3}, params({1, 1}, {1, 1}), 66);             // stride 1: one phase
  check_case({1, 12, 4, 33}, {12, 5, 4, 4}, params({2, 2}, {1, 1}, {0, 0}, {1, 1}, 3), 67);  // groups
}
