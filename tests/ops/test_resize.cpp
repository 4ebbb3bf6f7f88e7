// Resampling forward against naive double loops written here, pinned PyTorch
// values, and misuse errors.
#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <vector>

#include "common/testing.h"
#include "ops/resize.h"

using namespace cudaseg;
using cudaseg::testing::all_close;
using cudaseg::testing::noncontiguous;
using cudaseg::testing::randn;
using cudaseg::testing::throws_mentioning;
using cudaseg::testing::uniform;

namespace {

// A scale of 0 stands for none (the kernels' std::nullopt).
//
// PyTorch 1.13's nearest rule for NCHW, restated: the coordinate scale is
// 1/scale_factor when one was given, else in/out, all in float32.
int64_t ref_nearest(int64_t d, int64_t in, int64_t out, double scale) {
  const float s = scale > 0 ? static_cast<float>(1.0 / scale) : static_cast<float>(in) / static_cast<float>(out);
  const auto src = static_cast<int64_t>(std::floor(static_cast<float>(d) * s));
  return src < in - 1 ? src : in - 1;
}

// The source coordinate of output index d in bilinear mode.
double ref_linear_src(int64_t d, int64_t in, int64_t out, bool align_corners, double scale) {
  if (in == out) return static_cast<double>(d);
  if (align_corners) return out > 1 ? static_cast<double>(d) * (in - 1) / (out - 1) : 0.0;
  const double ratio = scale > 0 ? 1.0 / scale : static_cast<double>(in) / out;
  const double src = ratio * (d + 0.5) - 0.5;
  return src < 0 ? 0.0 : src;
}

Tensor ref_upsample(const Tensor& x, int64_t OH, int64_t OW, bool bilinear, bool align_corners, double sh = 0,
                    double sw = 0) {
  const int64_t P = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  const std::vector<double> v = x.to_vector();
  std::vector<double> out;
  for (int64_t p = 0; p < P; ++p)
    for (int64_t oy = 0; oy < OH; ++oy)
      for (int64_t ox = 0; ox < OW; ++ox) {
        const double* plane = v.data() + p * H * W;
        if (!bilinear) {
          out.push_back(plane[ref_nearest(oy, H, OH, sh) * W + ref_nearest(ox, W, OW, sw)]);
          continue;
        }
        const double sy = ref_linear_src(oy, H, OH, align_corners, sh);
        const double sx = ref_linear_src(ox, W, OW, align_corners, sw);
        const auto y0 = static_cast<int64_t>(sy), x0 = static_cast<int64_t>(sx);
        const int64_t y1 = std::min(y0 + 1, H - 1), x1 = std::min(x0 + 1, W - 1);
        const double ly = sy - y0, lx = sx - x0;
        out.push_back((1 - ly) * ((1 - lx) * plane[y0 * W + x0] + lx * plane[y0 * W + x1]) +
                      ly * ((1 - lx) * plane[y1 * W + x0] + lx * plane[y1 * W + x1]));
      }
  return Tensor::from_vector(out, {x.size(0), x.size(1), OH, OW}, DType::f64);
}

Tensor ref_grid_sample(const Tensor& x, const Tensor& grid, bool border, bool align_corners) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t OH = grid.size(1), OW = grid.size(2);
  const std::vector<double> v = x.to_vector(), g = grid.to_vector();
  auto unnormalize = [&](double c, int64_t size) {
    double p = align_corners ? (c + 1) / 2 * (size - 1) : ((c + 1) * size - 1) / 2;
    if (border) p = std::min(std::max(p, 0.0), static_cast<double>(size - 1));
    return p;
  };
  std::vector<double> out(static_cast<size_t>(N * C * OH * OW));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t oy = 0; oy < OH; ++oy)
      for (int64_t ox = 0; ox < OW; ++ox) {
        const double px = unnormalize(g[((n * OH + oy) * OW + ox) * 2], W);
        const double py = unnormalize(g[((n * OH + oy) * OW + ox) * 2 + 1], H);
        const double fx = std::floor(px), fy = std::floor(py);
        for (int64_t c = 0; c < C; ++c) {
          double acc = 0;
          for (int dy = 0; dy < 2; ++dy)
            for (int dx = 0; dx < 2; ++dx) {
              const auto xx = static_cast<int64_t>(fx) + dx, yy = static_cast<int64_t>(fy) + dy;
              if (xx < 0 || xx >= W || yy < 0 || yy >= H) continue;
              const double wgt = (dx ? px - fx : 1 - (px - fx)) * (dy ? py - fy : 1 - (py - fy));
              acc += wgt * v[((n * C + c) * H + yy) * W + xx];
            }
          out[((n * C + c) * OH + oy) * OW + ox] = acc;
        }
      }
  return Tensor::from_vector(out, {N, C, OH, OW}, DType::f64);
}

}  // namespace

