// Pooling forward against naive double loops written here, pinned PyTorch
// values, and misuse errors.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "common/testing.h"
#include "ops/pool.h"

using namespace cudaseg;
using cudaseg::testing::all_close;
using cudaseg::testing::noncontiguous;
using cudaseg::testing::randn;
using cudaseg::testing::throws_mentioning;

namespace {

// Output size of one axis, from the definition: windows start at
// o*stride - pad; floor mode keeps windows that end inside input + pad; ceil
// mode also keeps a last partial window if it starts inside input + left pad.
int64_t ref_out_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil_mode) {
  const int64_t span = d * (k - 1) + 1;
  const double exact = static_cast<double>(in + 2 * p - span) / static_cast<double>(s);
  int64_t out = static_cast<int64_t>(ceil_mode ? std::ceil(exact) : std::floor(exact)) + 1;
  if (ceil_mode && (out - 1) * s >= in + p) --out;
  return out;
}

struct PoolRef {
  Tensor out, indices;
};

PoolRef ref_max_pool(const Tensor& x, const ops::MaxPool2dParams& p) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t sh = p.stride[0] ? p.stride[0] : p.kernel_size[0], sw = p.stride[1] ? p.stride[1] : p.kernel_size[1];
  const int64_t OH = ref_out_size(H, p.kernel_size[0], sh, p.padding[0], p.dilation[0], p.ceil_mode);
  const int64_t OW = ref_out_size(W, p.kernel_size[1], sw, p.padding[1], p.dilation[1], p.ceil_mode);
  const std::vector<double> v = x.to_vector();
  std::vector<double> out, idx;
  for (int64_t n = 0; n < N * C; ++n)
    for (int64_t oy = 0; oy < OH; ++oy)
      for (int64_t ox = 0; ox < OW; ++ox) {
        double best = -std::numeric_limits<double>::infinity();
        int64_t best_i = -1;
        for (int64_t ky = 0; ky < p.kernel_size[0]; ++ky)
          for (int64_t kx = 0; kx < p.kernel_size[1]; ++kx) {
            const int64_t iy = oy * sh - p.padding[0] + ky * p.dilation[0];
            const int64_t ix = ox * sw - p.padding[1] + kx * p.dilation[1];
            if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
            const double val = v[(n * H + iy) * W + ix];
            if (best_i < 0 || val > best) {
              best = val;
              best_i = iy * W + ix;
            }
          }
        out.push_back(best);
        idx.push_back(static_cast<double>(best_i));
      }
  return {Tensor::from_vector(out, {N, C, OH, OW}, DType::f64),
          Tensor::from_vector(idx, {N, C, OH, OW}, DType::i64)};
}

// Sums and divides in Acc: float gives the float32 kernels' exact values
// (each window summed from 0 in row-major order, then divided).
template <typename Acc = double>
Tensor ref_avg_pool(const Tensor& x, const ops::AvgPool2dParams& p) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t kh = p.kernel_size[0], kw = p.kernel_size[1];
  const int64_t sh = p.stride[0] ? p.stride[0] : kh, sw = p.stride[1] ? p.stride[1] : kw;
  const int64_t ph = p.padding[0], pw = p.padding[1];
  const int64_t OH = ref_out_size(H, kh, sh, ph, 1, p.ceil_mode), OW = ref_out_size(W, kw, sw, pw, 1, p.ceil_mode);
  const std::vector<double> v = x.to_vector();
  std::vector<double> out;
  for (int64_t n = 0; n < N * C; ++n)
    for (int64_t oy = 0; oy < OH; ++oy)
      for (int64_t ox = 0; ox < OW; ++ox) {
        Acc sum = 0;
        int64_t inside = 0, in_padded = 0;
        for (int64_t ky = 0; ky < kh; ++ky)
          for (int64_t kx = 0; kx < kw; ++kx) {
            const int64_t iy = oy * sh - ph + ky, ix = ox * sw - pw + kx;
            // Positions in the padding count for count_include_pad; those
            // beyond it (a ceil-mode window hanging off) never do.
            if (iy < H + ph && ix < W + pw) ++in_padded;
            if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
            sum += static_cast<Acc>(v[(n * H + iy) * W + ix]);
            ++inside;
          }
        Acc div = static_cast<Acc>(p.count_include_pad ? in_padded : inside);
        if (p.divisor_override) div = static_cast<Acc>(*p.divisor_override);
        out.push_back(inside == 0 ? 0.0 : static_cast<double>(sum / div));
      }
  return Tensor::from_vector(out, {N, C, OH, OW}, DType::f64);
}

