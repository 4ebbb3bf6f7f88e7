// conv2d forward and its backward kernels against naive double-precision
// loops written here, independent of the im2col/GEMM and depthwise kernels.
#include <gtest/gtest.h>

#include <cmath>

#include "common/testing.h"
#include "ops/conv.h"
#include "runtime/thread_pool.h"

using namespace cudaseg;
namespace tt = cudaseg::testing;
using ops::Conv2dParams;

namespace {

struct Geometry {
  int64_t n, c, h, w, o, cg, kh, kw, ho, wo;
};

Geometry geometry(const Shape& x, const Shape& w, const Conv2dParams& p) {
  Geometry g{x[0], x[1], x[2], x[3], w[0], w[1], w[2], w[3], 0, 0};
  g.ho = (g.h + 2 * p.padding[0] - p.dilation[0] * (g.kh - 1) - 1) / p.stride[0] + 1;
  g.wo = (g.w + 2 * p.padding[1] - p.dilation[1] * (g.kw - 1) - 1) / p.stride[1] + 1;
  return g;
}

// Calls f(x_index, w_index, y_index) for every input-weight product of the
// convolution: the 7 loops that define it.
template <typename F>
void for_each_tap(const Geometry& g, const Conv2dParams& p, F f) {
  const int64_t og = g.o / p.groups;
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t o = 0; o < g.o; ++o)
      for (int64_t oh = 0; oh < g.ho; ++oh)
        for (int64_t ow = 0; ow < g.wo; ++ow)
          for (int64_t ci = 0; ci < g.cg; ++ci)
            for (int64_t i = 0; i < g.kh; ++i)
              for (int64_t j = 0; j < g.kw; ++j) {
                const int64_t ih = oh * p.stride[0] - p.padding[0] + i * p.dilation[0];
                const int64_t iw = ow * p.stride[1] - p.padding[1] + j * p.dilation[1];
                if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;
                const int64_t c = (o / og) * g.cg + ci;
                f(((n * g.c + c) * g.h + ih) * g.w + iw, ((o * g.cg + ci) * g.kh + i) * g.kw + j,
                  ((n * g.o + o) * g.ho + oh) * g.wo + ow);
              }
}

Tensor ref_conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p) {
  const Geometry g = geometry(x.shape(), w.shape(), p);
  const std::vector<double> xv = x.to_vector(), wv = w.to_vector();
  std::vector<double> y(static_cast<size_t>(g.n * g.o * g.ho * g.wo), 0.0);
  if (b.defined()) {
    const std::vector<double> bv = b.to_vector();
    for (size_t k = 0; k < y.size(); ++k) y[k] = bv[(k / (g.ho * g.wo)) % g.o];
  }
  for_each_tap(g, p, [&](int64_t xi, int64_t wi, int64_t yi) { y[yi] += xv[xi] * wv[wi]; });
  return Tensor::from_vector(y, {g.n, g.o, g.ho, g.wo}, DType::f64);
}

Tensor ref_backward_input(const Tensor& gy, const Tensor& w, const Shape& xs, const Conv2dParams& p) {
  const Geometry g = geometry(xs, w.shape(), p);
  const std::vector<double> gyv = gy.to_vector(), wv = w.to_vector();
  std::vector<double> gx(static_cast<size_t>(shape_numel(xs)), 0.0);
  for_each_tap(g, p, [&](int64_t xi, int64_t wi, int64_t yi) { gx[xi] += gyv[yi] * wv[wi]; });
  return Tensor::from_vector(gx, xs, DType::f64);
}

Tensor ref_backward_weight(const Tensor& gy, const Tensor& x, const Shape& ws, const Conv2dParams& p) {
  const Geometry g = geometry(x.shape(), ws, p);
  const std::vector<double> gyv = gy.to_vector(), xv = x.to_vector();
  std::vector<double> gw(static_cast<size_t>(shape_numel(ws)), 0.0);
  for_each_tap(g, p, [&](int64_t xi, int64_t wi, int64_t yi) { gw[wi] += gyv[yi] * xv[xi]; });
  return Tensor::from_vector(gw, ws, DType::f64);
}

struct Case {
  Shape x, w;
  Conv2dParams p;
  bool bias = true;
};

