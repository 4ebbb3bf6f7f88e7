// Pointwise products of small maps as pixel rows (ops/cpu/conv_small_map.cpp)
// and the per-ISA transpose they use (Isa::transpose).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "common/cpu_isas.h"
#include "common/testing.h"
#include "ops/conv.h"
#include "ops/cpu/conv.h"
#include "runtime/rng.h"
#include "runtime/thread_pool.h"

using namespace cudaseg;
using cudaseg::testing::isas_of_this_cpu;

// Every kernel's transpose, exact, on sizes around its block (full blocks,
// edges of rows and of columns, single rows and columns), with row strides
// wider than the rows; nothing outside the destination's columns written.
TEST(ConvSmallMap, TransposeOfEveryKernelIsExact) {
  const auto isas = isas_of_this_cpu();
  if (isas.empty()) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  for (const auto& isa : isas)
    for (int64_t rows : {1, 7, 8, 15, 16, 17, 33, 49})
      for (int64_t cols : {1, 8, 9, 16, 31, 48}) {
        const int64_t lds = cols + 5, ldd = rows + 3;
        std::vector<float> src(rows * lds), dst(cols * ldd, -1.0f);
        for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<float>(i);
        isa.transpose(src.data(), rows, cols, lds, dst.data(), ldd);
        for (int64_t j = 0; j < cols; ++j)
          for (int64_t i = 0; i < ldd; ++i)
            ASSERT_EQ(dst[j * ldd + i], i < rows ? src[i * lds + j] : -1.0f)
                << isa.name << " " << rows << "x" << cols << " at " << j << "," << i;
      }
}

// The float32 convolutions that take the pixel rows (1x1 at 7x7, 14x14 and
// 15x15; unfolded, each pixel's window its row: a 3x3 stride-2 convolution
// to 7x7 outputs, a 5x5 one of 40 output channels, padded to the vector, a
// 3x3 one of dilation 2 on 9x11; a batch of 2, with and without bias)
// against float64, and the geometries they refuse.
TEST(ConvSmallMap, Float32ConvolutionsMatchFloat64) {
  const ops::cpu::direct::Isa* isa = ops::cpu::direct::best_isa();
  if (!isa) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  struct Case {
    int64_t c, o, h, w, k, stride, dilation = 1;
  };
  // (Pixel rows in tiles of 6, then of 4, 2 and 1: 49, 225 and 196 rows.
  // The unfolded ones' rows are their windows: strided, 5x5, dilated.)
  for (const Case& cs : {Case{40, 64, 7, 7, 1, 1}, Case{300, 32, 15, 15, 1, 1}, Case{24, 48, 14, 13, 3, 2},
                         Case{24, 40, 7, 7, 5, 1}, Case{64, 48, 14, 14, 1, 1}, Case{32, 32, 9, 11, 3, 1, 2}})
    for (const bool with_bias : {false, true}) {
      const Tensor x = cudaseg::testing::randn({2, cs.c, cs.h, cs.w}, 61);
      // Weights of a net's scale (std 1 / sqrt(fan-in)): outputs and partial
      // sums of order 1, so float32's error stays near its rounding unit.
      const double a = std::sqrt(3.0 / static_cast<double>(cs.c * cs.k * cs.k));
      const Tensor w = cudaseg::testing::uniform({cs.o, cs.c, cs.k, cs.k}, -a, a, 62);
      const Tensor b = with_bias ? cudaseg::testing::randn({cs.o}, 63) : Tensor();
      ops::Conv2dParams p;
      p.stride = {cs.stride, cs.stride};
      p.padding = {cs.k / 2 * cs.dilation, cs.k / 2 * cs.dilation};
      p.dilation = {cs.dilation, cs.dilation};
      const Tensor want = ops::conv2d(x, w, b, p);
      // The transposes' channel ranges and the product's tasks per thread count.
      const int before = num_threads();
      for (int threads : {1, 2, 3}) {
        set_num_threads(threads);
        const Tensor got =
            ops::conv2d(x.to(DType::f32), w.to(DType::f32), with_bias ? b.to(DType::f32) : Tensor(), p);
        EXPECT_TRUE(cudaseg::testing::all_close(got, want, 2e-5, 2e-5))
            << cs.c << "->" << cs.o << " k" << cs.k << ", " << threads << " threads";
      }
      set_num_threads(before);
    }
  ops::kernels::ConvGeom g;
  g.n = 1, g.c = 64, g.h = g.ho = 7, g.w = g.wo = 7, g.o = 64;
  EXPECT_TRUE(ops::cpu::conv2d_small_map_applies(g, *isa));
  ops::kernels::ConvGeom padded = g;
  padded.o = 5 * isa->lanes / 2;  // 40 channels padded to 48 (AVX-512), 20 to 24 (AVX2)
  EXPECT_TRUE(ops::cpu::conv2d_small_map_applies(padded, *isa)) << "O padded by a fifth";
  ops::kernels::ConvGeom classes = g;
  classes.o = 19;
  EXPECT_FALSE(ops::cpu::conv2d_small_map_applies(classes, *isa)) << "O padded by more than a fifth";
  ops::kernels::ConvGeom whole = g;
  whole.h = whole.ho = whole.w = whole.wo = 8;
  EXPECT_FALSE(ops::cpu::conv2d_small_map_applies(whole, *isa)) << "whole vectors of pixels";
}