PoolRef ref_adaptive(const Tensor& x, int64_t OH, int64_t OW, bool max) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const std::vector<double> v = x.to_vector();
  std::vector<double> out, idx;
  for (int64_t n = 0; n < N * C; ++n)
    for (int64_t oy = 0; oy < OH; ++oy)
      for (int64_t ox = 0; ox < OW; ++ox) {
        const auto y0 = static_cast<int64_t>(std::floor(static_cast<double>(oy * H) / OH));
        const auto y1 = static_cast<int64_t>(std::ceil(static_cast<double>((oy + 1) * H) / OH));
        const auto x0 = static_cast<int64_t>(std::floor(static_cast<double>(ox * W) / OW));
        const auto x1 = static_cast<int64_t>(std::ceil(static_cast<double>((ox + 1) * W) / OW));
        double acc = max ? -std::numeric_limits<double>::infinity() : 0.0;
        int64_t best_i = -1;
        for (int64_t iy = y0; iy < y1; ++iy)
          for (int64_t ix = x0; ix < x1; ++ix) {
            const double val = v[(n * H + iy) * W + ix];
            if (!max) {
              acc += val;
            } else if (best_i < 0 || val > acc) {
              acc = val;
              best_i = iy * W + ix;
            }
          }
        out.push_back(max ? acc : acc / static_cast<double>((y1 - y0) * (x1 - x0)));
        idx.push_back(static_cast<double>(best_i));
      }
  return {Tensor::from_vector(out, {N, C, OH, OW}, DType::f64),
          Tensor::from_vector(idx, {N, C, OH, OW}, DType::i64)};
}

std::vector<ops::MaxPool2dParams> max_configs() {
  return {
      {{3, 3}, {2, 2}, {1, 1}, {1, 1}, false},  // the segmentation stem
      {{3, 3}, {2, 2}, {1, 1}, {1, 1}, true},
      {{2, 2}, {0, 0}, {0, 0}, {1, 1}, true},   // default stride, ceil: hangs off 7 and 13
      {{3, 2}, {2, 3}, {0, 1}, {1, 1}, true},   // the last-window rule on W
      {{3, 3}, {1, 2}, {1, 0}, {2, 3}, false},  // dilation
      {{3, 3}, {2, 1}, {1, 1}, {2, 2}, true},
      {{1, 4}, {1, 3}, {0, 2}, {1, 1}, false},
  };
}

}  // namespace

TEST(PoolMaxPool2d, MatchesNaiveLoopForEveryOption) {
  const Tensor x = randn({2, 3, 7, 13}, 1);
  for (const auto& p : max_configs()) {
    const PoolRef ref = ref_max_pool(x, p);
    for (const Tensor& in : {x, noncontiguous(x)}) {
      auto [out, idx] = ops::max_pool2d_with_indices(in, p);
      EXPECT_TRUE(all_close(out, ref.out)) << "kernel " << p.kernel_size[0] << "x" << p.kernel_size[1];
      EXPECT_EQ(idx.dtype(), DType::i64);
      EXPECT_EQ(idx.to_vector(), ref.indices.to_vector());
    }
    EXPECT_TRUE(all_close(ops::max_pool2d(x.to(DType::f32), p), ref.out, 1e-6, 1e-6));
    EXPECT_TRUE(all_close(ops::max_pool2d(x, p), ref.out)) << "values only, float64";
  }
}

TEST(PoolMaxPool2d, OutputSizeRule) {
  // ceil_mode keeps a window hanging off the edge only if it starts inside input + left padding.
  EXPECT_EQ(ops::pool_output_size(6, 3, 2, 0, 1, false), 2);
  EXPECT_EQ(ops::pool_output_size(6, 3, 2, 0, 1, true), 3);
  EXPECT_EQ(ops::pool_output_size(7, 2, 3, 1, 1, true), 3);  // 4 before the rule
  EXPECT_EQ(ops::pool_output_size(5, 2, 3, 1, 1, true), 2);
  EXPECT_EQ(ops::pool_output_size(13, 3, 2, 1, 1, false), 7);
  EXPECT_EQ(ops::pool_output_size(13, 3, 1, 0, 4, false), 5);
}