Conv2dParams params(std::array<int64_t, 2> stride, std::array<int64_t, 2> padding,
                    std::array<int64_t, 2> dilation = {1, 1}, int64_t groups = 1) {
  Conv2dParams p;
  p.stride = stride;
  p.padding = padding;
  p.dilation = dilation;
  p.groups = groups;
  return p;
}

// Float32 error grows with the reduction length; float64 must be exact to rounding.
double atol_for(DType dtype) { return dtype == DType::f32 ? 2e-4 : 1e-10; }

// Forward and both weight/input backward kernels of one case, in f32 and f64.
void check_case(const Case& k, uint64_t seed) {
  for (DType dtype : {DType::f64, DType::f32}) {
    SCOPED_TRACE(::testing::Message() << "x " << shape_str(k.x) << " w " << shape_str(k.w) << " "
                                      << dtype_name(dtype));
    const Tensor x = tt::randn(k.x, seed, dtype), w = tt::randn(k.w, seed + 1, dtype);
    const Tensor b = k.bias ? tt::randn({k.w[0]}, seed + 2, dtype) : Tensor();
    const Tensor y = ops::conv2d(x, w, b, k.p);
    EXPECT_TRUE(tt::all_close(y, ref_conv2d(x, w, b, k.p), atol_for(dtype), 1e-5));

    const Tensor gy = tt::randn(y.shape(), seed + 3, dtype);
    EXPECT_TRUE(tt::all_close(ops::conv2d_backward_input(gy, w, k.x, k.p), ref_backward_input(gy, w, k.x, k.p),
                                   atol_for(dtype), 1e-5));
    // The weight gradient sums over the whole batch and plane: scale the tolerance with it.
    const double wtol = atol_for(dtype) * std::sqrt(static_cast<double>(y.numel() / k.w[0]));
    EXPECT_TRUE(tt::all_close(ops::conv2d_backward_weight(gy, x, k.w, k.p),
                                   ref_backward_weight(gy, x, k.w, k.p), wtol, 1e-5));
    if (k.bias) {
      std::vector<double> gb(static_cast<size_t>(k.w[0]), 0.0);
      const std::vector<double> gyv = gy.to_vector();
      const int64_t plane = y.size(2) * y.size(3);
      for (size_t i = 0; i < gyv.size(); ++i) gb[(i / plane) % k.w[0]] += gyv[i];
      EXPECT_TRUE(tt::all_close(ops::conv2d_backward_bias(gy), Tensor::from_vector(gb, {k.w[0]}, DType::f64),
                                     wtol, 1e-5));
    }
  }
}

}  // namespace

TEST(Conv2d, DenseOddSizes) {
  check_case({{2, 6, 7, 13}, {4, 6, 3, 3}, {}}, 1);
  check_case({{2, 6, 7, 13}, {4, 6, 3, 3}, params({1, 1}, {1, 1}), false}, 2);
}

TEST(Conv2d, StrideAndPerAxisPadding) {
  check_case({{2, 5, 9, 13}, {4, 5, 3, 3}, params({2, 3}, {1, 2})}, 3);
  check_case({{1, 3, 11, 10}, {2, 3, 5, 4}, params({3, 2}, {2, 0})}, 4);
}

TEST(Conv2d, Dilation) {
  check_case({{2, 4, 9, 13}, {3, 4, 3, 3}, params({1, 1}, {2, 1}, {2, 3})}, 5);
  check_case({{1, 3, 12, 11}, {5, 3, 3, 2}, params({2, 1}, {0, 3}, {3, 2})}, 6);
}

TEST(Conv2d, LargeDilation17) {
  check_case({{1, 4, 40, 37}, {3, 4, 3, 3}, params({1, 1}, {2, 1}, {17, 17})}, 7);
  check_case({{1, 4, 38, 36}, {4, 1, 3, 3}, params({1, 1}, {17, 17}, {17, 17}, 4)}, 8);
}