// Depthwise convolutions of narrow maps through the channels-last kernel
// (3x3 and 5x5 on 7x7, 14x13 and 1x5 maps, channels past the vector, 128
// and 512 channels whose pixel rows are padded, stride 2 on odd and even
// sizes, a batch of 2) against float64, and the geometries that keep the
// map kernel.
TEST(ConvSmallMap, DepthwiseFloat32MatchesFloat64) {
  const ops::cpu::direct::Isa* isa = ops::cpu::direct::best_isa();
  if (!isa) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  struct Case {
    int64_t c, h, w, k, stride;
  };
  for (const Case& cs : {Case{20, 7, 7, 3, 1}, Case{64, 14, 13, 5, 1}, Case{37, 1, 5, 3, 1}, Case{128, 7, 7, 3, 1},
                         Case{512, 14, 14, 3, 2}, Case{40, 13, 9, 5, 2}, Case{16, 2, 3, 3, 2}})
    for (const bool with_bias : {false, true}) {
      const Tensor x = cudaseg::testing::randn({2, cs.c, cs.h, cs.w}, 64);
      const Tensor w = cudaseg::testing::uniform({cs.c, 1, cs.k, cs.k}, -0.5, 0.5, 65);
      const Tensor b = with_bias ? cudaseg::testing::randn({cs.c}, 66) : Tensor();
      ops::Conv2dParams p;
      p.padding = {cs.k / 2, cs.k / 2};
      p.stride = {cs.stride, cs.stride};
      p.groups = cs.c;
      ops::kernels::ConvGeom g;
      g.n = 2, g.c = g.o = g.groups = cs.c, g.h = cs.h, g.w = cs.w, g.kh = g.kw = cs.k, g.ph = g.pw = cs.k / 2;
      g.sh = g.sw = cs.stride, g.ho = (cs.h - 1) / cs.stride + 1, g.wo = (cs.w - 1) / cs.stride + 1;
      EXPECT_TRUE(ops::cpu::conv2d_small_map_depthwise_applies(g, *isa)) << cs.c << " k" << cs.k << " s" << cs.stride;
      const Tensor got =
          ops::conv2d(x.to(DType::f32), w.to(DType::f32), with_bias ? b.to(DType::f32) : Tensor(), p);
      EXPECT_TRUE(cudaseg::testing::all_close(got, ops::conv2d(x, w, b, p), 1e-5, 1e-5))
          << cs.c << " k" << cs.k << " s" << cs.stride;
    }
  ops::kernels::ConvGeom g;
  g.n = 1, g.c = g.o = g.groups = 64, g.h = g.ho = g.w = g.wo = 7, g.kh = g.kw = 3, g.ph = g.pw = 1;
  EXPECT_TRUE(ops::cpu::conv2d_small_map_depthwise_applies(g, *isa));
  ops::kernels::ConvGeom wide = g;
  wide.w = wide.wo = 56;
  EXPECT_FALSE(ops::cpu::conv2d_small_map_depthwise_applies(wide, *isa)) << "rows of whole vectors";
  ops::kernels::ConvGeom dilated = g;
  dilated.dh = dilated.dw = 2, dilated.ph = dilated.pw = 2;
  EXPECT_FALSE(ops::cpu::conv2d_small_map_depthwise_applies(dilated, *isa)) << "dilated";
  ops::kernels::ConvGeom stride3 = g;
  stride3.sh = stride3.sw = 3, stride3.ho = stride3.wo = 3;
  EXPECT_FALSE(ops::cpu::conv2d_small_map_depthwise_applies(stride3, *isa)) << "stride 3";
}