TEST(ResizeInterpolate, NearestBySizeMatchesNaiveLoop) {
  const Tensor x = randn({2, 3, 7, 13}, 1);
  for (const std::array<int64_t, 2> s : {std::array<int64_t, 2>{14, 26}, {7, 13}, {12, 5}, {3, 30}, {1, 1}, {9, 17}}) {
    const Tensor ref = ref_upsample(x, s[0], s[1], false, false);
    EXPECT_EQ(ops::interpolate(x, s).to_vector(), ref.to_vector()) << s[0] << "x" << s[1];
    EXPECT_EQ(ops::interpolate(noncontiguous(x), s, std::nullopt, "nearest").to_vector(), ref.to_vector());
    EXPECT_TRUE(all_close(ops::interpolate(x.to(DType::f32), s), ref, 1e-6, 1e-6));
  }
}

TEST(ResizeInterpolate, NearestByScaleFactorBothScaleRules) {
  const Tensor x = randn({1, 2, 7, 13}, 2);
  for (const std::array<double, 2> sf : {std::array<double, 2>{1.7, 1.7}, {0.6, 2.3}, {2.0, 0.5}, {1.1, 3.0}}) {
    const int64_t OH = static_cast<int64_t>(std::floor(7 * sf[0])), OW = static_cast<int64_t>(std::floor(13 * sf[1]));
    const Tensor given = ops::interpolate(x, std::nullopt, sf, "nearest");
    EXPECT_EQ(given.to_vector(), ref_upsample(x, OH, OW, false, false, sf[0], sf[1]).to_vector()) << sf[0];
    const Tensor recomputed = ops::interpolate(x, std::nullopt, sf, "nearest", std::nullopt, true);
    EXPECT_EQ(recomputed.to_vector(), ref_upsample(x, OH, OW, false, false).to_vector());
  }
}

TEST(ResizeInterpolate, BilinearMatchesNaiveLoopBySizeAndScale) {
  const Tensor x = randn({2, 3, 7, 13}, 3);
  for (bool ac : {false, true}) {
    for (const std::array<int64_t, 2> s : {std::array<int64_t, 2>{28, 52}, {7, 13}, {3, 5}, {12, 4}, {1, 1}, {9, 17}}) {
      const Tensor ref = ref_upsample(x, s[0], s[1], true, ac);
      EXPECT_TRUE(all_close(ops::interpolate(x, s, std::nullopt, "bilinear", ac), ref, 1e-12, 1e-12))
          << s[0] << "x" << s[1] << " align_corners " << ac;
      EXPECT_TRUE(all_close(ops::interpolate(noncontiguous(x), s, std::nullopt, "bilinear", ac), ref, 1e-12, 1e-12));
      EXPECT_TRUE(all_close(ops::interpolate(x.to(DType::f32), s, std::nullopt, "bilinear", ac), ref, 1e-5, 1e-5));
    }
    for (const std::array<double, 2> sf : {std::array<double, 2>{1.7, 1.7}, {0.6, 2.3}, {4.0, 0.45}}) {
      const int64_t OH = static_cast<int64_t>(std::floor(7 * sf[0])), OW = static_cast<int64_t>(std::floor(13 * sf[1]));
      const Tensor given = ops::interpolate(x, std::nullopt, sf, "bilinear", ac);
      // align_corners uses (in-1)/(out-1) whatever the scale factor.
      EXPECT_TRUE(all_close(given, ref_upsample(x, OH, OW, true, ac, ac ? 0 : sf[0], ac ? 0 : sf[1]), 1e-12, 1e-12))
          << sf[0];
      const Tensor recomputed = ops::interpolate(x, std::nullopt, sf, "bilinear", ac, true);
      EXPECT_TRUE(all_close(recomputed, ref_upsample(x, OH, OW, true, ac), 1e-12, 1e-12));
    }
  }
}