TEST(Conv2d, Groups) {
  check_case({{2, 6, 7, 13}, {4, 3, 3, 3}, params({1, 1}, {1, 1}, {1, 1}, 2)}, 9);
  check_case({{2, 6, 7, 13}, {6, 2, 3, 3}, params({2, 2}, {1, 0}, {1, 1}, 3)}, 10);
  check_case({{1, 16, 7, 9}, {24, 2, 3, 3}, params({1, 1}, {1, 1}, {1, 1}, 8)}, 11);
  check_case({{1, 40, 6, 5}, {20, 2, 3, 3}, params({1, 1}, {1, 1}, {1, 1}, 20)}, 12);
  check_case({{1, 32, 5, 7}, {16, 2, 1, 1}, params({1, 1}, {0, 0}, {1, 1}, 16)}, 13);
  check_case({{2, 8, 7, 6}, {12, 2, 3, 3}, params({1, 2}, {1, 1}, {2, 1}, 4)}, 14);
}

TEST(Conv2d, Depthwise) {
  check_case({{2, 6, 7, 13}, {6, 1, 3, 3}, params({1, 1}, {1, 1}, {1, 1}, 6)}, 15);
  check_case({{2, 6, 7, 13}, {6, 1, 3, 3}, params({2, 2}, {1, 1}, {1, 1}, 6), false}, 16);
  check_case({{2, 6, 9, 13}, {6, 1, 5, 3}, params({2, 3}, {2, 1}, {2, 2}, 6)}, 17);
  check_case({{1, 4, 7, 9}, {12, 1, 3, 3}, params({1, 1}, {1, 1}, {1, 1}, 4)}, 18);  // channel multiplier 3
  check_case({{1, 5, 13, 11}, {5, 1, 7, 7}, params({1, 1}, {3, 3}, {1, 1}, 5)}, 19);
}

// The CPU weight gradient runs in bands of output rows and slices of input
// channels: several of each per image, groups, a partial last band and slice.
TEST(Conv2d, WeightGradientOverBandsAndChannelSlices) {
  check_case({{2, 40, 30, 70}, {24, 40, 3, 3}, params({1, 1}, {1, 1})}, 40);
  check_case({{1, 36, 33, 90}, {8, 18, 3, 3}, params({2, 1}, {1, 2}, {1, 2}, 2)}, 41);
}

TEST(Conv2d, AsymmetricKernels) {
  check_case({{2, 4, 7, 13}, {3, 4, 1, 7}, params({1, 1}, {0, 3})}, 20);
  check_case({{2, 4, 13, 7}, {3, 4, 7, 1}, params({1, 1}, {3, 0})}, 21);
  check_case({{1, 4, 9, 20}, {4, 1, 1, 15}, params({1, 1}, {0, 7}, {1, 1}, 4)}, 22);
  check_case({{1, 3, 19, 5}, {2, 3, 15, 1}, params({1, 1}, {7, 0})}, 23);
}

TEST(Conv2d, LargeKernels) {
  check_case({{1, 3, 19, 21}, {2, 3, 15, 15}, params({1, 1}, {3, 3})}, 24);
  check_case({{1, 3, 23, 17}, {4, 3, 7, 7}, params({2, 2}, {3, 3})}, 25);
}

TEST(Conv2d, Pointwise) {
  check_case({{2, 6, 7, 13}, {5, 6, 1, 1}, {}}, 26);
  check_case({{2, 6, 7, 13}, {4, 3, 1, 1}, params({1, 1}, {0, 0}, {1, 1}, 2), false}, 27);
  check_case({{2, 6, 7, 13}, {5, 6, 1, 1}, params({2, 2}, {0, 0})}, 28);
  check_case({{1, 6, 7, 13}, {5, 6, 1, 1}, params({1, 1}, {1, 2})}, 29);
}

// Big enough for several im2col bands per image and several threads per op.
TEST(Conv2d, ManyBands) {
  check_case({{1, 16, 40, 150}, {2, 16, 3, 3}, params({1, 1}, {1, 1})}, 30);  // bands of 3 (f64) or 6 (f32) rows
  check_case({{1, 16, 41, 150}, {16, 1, 3, 3}, params({1, 1}, {1, 1}, {1, 1}, 16)}, 31);
}