TEST(PoolMaxPool2d, PinnedTorchValues) {
  // torch 1.13: z = torch.tensor([float((i*37) % 42) for i in range(42)]).view(1,1,6,7)
  std::vector<double> z;
  for (int i = 0; i < 42; ++i) z.push_back((i * 37) % 42);
  const Tensor x = Tensor::from_vector(z, {1, 1, 6, 7});
  // F.max_pool2d(z, kernel_size=(3,2), stride=(2,3), padding=(0,1), ceil_mode=..., return_indices=True)
  ops::MaxPool2dParams p{{3, 2}, {2, 3}, {0, 1}, {1, 1}, false};
  auto [floor_out, floor_idx] = ops::max_pool2d_with_indices(x, p);
  EXPECT_EQ(floor_out.shape(), (Shape{1, 1, 2, 3}));
  EXPECT_EQ(floor_out.to_vector(), (std::vector<double>{14, 41, 31, 28, 41, 40}));
  EXPECT_EQ(floor_idx.to_vector(), (std::vector<double>{14, 17, 19, 28, 17, 34}));
  p.ceil_mode = true;
  auto [ceil_out, ceil_idx] = ops::max_pool2d_with_indices(x, p);
  EXPECT_EQ(ceil_out.shape(), (Shape{1, 1, 3, 3}));
  EXPECT_EQ(ceil_out.to_vector(), (std::vector<double>{14, 41, 31, 28, 41, 40, 35, 25, 40}));
  EXPECT_EQ(ceil_idx.to_vector(), (std::vector<double>{14, 17, 19, 28, 17, 34, 35, 37, 34}));
}

TEST(PoolMaxPool2d, NanWinsAndTiesGoToTheFirst) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  // torch 1.13 gives indices [0, 6] for this input with kernel_size 2.
  const Tensor x = Tensor::from_vector({5, 1, 2, 0, 5, 3, nan, 1}, {1, 1, 2, 4}, DType::f64);
  auto [out, idx] = ops::max_pool2d_with_indices(x, {{2, 2}});
  const std::vector<double> o = out.to_vector();
  EXPECT_EQ(o[0], 5);
  EXPECT_TRUE(std::isnan(o[1]));
  EXPECT_EQ(idx.to_vector(), (std::vector<double>{0, 6}));
}

// The float32 downsampling pools (2x2 and 3x3 at stride 2, four outputs at a
// time on x86) on planes wide enough for the vector path and its tails, with
// ties everywhere (values on a coarse grid), NaN and -inf: PyTorch's rule (a
// larger value or a NaN takes over; the first of equals stays) for values
// and indices.
TEST(PoolMaxPool2d, DownsamplingPoolsKeepTorchsRuleOnWidePlanes) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  for (const int64_t w : {37, 64, 9}) {
    Tensor x = Tensor::empty({2, 3, 11, w});
    float* px = x.data<float>();
    for (int64_t i = 0; i < x.numel(); ++i) px[i] = static_cast<float>((i * 7919) % 13 / 4);
    for (int64_t i = 5; i < x.numel(); i += 97) px[i] = nan;
    for (int64_t i = 11; i < x.numel(); i += 61) px[i] = -inf;
    for (const ops::MaxPool2dParams& p : {ops::MaxPool2dParams{{2, 2}, {2, 2}},
                                          ops::MaxPool2dParams{{3, 3}, {2, 2}, {1, 1}},
                                          ops::MaxPool2dParams{{3, 3}, {2, 2}, {0, 0}, {1, 1}, true}}) {
      SCOPED_TRACE("w " + std::to_string(w) + ", kernel " + std::to_string(p.kernel_size[0]));
      auto [out, idx] = ops::max_pool2d_with_indices(x, p);
      // Without indices (ops::max_pool2d on the CPU: the values-only kernel)
      // the same values, NaN for NaN.
      const Tensor values = ops::max_pool2d(x, p);
      ASSERT_EQ(values.shape(), out.shape());
      for (int64_t i = 0; i < out.numel(); ++i) {
        const float a = values.data<float>()[i], b = out.data<float>()[i];
        ASSERT_TRUE(a == b || (std::isnan(a) && std::isnan(b))) << i;
      }
      const int64_t oh = out.size(2), ow = out.size(3), H = 11;
      const float* po = out.data<float>();
      const int64_t* pi = idx.data<int64_t>();
      for (int64_t n = 0; n < 6; ++n)
        for (int64_t oy = 0; oy < oh; ++oy)
          for (int64_t ox = 0; ox < ow; ++ox) {
            float best = -inf;
            int64_t best_i = -1;
            for (int64_t ky = 0; ky < p.kernel_size[0]; ++ky)
              for (int64_t kx = 0; kx < p.kernel_size[1]; ++kx) {
                const int64_t iy = oy * 2 - p.padding[0] + ky, ix = ox * 2 - p.padding[1] + kx;
                if (iy < 0 || iy >= H || ix < 0 || ix >= w) continue;
                const float v = px[(n * H + iy) * w + ix];
                if (best_i < 0) best_i = iy * w + ix;
                if (v > best || std::isnan(v)) {
                  best = v;
                  best_i = iy * w + ix;
                }
              }
            const int64_t o = (n * oh + oy) * ow + ox;
            ASSERT_EQ(pi[o], best_i) << n << "," << oy << "," << ox;
            if (std::isnan(best))
              ASSERT_TRUE(std::isnan(po[o])) << n << "," << oy << "," << ox;
            else
              ASSERT_EQ(po[o], best) << n << "," << oy << "," << ox;
          }
    }
  }
}