TEST(ResizeInterpolate, PinnedTorchValues) {
  // torch 1.13: x = torch.arange(21, dtype=torch.float32).view(1,1,3,7)
  const Tensor x = Tensor::arange(21).view({1, 1, 3, 7});
  // F.interpolate(x, scale_factor=1.7, mode='nearest'): 3x7 -> 5x11, columns at floor(j / 1.7).
  const Tensor near = ops::interpolate(x, std::nullopt, std::array<double, 2>{1.7, 1.7});
  ASSERT_EQ(near.shape(), (Shape{1, 1, 5, 11}));
  const std::vector<double> nv = near.to_vector();
  EXPECT_EQ(std::vector<double>(nv.begin(), nv.begin() + 11), (std::vector<double>{0, 0, 1, 1, 2, 2, 3, 4, 4, 5, 5}));
  EXPECT_EQ(std::vector<double>(nv.begin() + 44, nv.end()),
            (std::vector<double>{14, 14, 15, 15, 16, 16, 17, 18, 18, 19, 19}));
  // ... recompute_scale_factor=True: columns at floor(j * 7/11).
  const std::vector<double> rv =
      ops::interpolate(x, std::nullopt, std::array<double, 2>{1.7, 1.7}, "nearest", std::nullopt, true).to_vector();
  EXPECT_EQ(std::vector<double>(rv.begin(), rv.begin() + 11), (std::vector<double>{0, 0, 1, 1, 2, 3, 3, 4, 5, 5, 6}));
  EXPECT_EQ(std::vector<double>(rv.begin() + 22, rv.begin() + 33),
            (std::vector<double>{7, 7, 8, 8, 9, 10, 10, 11, 12, 12, 13}));

  // F.interpolate(torch.arange(30.).view(1,2,3,5), scale_factor=(1.05, 2.1), mode='nearest')[0, 1]:
  // 3 -> 3 rows and 5 -> 10 columns still step by 1/1.05 and 1/2.1 (no copy or halving shortcut).
  const Tensor c = ops::interpolate(Tensor::arange(30).view({1, 2, 3, 5}), std::nullopt,
                                    std::array<double, 2>{1.05, 2.1});
  ASSERT_EQ(c.shape(), (Shape{1, 2, 3, 10}));
  EXPECT_EQ(c.select(1, 1).to_vector(), (std::vector<double>{15, 15, 15, 16, 16, 17, 17, 18, 18, 19,  //
                                                             15, 15, 15, 16, 16, 17, 17, 18, 18, 19,  //
                                                             20, 20, 20, 21, 21, 22, 22, 23, 23, 24}));

  // y = torch.tensor([[3., -1., 4., 1., -5.], [9., 2., -6., 5., 3.]]).view(1,1,2,5)
  const Tensor y = Tensor::from_vector({3, -1, 4, 1, -5, 9, 2, -6, 5, 3}, {1, 1, 2, 5});
  const std::array<double, 2> sf{1.7, 1.7};
  // F.interpolate(y, scale_factor=1.7, mode='bilinear', align_corners=False) -> [1, 1, 3, 8]
  EXPECT_TRUE(all_close(ops::interpolate(y, std::nullopt, sf, "bilinear", false),
                        Tensor::from_vector({3, 1.47058821, -0.882353306, 1.79411793, 3.55882311, 1.79411733,
                                             -0.941177487, -4.47058916, 5.29411793, 3.32612467, 0.298442513,
                                             0.163494796, 0.522491276, 1.90657473, 1.08304441, -1.54671323,
                                             8.8235302, 6.18079662, 2.11505151, -2.34515667, -4.14878845,
                                             2.07958603, 4.19723177, 2.9515574},
                                            {1, 1, 3, 8}),
                        1e-6, 1e-6));
  // ... with recompute_scale_factor=True
  EXPECT_TRUE(all_close(ops::interpolate(y, std::nullopt, sf, "bilinear", false, true),
                        Tensor::from_vector({3, 1.25, -0.6875, 2.4375, 3.0625, 1.1875, -2.375, -5, 6, 3.59375, 0.40625,
                                             -0.53125, 0.25, 2.75, 0.75, -1, 9, 5.93749952, 1.5, -3.5, -2.5625, 4.3125,
                                             3.875, 2.99999976},
                                            {1, 1, 3, 8}),
                        1e-6, 1e-6));
  // ... with align_corners=True
  EXPECT_TRUE(all_close(ops::interpolate(y, std::nullopt, sf, "bilinear", true),
                        Tensor::from_vector({3, 0.714285612, -0.28571403, 2.57142901, 3.14285684, 1.42857099,
                                             -1.57142949, -5, 6, 2.85714269, 0.285714209, -0.571428657, 0.142857552,
                                             2.42857194, 1.28571367, -1, 9, 5, 0.857142448, -3.71428633, -2.85714173,
                                             3.42857289, 4.1428566, 3},
                                            {1, 1, 3, 8}),
                        1e-6, 1e-6));
}