// Threads take whole bands, and the input gradient scatters even and odd runs
// of bands in two passes so no two running threads share an input row: every
// thread count, halo (dilation, big kernels) and batch size must agree with
// the reference.
TEST(Conv2d, BandsAcrossThreadCounts) {
  const int before = num_threads();
  for (int threads : {1, 2, 3, 5}) {
    set_num_threads(threads);
    SCOPED_TRACE(::testing::Message() << threads << " threads");
    check_case({{1, 16, 40, 150}, {8, 16, 3, 3}, params({1, 1}, {1, 1})}, 50);
    check_case({{1, 8, 45, 120}, {4, 8, 3, 3}, params({1, 1}, {5, 5}, {5, 5})}, 51);
    check_case({{3, 8, 37, 64}, {6, 8, 7, 7}, params({2, 2}, {3, 3})}, 52);
  }
  set_num_threads(before);
}

TEST(Conv2d, NonContiguousInputAndWeight) {
  const Conv2dParams p = params({2, 1}, {1, 2}, {1, 2}, 2);
  for (DType dtype : {DType::f64, DType::f32}) {
    const Tensor x = tt::randn({2, 6, 7, 13}, 40, dtype), w = tt::randn({4, 3, 3, 3}, 41, dtype);
    const Tensor b = tt::noncontiguous(tt::randn({4}, 42, dtype));
    // A permuted view: [N, H, W, C] storage seen as NCHW.
    const Tensor xp = x.permute({0, 2, 3, 1}).contiguous().permute({0, 3, 1, 2});
    const Tensor wn = tt::noncontiguous(w);
    ASSERT_FALSE(xp.is_contiguous());
    ASSERT_FALSE(wn.is_contiguous());
    const Tensor ref = ref_conv2d(x, w, b, p);
    EXPECT_TRUE(tt::all_close(ops::conv2d(xp, wn, b, p), ref, atol_for(dtype), 1e-5));
    EXPECT_TRUE(tt::all_close(ops::conv2d(tt::noncontiguous(x), wn, b, p), ref, atol_for(dtype), 1e-5));
    const Tensor gy = tt::noncontiguous(tt::randn(ref.shape(), 43, dtype));
    EXPECT_TRUE(tt::all_close(ops::conv2d_backward_input(gy, wn, x.shape(), p),
                                   ref_backward_input(gy, w, x.shape(), p), atol_for(dtype), 1e-5));
    EXPECT_TRUE(tt::all_close(ops::conv2d_backward_weight(gy, xp, w.shape(), p),
                                   ref_backward_weight(gy, x, w.shape(), p), 10 * atol_for(dtype), 1e-5));
  }
}

TEST(Conv2d, EmptyBatch) {
  const Tensor y = ops::conv2d(tt::randn({0, 3, 5, 5}, 50), tt::randn({2, 3, 3, 3}, 51));
  EXPECT_EQ(y.shape(), (Shape{0, 2, 3, 3}));
  // float32 takes the direct kernels (dense and depthwise), with and without a fused activation.
  for (const int64_t groups : {1, 3}) {
    const Tensor x = tt::randn({0, 3, 5, 5}, 52, DType::f32), w = tt::randn({3, 3 / groups, 3, 3}, 53, DType::f32);
    ops::Conv2dParams p;
    p.groups = groups;
    EXPECT_EQ(ops::conv2d(x, w, Tensor(), p).shape(), (Shape{0, 3, 3, 3}));
    EXPECT_EQ(ops::conv2d_act(x, w, Tensor(), p, {Tensor(), 0.0, 6.0}).shape(), (Shape{0, 3, 3, 3}));
  }
}