TEST(PoolMaxUnpool2d, RoundTripWithMaxPool) {
  const Tensor x = randn({2, 3, 8, 10}, 2);
  const ops::MaxPool2dParams p{{2, 2}};
  auto [pooled, idx] = ops::max_pool2d_with_indices(x, p);
  const std::array<int64_t, 2> size = ops::max_unpool2d_output_size(pooled.shape(), p);
  EXPECT_EQ(size, (std::array<int64_t, 2>{8, 10}));  // (4-1)*2 + 2, (5-1)*2 + 2
  const Tensor up = ops::max_unpool2d(pooled, idx, size);
  ASSERT_EQ(up.shape(), x.shape());
  // Each 2x2 block keeps its maximum in place and zeros elsewhere.
  const std::vector<double> xv = x.to_vector(), uv = up.to_vector();
  std::vector<double> expect(xv.size(), 0.0);
  for (int64_t n = 0; n < 6; ++n)
    for (int64_t by = 0; by < 4; ++by)
      for (int64_t bx = 0; bx < 5; ++bx) {
        int64_t best = -1;
        for (int64_t dy = 0; dy < 2; ++dy)
          for (int64_t dx = 0; dx < 2; ++dx) {
            const int64_t i = n * 80 + (2 * by + dy) * 10 + 2 * bx + dx;
            if (best < 0 || xv[i] > xv[best]) best = i;
          }
        expect[best] = xv[best];
      }
  EXPECT_EQ(uv, expect);
  // Non-contiguous operands and an explicit, larger output size.
  const Tensor up2 = ops::max_unpool2d(noncontiguous(pooled), noncontiguous(idx), {9, 11});
  const std::vector<double> u2 = up2.to_vector();
  for (int64_t n = 0; n < 6; ++n)
    for (int64_t i = 0; i < 20; ++i) {
      const auto k = static_cast<int64_t>(idx.to_vector()[n * 20 + i]);
      EXPECT_EQ(u2[n * 99 + k], pooled.to_vector()[n * 20 + i]);
    }
}