TEST(ResizeGridSample, MatchesNaiveLoop) {
  const Tensor x = randn({2, 3, 7, 13}, 4);
  // Beyond [-1, 1] on purpose: samples outside and across the border.
  const Tensor grid = uniform({2, 5, 6, 2}, -1.3, 1.3, 5);
  for (bool border : {false, true})
    for (bool ac : {false, true}) {
      const std::string pad = border ? "border" : "zeros";
      const Tensor ref = ref_grid_sample(x, grid, border, ac);
      EXPECT_TRUE(all_close(ops::grid_sample(x, grid, "bilinear", pad, ac), ref, 1e-12, 1e-12)) << pad << " " << ac;
      EXPECT_TRUE(all_close(ops::grid_sample(noncontiguous(x), noncontiguous(grid), "bilinear", pad, ac), ref, 1e-12,
                            1e-12));
      EXPECT_TRUE(all_close(ops::grid_sample(x.to(DType::f32), grid.to(DType::f32), "bilinear", pad, ac), ref, 1e-5,
                            1e-5));
    }
}

TEST(ResizeGridSample, PixelCentreGridIsTheIdentity) {
  const Tensor x = randn({1, 2, 5, 7}, 6);
  for (bool ac : {false, true}) {
    std::vector<double> g;
    for (int64_t y = 0; y < 5; ++y)
      for (int64_t xx = 0; xx < 7; ++xx) {
        g.push_back(ac ? 2.0 * xx / 6 - 1 : (2.0 * xx + 1) / 7 - 1);
        g.push_back(ac ? 2.0 * y / 4 - 1 : (2.0 * y + 1) / 5 - 1);
      }
    const Tensor grid = Tensor::from_vector(g, {1, 5, 7, 2}, DType::f64);
    EXPECT_TRUE(all_close(ops::grid_sample(x, grid, "bilinear", "zeros", ac), x, 1e-12, 1e-12));
  }
}