TEST(Conv2d, Misuse) {
  const Tensor x = tt::randn({2, 5, 7, 13}, 60, DType::f32), w = tt::randn({8, 3, 3, 3}, 61, DType::f32);
  EXPECT_TRUE(tt::throws_mentioning([&] { ops::conv2d(x, w, Tensor(), params({1, 1}, {0, 0}, {1, 1}, 2)); },
                                         {"conv2d", "weight [8, 3, 3, 3]", "3*groups=6", "input is [2, 5, 7, 13]"}));
  EXPECT_TRUE(tt::throws_mentioning([&] { ops::conv2d(x.select(0, 0), w); },
                                         {"conv2d", "'input'", "4 dims", "[5, 7, 13]"}));
  EXPECT_TRUE(tt::throws_mentioning([&] { ops::conv2d(x, w.select(0, 0)); },
                                         {"conv2d", "'weight'", "4 dims", "[3, 3, 3]"}));
  const Tensor x6 = tt::randn({2, 6, 7, 13}, 62, DType::f32);
  EXPECT_TRUE(tt::throws_mentioning(
      [&] { ops::conv2d(x6, tt::randn({8, 2, 3, 3}, 63, DType::f32), Tensor(), params({1, 1}, {0, 0}, {1, 1}, 4)); },
      {"conv2d", "weight [8, 2, 3, 3]", "2*groups=8", "groups=4", "[2, 6, 7, 13]"}));
  EXPECT_TRUE(tt::throws_mentioning(
      [&] { ops::conv2d(x6, tt::randn({5, 3, 3, 3}, 64, DType::f32), Tensor(), params({1, 1}, {0, 0}, {1, 1}, 2)); },
      {"conv2d", "groups=2", "output channels", "[5, 3, 3, 3]"}));
  const Tensor w6 = tt::randn({4, 6, 3, 3}, 65, DType::f32);
  EXPECT_TRUE(tt::throws_mentioning([&] { ops::conv2d(x6, w6.to(DType::f64)); },
                                         {"conv2d", "'weight'", "float64", "float32"}));
  EXPECT_TRUE(tt::throws_mentioning([&] { ops::conv2d(x6, w6, tt::randn({4}, 66, DType::f64)); },
                                         {"conv2d", "'bias'", "float64"}));
  EXPECT_TRUE(tt::throws_mentioning([&] { ops::conv2d(x6, w6, tt::randn({5}, 67, DType::f32)); },
                                         {"conv2d", "bias [5]", "[4]", "[4, 6, 3, 3]"}));
  EXPECT_TRUE(tt::throws_mentioning([&] { ops::conv2d(x6.to(DType::i32), w6.to(DType::i32)); },
                                         {"conv2d", "'input'", "float32 or float64"}));
  EXPECT_TRUE(tt::throws_mentioning([&] { ops::conv2d(x6, w6, Tensor(), params({0, 1}, {0, 0})); },
                                         {"conv2d", "stride", "[0, 1]"}));
  EXPECT_TRUE(tt::throws_mentioning([&] { ops::conv2d(x6, w6, Tensor(), params({1, 1}, {-1, 0})); },
                                         {"conv2d", "padding", "[-1, 0]"}));
  EXPECT_TRUE(tt::throws_mentioning([&] { ops::conv2d(x6, w6, Tensor(), params({1, 1}, {0, 0}, {1, 0})); },
                                         {"conv2d", "dilation", "[1, 0]"}));
  EXPECT_TRUE(tt::throws_mentioning([&] { ops::conv2d(x6, w6, Tensor(), params({1, 1}, {0, 0}, {1, 1}, 0)); },
                                         {"conv2d", "groups", "0"}));
  EXPECT_TRUE(tt::throws_mentioning([&] { ops::conv2d(x6, w6, Tensor(), params({1, 1}, {0, 0}, {4, 4})); },
                                         {"conv2d", "kernel [3, 3]", "dilation [4, 4]", "[9, 9]", "[2, 6, 7, 13]"}));
  const Tensor gy = tt::randn({2, 4, 5, 11}, 68, DType::f32);
  EXPECT_TRUE(tt::throws_mentioning([&] { ops::conv2d_backward_input(gy, w6, {2, 6, 7, 12}); },
                                         {"conv2d_backward_input", "grad_output [2, 4, 5, 11]", "[2, 4, 5, 10]"}));
  EXPECT_TRUE(tt::throws_mentioning([&] { ops::conv2d_backward_weight(gy, x6, {4, 6, 3}); },
                                         {"conv2d_backward_weight", "'weight'", "[4, 6, 3]"}));
  EXPECT_TRUE(tt::throws_mentioning([&] { ops::conv2d_backward_bias(gy.select(0, 0)); },
                                         {"conv2d_backward_bias", "'grad_output'", "[4, 5, 11]"}));
}