TEST(PoolAvgPool2d, MatchesNaiveLoopForEveryOption) {
  const Tensor x = randn({2, 3, 7, 13}, 3);
  std::vector<ops::AvgPool2dParams> configs;
  for (bool include : {true, false})
    for (bool ceil_mode : {false, true}) {
      configs.push_back({{3, 3}, {2, 2}, {1, 1}, ceil_mode, include, std::nullopt});
      configs.push_back({{3, 2}, {2, 3}, {0, 1}, ceil_mode, include, std::nullopt});
      configs.push_back({{2, 4}, {0, 0}, {1, 2}, ceil_mode, include, std::nullopt});
      // Stride 1: the interior outputs are summed a row at a time (PoolFormer's token mixer is the first).
      configs.push_back({{3, 3}, {1, 1}, {1, 1}, ceil_mode, include, std::nullopt});
      configs.push_back({{5, 3}, {1, 1}, {2, 0}, ceil_mode, include, std::nullopt});
      configs.push_back({{7, 7}, {1, 1}, {3, 3}, ceil_mode, include, std::nullopt});
    }
  configs.push_back({{3, 3}, {1, 1}, {1, 1}, false, false, 4});
  configs.push_back({{3, 3}, {2, 2}, {1, 1}, true, true, 5});
  configs.push_back({{2, 2}, {1, 1}, {1, 0}, false, false, -3});
  for (const auto& p : configs) {
    const Tensor ref = ref_avg_pool(x, p);
    EXPECT_TRUE(all_close(ops::avg_pool2d(x, p), ref, 1e-12, 1e-12))
        << "kernel " << p.kernel_size[0] << "x" << p.kernel_size[1] << " ceil " << p.ceil_mode << " include "
        << p.count_include_pad;
    EXPECT_TRUE(all_close(ops::avg_pool2d(noncontiguous(x), p), ref, 1e-12, 1e-12));
    EXPECT_TRUE(all_close(ops::avg_pool2d(x.to(DType::f32), p), ref, 1e-5, 1e-5));
  }
}

namespace {

// Bit for bit the per-output float loop, NaN, infinities and -0 included,
// on 1-pixel maps, 7-pixel rows, rows of several strips and vectors,
// channel counts off any block.
void expect_float_windows_equal_the_per_output_loop(const std::vector<ops::AvgPool2dParams>& configs) {
  for (const std::vector<int64_t>& shape : {std::vector<int64_t>{1, 5, 7, 7}, {2, 3, 14, 14}, {1, 2, 1, 1},
                                            {1, 3, 5, 70}, {1, 2, 9, 150}, {1, 17, 3, 33}, {1, 2, 6, 129}}) {
    std::vector<double> v = randn(shape, 11).to_vector();
    v[0] = -0.0;
    if (v.size() > 40) {
      v[17] = std::numeric_limits<double>::quiet_NaN();
      v[31] = std::numeric_limits<double>::infinity();
      v[39] = -std::numeric_limits<double>::infinity();
    }
    const Tensor x = Tensor::from_vector(v, shape, DType::f32);
    for (const auto& p : configs) {
      if (p.kernel_size[0] > shape[2] + 2 * p.padding[0] || p.kernel_size[1] > shape[3] + 2 * p.padding[1]) continue;
      const std::vector<double> got = ops::avg_pool2d(x, p).to_vector(), want = ref_avg_pool<float>(x, p).to_vector();
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < got.size(); ++i) {
        const bool same = std::isnan(want[i]) ? std::isnan(got[i])
                                              : got[i] == want[i] && std::signbit(got[i]) == std::signbit(want[i]);
        ASSERT_TRUE(same) << "kernel " << p.kernel_size[0] << "x" << p.kernel_size[1] << " stride " << p.stride[0]
                          << "x" << p.stride[1] << " include " << p.count_include_pad << " on " << shape[2] << "x"
                          << shape[3] << " at " << i << ": " << got[i] << " vs " << want[i];
      }
    }
  }
}

}  // namespace

// Float32 stride-1 windows of up to 3x3 run as a depthwise convolution of
// ones in the in-place plane kernel, divided by a divisor map.
TEST(PoolAvgPool2d, FloatStrideOneWindowsEqualThePerOutputFloatLoop) {
  std::vector<ops::AvgPool2dParams> configs;
  for (bool include : {true, false}) {
    configs.push_back({{3, 3}, {1, 1}, {1, 1}, false, include, std::nullopt});
    configs.push_back({{3, 3}, {1, 1}, {0, 0}, false, include, std::nullopt});
    configs.push_back({{2, 2}, {1, 1}, {1, 0}, true, include, std::nullopt});
    configs.push_back({{1, 3}, {1, 1}, {0, 1}, false, include, std::nullopt});
    configs.push_back({{3, 1}, {1, 1}, {1, 0}, false, include, std::nullopt});
    configs.push_back({{3, 3}, {1, 1}, {1, 1}, false, include, 4});
  }
  expect_float_windows_equal_the_per_output_loop(configs);
}