TEST(ResizePixelShuffle, MatchesNaiveLoopAndInverts) {
  const Tensor x = randn({2, 12, 3, 5}, 7);
  const Tensor y = ops::pixel_shuffle(x, 2);
  ASSERT_EQ(y.shape(), (Shape{2, 3, 6, 10}));
  const std::vector<double> xv = x.to_vector(), yv = y.to_vector();
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t h = 0; h < 3; ++h)
        for (int64_t w = 0; w < 5; ++w)
          for (int64_t i = 0; i < 2; ++i)
            for (int64_t j = 0; j < 2; ++j)
              ASSERT_EQ(yv[((n * 3 + c) * 6 + h * 2 + i) * 10 + w * 2 + j],
                        xv[((n * 12 + c * 4 + i * 2 + j) * 3 + h) * 5 + w]);
  EXPECT_EQ(ops::pixel_shuffle(noncontiguous(x), 2).to_vector(), yv);
  EXPECT_EQ(ops::pixel_unshuffle(y, 2).to_vector(), xv);
  EXPECT_EQ(ops::pixel_unshuffle(noncontiguous(y), 2).to_vector(), xv);
  // Extra leading dims and r = 3; r = 1 is a copy.
  const Tensor z = randn({2, 2, 9, 2, 3}, 8);
  const Tensor zs = ops::pixel_shuffle(z, 3);
  EXPECT_EQ(zs.shape(), (Shape{2, 2, 1, 6, 9}));
  EXPECT_EQ(ops::pixel_unshuffle(zs, 3).to_vector(), z.to_vector());
  const Tensor same = ops::pixel_shuffle(x, 1);
  EXPECT_EQ(same.to_vector(), xv);
  EXPECT_NE(same.storage(), x.storage());
}

TEST(ResizeMisuse, ErrorsNameOpArgumentAndShape) {
  const Tensor x = randn({2, 3, 7, 13}, 9);
  const std::array<double, 2> sf{2.0, 2.0};
  const std::array<int64_t, 2> size{14, 26};
  EXPECT_TRUE(throws_mentioning([&] { ops::interpolate(x, size, sf); },
                                {"interpolate", "exactly one of size and scale_factor", "[2, 3, 7, 13]"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::interpolate(x, std::nullopt); }, {"interpolate", "exactly one"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::interpolate(x, size, std::nullopt, "nearest", false); },
                                {"interpolate", "align_corners", "nearest"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::interpolate(x, size, std::nullopt, "bicubic"); },
                                {"interpolate", "mode 'bicubic'"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::interpolate(x, size, std::nullopt, "bilinear", false, true); },
                                {"interpolate", "recompute_scale_factor"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::interpolate(x, std::nullopt, std::array<double, 2>{0.1, 1.0}); },
                                {"interpolate", "scale_factor [0.1, 1]", "empty", "[2, 3, 7, 13]"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::interpolate(x, std::nullopt, std::array<double, 2>{-2.0, 1.0}); },
                                {"interpolate", "scale_factor", "positive"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::interpolate(x, std::array<int64_t, 2>{0, 4}); },
                                {"interpolate", "[0, 4]", "[2, 3, 7, 13]"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::interpolate(randn({3, 7, 13}, 1), size); },
                                {"interpolate", "input", "[3, 7, 13]"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::upsample_bilinear2d_backward(x, {2, 4, 3, 3}, false); },
                                {"upsample_bilinear2d_backward", "grad_output", "[2, 3, 7, 13]", "[2, 4, 3, 3]"}));

  const Tensor grid = uniform({2, 4, 5, 2}, -1, 1, 10);
  EXPECT_TRUE(throws_mentioning([&] { ops::grid_sample(x, grid.narrow(0, 0, 1)); },
                                {"grid_sample", "grid", "[1, 4, 5, 2]", "[2, 3, 7, 13]"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::grid_sample(x, grid.narrow(3, 0, 1)); },
                                {"grid_sample", "grid", "[2, 4, 5, 1]"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::grid_sample(x, grid.to(DType::f32)); }, {"grid_sample", "grid", "float32"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::grid_sample(x, grid, "bilinear", "reflection"); },
                                {"grid_sample", "padding_mode 'reflection'"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::grid_sample(x, grid, "nearest"); }, {"grid_sample", "mode 'nearest'"}));

  EXPECT_TRUE(throws_mentioning([&] { ops::pixel_shuffle(x, 2); },
                                {"pixel_shuffle", "[2, 3, 7, 13]", "upscale_factor^2 = 4"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::pixel_shuffle(randn({4, 4}, 1), 2); }, {"pixel_shuffle", "[4, 4]"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::pixel_shuffle(x, 0); }, {"pixel_shuffle", "upscale_factor"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::pixel_unshuffle(x, 2); },
                                {"pixel_unshuffle", "[2, 3, 7, 13]", "downscale_factor 2"}));
}