// Stride 2 in width (ADSCNet's and STDC's 3x3 downsampling pools): each
// input row split into its even and odd columns by the vector kernel
// (Isa::even), the sums in the per-output loop's order; odd widths end with
// an even column alone.
TEST(PoolAvgPool2d, FloatStrideTwoWindowsEqualThePerOutputFloatLoop) {
  std::vector<ops::AvgPool2dParams> configs;
  for (bool include : {true, false})
    for (bool ceil_mode : {false, true}) {
      configs.push_back({{3, 3}, {2, 2}, {1, 1}, ceil_mode, include, std::nullopt});
      configs.push_back({{2, 2}, {2, 2}, {0, 0}, ceil_mode, include, std::nullopt});
      configs.push_back({{3, 3}, {1, 2}, {0, 1}, ceil_mode, include, std::nullopt});
      configs.push_back({{5, 5}, {2, 2}, {2, 2}, ceil_mode, include, std::nullopt});
    }
  expect_float_windows_equal_the_per_output_loop(configs);
}

// Windows past 3x3 sum their interior separably (ADSCNet's 13x13 and 9x9 at
// stride 1), on maps with an interior and on one narrower than the window.
TEST(PoolAvgPool2d, LargeStrideOneWindowsMatchNaiveLoop) {
  for (const std::vector<int64_t>& shape : {std::vector<int64_t>{2, 3, 21, 33}, {1, 2, 30, 8}})
    for (bool include : {true, false})
      for (const ops::AvgPool2dParams& p :
           {ops::AvgPool2dParams{{13, 13}, {1, 1}, {6, 6}, false, include, std::nullopt},
            ops::AvgPool2dParams{{9, 5}, {1, 1}, {4, 1}, false, include, std::nullopt},
            ops::AvgPool2dParams{{4, 6}, {1, 1}, {2, 3}, true, include, std::nullopt}}) {
        const Tensor x = randn(shape, 5);
        const Tensor ref = ref_avg_pool(x, p);
        EXPECT_TRUE(all_close(ops::avg_pool2d(x, p), ref, 1e-12, 1e-12))
            << "kernel " << p.kernel_size[0] << "x" << p.kernel_size[1] << " on " << shape[2] << "x" << shape[3];
        EXPECT_TRUE(all_close(ops::avg_pool2d(x.to(DType::f32), p), ref, 1e-6, 1e-6));
      }
}

TEST(PoolAvgPool2d, PinnedTorchValues) {
  std::vector<double> z;
  for (int i = 0; i < 42; ++i) z.push_back((i * 37) % 42);
  const Tensor x = Tensor::from_vector(z, {1, 1, 6, 7});
  // torch 1.13: F.avg_pool2d(z, kernel_size=(3,2), stride=(2,3), padding=(0,1), ceil_mode=True,
  //                          count_include_pad=True / False), z as in PoolMaxPool2d.PinnedTorchValues
  ops::AvgPool2dParams p{{3, 2}, {2, 3}, {0, 1}, true, true, std::nullopt};
  EXPECT_TRUE(all_close(ops::avg_pool2d(x, p),
                        Tensor::from_vector({3.5, 29.5, 21.5, 10.5, 15.5, 28.5, 15.75, 19, 14.5}, {1, 1, 3, 3}),
                        1e-6, 1e-6));
  p.count_include_pad = false;
  EXPECT_TRUE(all_close(ops::avg_pool2d(x, p),
                        Tensor::from_vector({7, 29.5, 21.5, 21, 15.5, 28.5, 31.5, 19, 14.5}, {1, 1, 3, 3}),
                        1e-6, 1e-6));
}

TEST(PoolAdaptive, AvgAndMaxMatchNaiveLoopForAnyOutputSize) {
  const Tensor x = randn({2, 3, 7, 13}, 4);
  const std::vector<std::array<int64_t, 2>> sizes = {{3, 5}, {9, 17}, {1, 1}, {7, 13}, {2, 13}, {14, 4}};
  for (const auto& s : sizes) {
    const PoolRef avg = ref_adaptive(x, s[0], s[1], false);
    const PoolRef mx = ref_adaptive(x, s[0], s[1], true);
    for (const Tensor& in : {x, noncontiguous(x)}) {
      EXPECT_TRUE(all_close(ops::adaptive_avg_pool2d(in, s), avg.out, 1e-12, 1e-12)) << s[0] << "x" << s[1];
      auto [out, idx] = ops::adaptive_max_pool2d_with_indices(in, s);
      EXPECT_TRUE(all_close(out, mx.out)) << s[0] << "x" << s[1];
      EXPECT_EQ(idx.to_vector(), mx.indices.to_vector());
    }
    EXPECT_TRUE(all_close(ops::adaptive_avg_pool2d(x.to(DType::f32), s), avg.out, 1e-5, 1e-5));
    EXPECT_TRUE(all_close(ops::adaptive_max_pool2d(x.to(DType::f32), s), mx.out, 1e-6, 1e-6));
  }
}

TEST(PoolMisuse, ErrorsNameOpArgumentAndShape) {
  const Tensor x = randn({2, 3, 7, 13}, 5);
  EXPECT_TRUE(throws_mentioning([&] { ops::max_pool2d(randn({3, 7, 13}, 1), {{2, 2}}); },
                                {"max_pool2d", "input", "[3, 7, 13]"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::max_pool2d(x, {{3, 3}, {1, 1}, {2, 2}}); },
                                {"max_pool2d", "padding [2, 2]", "kernel_size [3, 3]", "[2, 3, 7, 13]"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::max_pool2d(x, {{3, 3}, {0, 2}}); }, {"max_pool2d", "stride [0, 2]"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::max_pool2d(x, {{0, 3}}); }, {"max_pool2d", "kernel_size [0, 3]"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::max_pool2d(x, {{3, 3}, {1, 1}, {0, 0}, {0, 1}}); },
                                {"max_pool2d", "dilation [0, 1]"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::max_pool2d(x, {{3, 3}, {1, 1}, {0, 0}, {4, 1}}); },
                                {"max_pool2d", "too small", "[2, 3, 7, 13]"}));
  EXPECT_TRUE(
      throws_mentioning([&] { ops::max_pool2d(x.to(DType::i64), {{2, 2}}); }, {"max_pool2d", "input", "int64"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::avg_pool2d(x, {{2, 2}, {0, 0}, {0, 0}, false, true, 0}); },
                                {"avg_pool2d", "divisor_override"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::avg_pool2d(x, {{2, 2}, {0, 0}, {2, 0}}); },
                                {"avg_pool2d", "padding [2, 0]", "kernel_size [2, 2]"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::adaptive_avg_pool2d(x, {0, 3}); },
                                {"adaptive_avg_pool2d", "output_size [0, 3]", "[2, 3, 7, 13]"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::adaptive_max_pool2d(randn({7, 13}, 1), {2, 2}); },
                                {"adaptive_max_pool2d", "input", "[7, 13]"}));

  auto [pooled, idx] = ops::max_pool2d_with_indices(x, {{2, 2}});
  EXPECT_TRUE(throws_mentioning([&] { ops::max_unpool2d(pooled, idx.to(DType::f32), {6, 12}); },
                                {"max_unpool2d", "indices", "int64"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::max_unpool2d(pooled, idx.narrow(3, 0, 2), {6, 12}); },
                                {"max_unpool2d", "indices", "[2, 3, 3, 2]", "[2, 3, 3, 6]"}));
  // Indices of a 6x12 plane do not fit a 3x3 output.
  EXPECT_TRUE(throws_mentioning([&] { ops::max_unpool2d(pooled, idx, {3, 3}); },
                                {"max_unpool2d", "index", "outside the output plane 3x3"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::max_pool2d_backward(pooled, idx, {2, 4, 7, 13}); },
                                {"max_pool2d_backward", "grad_output", "[2, 3, 3, 6]", "[2, 4, 7, 13]"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::avg_pool2d_backward(pooled, {2, 3, 7, 13}, {{3, 3}}); },
                                {"avg_pool2d_backward", "grad_output", "[2, 3, 3, 6]", "[2, 3, 2, 4]"}));
}
