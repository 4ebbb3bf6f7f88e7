// The direct float32 convolution (ops/cpu/conv_direct.h): each instruction
// set's kernel this CPU runs, against a float64 loop over the definition, on
// geometries that reach every edge of the padded-band layout (strides and
// their phases, dilations, padding wider than the kernel, groups, channel
// counts off the kernel's block, widths off its vector and strip, several
// bands and threads), of the pointwise path (one row per image, split over
// columns and channel blocks) and of the unfolded path (output rows narrower
// than 3 vectors); and the float32 entry point taking it.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "ops/activation.h"
#include "ops/binary.h"
#include "ops/conv.h"
#include "ops/unary.h"
#include "ops/cpu/conv.h"
#include "ops/cpu/conv_direct.h"
#include "common/cpu_isas.h"
#include "runtime/rng.h"
#include "runtime/thread_pool.h"

using namespace cudaseg;
using cudaseg::ops::cpu::ConvGeom;
using cudaseg::testing::isas_of_this_cpu;

namespace {

struct Case {
  int64_t n, c, h, w, o, kh, kw, sh, sw, ph, pw, dh, dw, groups;
};

ConvGeom geometry(const Case& k) {
  ConvGeom g;
  g.n = k.n, g.c = k.c, g.h = k.h, g.w = k.w, g.o = k.o, g.kh = k.kh, g.kw = k.kw;
  g.sh = k.sh, g.sw = k.sw, g.ph = k.ph, g.pw = k.pw, g.dh = k.dh, g.dw = k.dw, g.groups = k.groups;
  g.ho = (g.h + 2 * g.ph - g.dh * (g.kh - 1) - 1) / g.sh + 1;
  g.wo = (g.w + 2 * g.pw - g.dw * (g.kw - 1) - 1) / g.sw + 1;
  return g;
}

Tensor uniform(const Shape& shape, uint64_t seed) { return Generator(seed).uniform(shape, -1.0, 1.0); }

// Checks y against the float64 sum of every output's terms, each within the
// rounding bound of a float32 sum of its K + 1 terms, gamma_(K+1) * sum |term|.
void expect_matches_definition(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y,
                               const ConvGeom& g, const char* what) {
  const float *px = x.data<float>(), *pw = w.data<float>(), *pb = b.data<float>(), *py = y.data<float>();
  const int64_t cg = g.cg(), og = g.og(), terms = cg * g.kh * g.kw + 1;
  const double u = std::ldexp(1.0, -24), gamma = terms * u / (1 - terms * u);
  int64_t bad = 0;
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t o = 0; o < g.o; ++o)
      for (int64_t oh = 0; oh < g.ho; ++oh)
        for (int64_t ow = 0; ow < g.wo; ++ow) {
          const int64_t gr = o / og;
          double sum = pb[o], mag = std::fabs(pb[o]);
          for (int64_t c = 0; c < cg; ++c)
            for (int64_t i = 0; i < g.kh; ++i)
              for (int64_t j = 0; j < g.kw; ++j) {
                const int64_t ih = oh * g.sh - g.ph + i * g.dh, iw = ow * g.sw - g.pw + j * g.dw;
                if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;
                const double t = static_cast<double>(pw[((o * cg + c) * g.kh + i) * g.kw + j]) *
                                 px[((n * g.c + gr * cg + c) * g.h + ih) * g.w + iw];
                sum += t;
                mag += std::fabs(t);
              }
          const double got = py[((n * g.o + o) * g.ho + oh) * g.wo + ow];
          if (std::fabs(got - sum) > gamma * mag && ++bad <= 3)
            ADD_FAILURE() << what << ": y[" << n << "," << o << "," << oh << "," << ow << "] = " << got
                          << ", definition " << sum << " (bound " << gamma * mag << ")";
        }
  EXPECT_EQ(bad, 0) << what;
}


const Case kCases[] = {
    // n  c   h    w    o  kh kw sh sw ph pw dh dw groups
    {1, 5, 13, 29, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1},      // 3x3, widths and channels off every block
    {2, 6, 17, 40, 10, 3, 1, 1, 1, 1, 0, 1, 1, 1},     // 3x1, batch 2
    {1, 8, 20, 70, 9, 1, 3, 1, 1, 0, 2, 1, 2, 1},      // dilated 1x3
    {1, 16, 40, 100, 16, 3, 1, 1, 1, 5, 0, 5, 1, 1},   // dilated 3x1, halo of 10 rows
    {2, 5, 60, 37, 7, 3, 1, 1, 1, 0, 0, 2, 1, 1},      // unpadded 3x1 in place; the last band copies
    {1, 4, 50, 70, 6, 3, 3, 1, 1, 0, 0, 2, 2, 1},      // unpadded dilated 3x3 read in place
    {1, 4, 9, 11, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1},       // stride 2, odd sizes
    {1, 6, 31, 33, 12, 3, 3, 2, 2, 0, 0, 1, 1, 2},     // stride 2, groups
    {1, 12, 16, 50, 8, 5, 5, 1, 1, 4, 4, 2, 2, 4},     // dilated 5x5, 4 groups of 2 outputs
    {2, 3, 21, 100, 17, 3, 3, 2, 2, 1, 1, 1, 1, 1},    // the stem shape: 3 channels, stride 2
    {1, 9, 10, 61, 5, 1, 1, 1, 1, 0, 0, 1, 1, 1},      // pointwise
    {1, 176, 7, 7, 40, 1, 1, 1, 1, 0, 0, 1, 1, 1},     // pointwise on a 7x7 map: one row, split over channel blocks
    {2, 12, 14, 14, 30, 1, 1, 1, 1, 0, 0, 1, 1, 2},    // pointwise, groups, batch 2
    {1, 8, 56, 57, 20, 1, 1, 1, 1, 0, 0, 1, 1, 1},     // pointwise, several column ranges, a partial last vector
    {1, 300, 6, 50, 70, 1, 1, 1, 1, 0, 0, 1, 1, 1},    // pointwise over 256+ channels: panels of 128, a partial one
    {2, 520, 3, 40, 48, 1, 1, 1, 1, 0, 0, 1, 1, 2},    // panels per group, batch 2
    {1, 8, 14, 14, 16, 2, 2, 2, 2, 0, 0, 1, 1, 1},     // 2x2 stride 2 (patch embedding)
    {1, 8, 12, 80, 20, 3, 3, 3, 3, 2, 1, 1, 3, 1},     // stride 3, dilation 3 in width
    {1, 16, 7, 9, 16, 7, 7, 1, 1, 3, 3, 1, 1, 1},      // 7x7 on a map smaller than a strip
    {1, 3, 5, 6, 4, 3, 3, 1, 1, 4, 5, 1, 1, 1},        // padding wider than the kernel: rows of bias alone
    {1, 2, 1, 1, 3, 1, 1, 1, 1, 0, 0, 1, 1, 1},        // one pixel
    {1, 24, 96, 130, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1},   // several bands per thread, a partial last strip
    // rows of at least 3 vectors stay on the banded path; narrower ones above are unfolded
    {1, 6, 31, 101, 12, 3, 3, 2, 2, 0, 0, 1, 1, 2},    // stride 2, groups, 50-pixel rows
    {1, 12, 16, 120, 8, 5, 5, 1, 1, 4, 4, 2, 2, 4},    // dilated 5x5, 4 groups, 120-pixel rows
    {1, 4, 9, 200, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1},      // stride 2, 100-pixel rows
    {2, 10, 9, 32, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1},     // 32-pixel rows: whole vectors stay banded
    {1, 7, 6, 32, 9, 3, 3, 2, 2, 1, 1, 1, 1, 1},       // stride 2 to 16-pixel rows, banded
    // depthwise (one input channel per group): the depthwise kernel
    {1, 16, 20, 70, 16, 3, 3, 1, 1, 1, 1, 1, 1, 16},   // 3x3
    {2, 8, 17, 53, 16, 3, 3, 2, 2, 1, 1, 1, 1, 8},     // channel multiplier 2, stride 2
    {1, 12, 30, 90, 12, 3, 3, 1, 1, 4, 4, 4, 4, 12},   // dilation 4
    {1, 6, 19, 41, 6, 1, 5, 1, 1, 0, 2, 1, 1, 6},      // 1x5
    {1, 5, 9, 200, 5, 5, 5, 1, 1, 2, 2, 1, 1, 5},      // strips of four vectors and a partial one
    {1, 6, 15, 131, 6, 3, 3, 2, 2, 1, 1, 1, 1, 6},     // stride 2 on rows of several vectors, odd width
    {1, 4, 12, 97, 4, 5, 5, 2, 2, 2, 2, 1, 1, 4},      // 5x5 stride 2
    {1, 4, 16, 140, 4, 3, 3, 1, 2, 2, 2, 2, 2, 4},     // stride 2 in width only, dilation 2
    // stride-1 depthwise reads its planes in place (depthwise_plane_kernel.inc)
    {1, 7, 23, 9, 7, 3, 3, 1, 1, 1, 1, 1, 1, 7},       // one-vector rows, 8 a call and a partial last block
    {1, 5, 13, 20, 5, 3, 3, 1, 1, 1, 1, 1, 1, 5},      // one strip masked on both edges
    {1, 4, 11, 37, 8, 3, 3, 1, 1, 1, 1, 1, 1, 4},      // channel multiplier 2, stride 1
    {1, 5, 6, 40, 5, 3, 3, 1, 1, 3, 5, 1, 1, 5},       // padding wider than the kernel: rows and columns of bias
    {1, 3, 10, 150, 3, 3, 3, 1, 1, 40, 40, 40, 40, 3}, // dilation 40: the middle strip reaches past the edge too
    {2, 3, 9, 300, 3, 3, 3, 1, 1, 1, 1, 1, 1, 3},      // rows of more than two strips, one row a call
    {1, 2, 5, 40, 2, 1, 17, 1, 1, 0, 8, 1, 1, 2},      // 1x17: wider than the in-place kernel takes, banded
    // outputs past 4 MB are stored past the caches, where aligned
    {1, 8, 128, 256, 40, 1, 1, 1, 1, 0, 0, 1, 1, 1},   // pointwise, every strip aligned
    {1, 16, 112, 256, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1},  // 3x3, every strip aligned
    {1, 6, 100, 250, 44, 3, 3, 1, 1, 1, 1, 1, 1, 1},   // 3x3, rows off the vector: aligned strips only
};

TEST(ConvDirect, EveryKernelOfThisCpuMatchesTheDefinition) {
  const auto isas = isas_of_this_cpu();
  if (isas.empty()) GTEST_SKIP() << "no AVX2/FMA on this CPU: the direct kernels are not used";
  set_num_threads(2);
  uint64_t seed = 1;
  for (const Case& k : kCases) {
    const ConvGeom g = geometry(k);
    const Tensor x = uniform({g.n, g.c, g.h, g.w}, seed++), w = uniform({g.o, g.cg(), g.kh, g.kw}, seed++),
                 b = uniform({g.o}, seed++);
    for (const auto& isa : isas) {
      Tensor y = Tensor::full({g.n, g.o, g.ho, g.wo}, NAN, DType::f32, Device::cpu());
      ops::cpu::conv2d_forward_direct(x, w, b, y, g, isa);
      const std::string what = std::string(isa.name) + " c" + std::to_string(k.c) + " o" + std::to_string(k.o) +
                               " " + std::to_string(k.kh) + "x" + std::to_string(k.kw) + " s" +
                               std::to_string(k.sh) + " g" + std::to_string(k.groups);
      expect_matches_definition(x, w, b, y, g, what.c_str());
    }
  }
}

// The activation applied in registers before the store equals the PReLU and
// clamp ops applied to the stored output, bit for bit, for every kernel:
// dense and depthwise, and after Winograd's output transforms (3x3, 3x1
// dilated, 1x3).
TEST(ConvDirect, EveryKernelAppliesTheFusedActivationAsTheOpsDo) {
  const auto isas = isas_of_this_cpu();
  if (isas.empty()) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  const Case cases[] = {
      {2, 6, 15, 53, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1}, {2, 6, 15, 53, 12, 3, 3, 1, 1, 1, 1, 1, 1, 6},
      {1, 48, 11, 37, 56, 3, 3, 1, 1, 1, 1, 1, 1, 1}, {1, 48, 11, 37, 56, 3, 1, 1, 1, 2, 0, 2, 1, 1},
      {1, 48, 11, 37, 56, 1, 3, 1, 1, 0, 1, 1, 1, 1}};
  for (const Case& k : cases) {
    const ConvGeom g = geometry(k);
    if (k.c == 48) ASSERT_TRUE(ops::cpu::conv2d_winograd_applies(g) || ops::cpu::conv2d_winograd_1d_applies(g));
    const Tensor x = uniform({k.n, k.c, k.h, k.w}, 21), w = uniform({k.o, k.c / k.groups, k.kh, k.kw}, 22),
                 b = uniform({k.o}, 23);
    ops::ConvAct act;
    act.slope = uniform({k.o}, 24);
    act.lo = -0.3;
    act.hi = 0.9;
    for (const auto& isa : isas) {
      Tensor fused = Tensor::empty({k.n, k.o, g.ho, g.wo}), plain = Tensor::empty({k.n, k.o, g.ho, g.wo});
      ops::cpu::conv2d_forward_direct(x, w, b, fused, g, isa, act);
      ops::cpu::conv2d_forward_direct(x, w, b, plain, g, isa);
      const Tensor want = ops::clamp(ops::prelu(plain, act.slope), act.lo, act.hi);
      for (int64_t i = 0; i < want.numel(); ++i)
        ASSERT_EQ(fused.data<float>()[i], want.data<float>()[i])
            << isa.name << " " << k.c << "->" << k.o << " " << k.kh << "x" << k.kw << " groups " << k.groups << " at " << i;
    }
  }
}

// A GELU fused into the store equals the kernel's own GELU over the plain
// output, bit for bit, dense and depthwise, for every kernel; and ops::gelu
// in float32 is that GELU (the best kernel's).
TEST(ConvDirect, EveryKernelAppliesTheFusedGeluAsItsGeluDoes) {
  const auto isas = isas_of_this_cpu();
  if (isas.empty()) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  for (const int64_t groups : {1, 6}) {
    const Case k{2, 6, 15, 53, 12, 3, 3, 1, 1, 1, 1, 1, 1, groups};
    const ConvGeom g = geometry(k);
    // Inputs scaled by 3: outputs reach both tails of the GELU.
    const Tensor x = ops::mul(uniform({2, 6, 15, 53}, 31), 3.0).contiguous();
    const Tensor w = uniform({12, 6 / groups, 3, 3}, 32), b = uniform({12}, 33);
    ops::ConvAct act;
    act.gelu = true;
    for (const auto& isa : isas) {
      Tensor fused = Tensor::empty({2, 12, g.ho, g.wo}), plain = Tensor::empty({2, 12, g.ho, g.wo});
      ops::cpu::conv2d_forward_direct(x, w, b, fused, g, isa, act);
      ops::cpu::conv2d_forward_direct(x, w, b, plain, g, isa);
      Tensor want = Tensor::empty(plain.shape());
      isa.gelu(plain.data<float>(), want.data<float>(), plain.numel());
      for (int64_t i = 0; i < want.numel(); ++i)
        ASSERT_EQ(fused.data<float>()[i], want.data<float>()[i]) << isa.name << " groups " << groups << " at " << i;
    }
  }
  const auto* best = ops::cpu::direct::best_isa();
  const Tensor v = ops::mul(uniform({1000}, 34), 6.0).contiguous();
  Tensor want = Tensor::empty({1000});
  best->gelu(v.data<float>(), want.data<float>(), 1000);
  const Tensor got = ops::gelu(v);
  for (int64_t i = 0; i < 1000; ++i) ASSERT_EQ(got.data<float>()[i], want.data<float>()[i]) << i;
}

// Each kernel's GELU against float64 erf: as accurate as float32 rounding of
// the exact result allows, within a factor 4 in relative L2, over inputs of
// both tails, its clamp at |x / sqrt 2| = 4 and beyond; every length from 0
// to 3 vectors (the tail goes through a padded vector), in place too; NaN
// and infinities as the float64 formula gives them.
TEST(ConvDirect, EveryKernelsGeluIsAsAccurateAsFloat32Rounding) {
  const auto isas = isas_of_this_cpu();
  if (isas.empty()) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  const int64_t n = 200001;
  std::vector<float> x(n);
  for (int64_t i = 0; i < n; ++i) x[i] = -12.0f + 24.0f * static_cast<float>(i) / (n - 1);
  for (const auto& isa : isas) {
    std::vector<float> y(n);
    isa.gelu(x.data(), y.data(), n);
    double num = 0, num_rounded = 0, den = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double v = x[i], want = 0.5 * v * (1.0 + std::erf(v * 0.70710678118654752440));
      num += (y[i] - want) * (y[i] - want);
      num_rounded += (static_cast<float>(want) - want) * (static_cast<float>(want) - want);
      den += want * want;
    }
    EXPECT_LE(std::sqrt(num), 4 * std::sqrt(num_rounded)) << isa.name << ": relative L2 " << std::sqrt(num / den);
    for (int64_t len = 0; len <= 3 * isa.lanes; ++len) {
      std::vector<float> in(x.begin() + 1000, x.begin() + 1000 + len), out(len, NAN);
      isa.gelu(in.data(), out.data(), len);
      for (int64_t i = 0; i < len; ++i) ASSERT_EQ(out[i], y[1000 + i]) << isa.name << " length " << len;
      isa.gelu(in.data(), in.data(), len);
      EXPECT_EQ(in, out) << isa.name << " in place, length " << len;
    }
    const float special[3] = {NAN, INFINITY, 0.0f};
    float got[3];
    isa.gelu(special, got, 3);
    EXPECT_TRUE(std::isnan(got[0])) << isa.name;
    EXPECT_EQ(got[1], INFINITY) << isa.name;
    EXPECT_EQ(got[2], 0.0f) << isa.name;
  }
}

// A VGG-sized reduction (512 channels x 3x3 = 4608 products) of
// non-negative inputs, as after a ReLU: PyTorch 1.13 (oneDNN) is 2.4e-7 from
// float64 in relative L2 on this problem; one float32 running sum per output
// was 1.2e-6, the chunked sums are 2.3e-7.
TEST(ConvDirect, LongReductionsAreAsAccurateAsPyTorchs) {
  const auto isas = isas_of_this_cpu();
  if (isas.empty()) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  const Tensor x = Generator(1).uniform({1, 512, 12, 12}, 0.0, 1.0), w = Generator(2).uniform({64, 512, 3, 3}, -0.03, 0.03);
  const ConvGeom g = geometry({1, 512, 12, 12, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1});
  ops::Conv2dParams p;
  p.padding = {1, 1};
  const Tensor want = ops::conv2d(x.to(DType::f64), w.to(DType::f64), Tensor(), p);
  for (const auto& isa : isas) {
    Tensor y = Tensor::empty({1, 64, 12, 12});
    ops::cpu::conv2d_forward_direct(x, w, Tensor(), y, g, isa);
    const std::vector<double> a = y.to_vector(), b = want.to_vector();
    double num = 0, den = 0;
    for (size_t i = 0; i < a.size(); ++i) num += (a[i] - b[i]) * (a[i] - b[i]), den += b[i] * b[i];
    EXPECT_LE(std::sqrt(num / den), 3e-7) << isa.name;
  }
}

// Packed weights are reused only while the weight tensor is unchanged: an
// in-place write (copy_, fill_) bumps its version and the next call packs
// it again, pointwise and 3x3 alike.
TEST(ConvDirect, PackedWeightsFollowInPlaceWritesToTheWeight) {
  const auto isas = isas_of_this_cpu();
  if (isas.empty()) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  for (const Case& k : {Case{1, 10, 9, 13, 12, 1, 1, 1, 1, 0, 0, 1, 1, 1}, Case{1, 10, 9, 13, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1}}) {
    const ConvGeom g = geometry(k);
    const Tensor x = uniform({1, 10, 9, 13}, 41), b = uniform({12}, 42);
    Tensor w = uniform({12, 10, k.kh, k.kw}, 43);
    for (const auto& isa : isas) {
      Tensor y = Tensor::empty({1, 12, g.ho, g.wo});
      ops::cpu::conv2d_forward_direct(x, w, b, y, g, isa);
      expect_matches_definition(x, w, b, y, g, isa.name);
      w.copy_(uniform(w.shape(), 44 + k.kh));
      ops::cpu::conv2d_forward_direct(x, w, b, y, g, isa);
      expect_matches_definition(x, w, b, y, g, isa.name);
      w.fill_(0.5);
      ops::cpu::conv2d_forward_direct(x, w, b, y, g, isa);
      expect_matches_definition(x, w, b, y, g, isa.name);
    }
  }
}

// Checks gx, the input gradient of conv(x, w) at gy, against the float64 sum
// of each input's terms, within gamma_K * sum |term| for its K terms.
void expect_input_grad_matches_definition(const Tensor& gy, const Tensor& w, const Tensor& gx, const ConvGeom& g,
                                          const std::string& what) {
  const float *pg = gy.data<float>(), *pw = w.data<float>(), *px = gx.data<float>();
  const int64_t cg = g.cg(), og = g.og(), terms = og * g.kh * g.kw;
  const double u = std::ldexp(1.0, -24), gamma = terms * u / (1 - terms * u);
  std::vector<double> sum(static_cast<size_t>(gx.numel()), 0.0), mag(sum.size(), 0.0);
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t o = 0; o < g.o; ++o)
      for (int64_t oh = 0; oh < g.ho; ++oh)
        for (int64_t ow = 0; ow < g.wo; ++ow)
          for (int64_t c = 0; c < cg; ++c)
            for (int64_t i = 0; i < g.kh; ++i)
              for (int64_t j = 0; j < g.kw; ++j) {
                const int64_t ih = oh * g.sh - g.ph + i * g.dh, iw = ow * g.sw - g.pw + j * g.dw;
                if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;
                const size_t at = static_cast<size_t>(((n * g.c + o / og * cg + c) * g.h + ih) * g.w + iw);
                const double t = static_cast<double>(pw[((o * cg + c) * g.kh + i) * g.kw + j]) *
                                 pg[((n * g.o + o) * g.ho + oh) * g.wo + ow];
                sum[at] += t;
                mag[at] += std::fabs(t);
              }
  int64_t bad = 0;
  for (size_t k = 0; k < sum.size(); ++k)
    if (!(std::fabs(px[k] - sum[k]) <= gamma * mag[k]) && ++bad <= 3)
      ADD_FAILURE() << what << ": gx[" << k << "] = " << px[k] << ", definition " << sum[k] << " (bound "
                    << gamma * mag[k] << ")";
  EXPECT_EQ(bad, 0) << what;
}

// The input gradient of a dense convolution as direct forwards of gy with
// flipped, transposed weights, one per stride phase: every kernel of this
// CPU, on the geometries the zoo's backward takes (3x3 and 1x1, dilated,
// grouped, channel counts off the block, one output channel, 1-pixel maps,
// padding up to the kernel's extent and none at all; strides 2 and 3 with odd
// and even sizes, phases no tap reaches, strides differing per axis).
TEST(ConvDirect, EveryKernelComputesTheInputGradient) {
  const auto isas = isas_of_this_cpu();
  if (isas.empty()) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  set_num_threads(2);
  const Case cases[] = {
      // n  c   h    w    o  kh kw sh sw ph pw dh dw groups
      {1, 5, 13, 29, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1},     // 3x3, channels off the block both ways
      {2, 6, 17, 40, 10, 3, 1, 1, 1, 1, 0, 1, 1, 1},    // 3x1, batch 2
      {1, 8, 20, 70, 9, 1, 3, 1, 1, 0, 2, 1, 2, 1},     // dilated 1x3
      {1, 16, 40, 100, 16, 3, 3, 1, 1, 2, 2, 2, 2, 1},  // dilation 2, padding 2
      {1, 12, 16, 50, 8, 5, 5, 1, 1, 4, 4, 2, 2, 4},    // dilated 5x5, 4 groups of 2 outputs
      {1, 9, 10, 61, 5, 1, 1, 1, 1, 0, 0, 1, 1, 1},     // pointwise
      {2, 12, 14, 14, 30, 1, 1, 1, 1, 0, 0, 1, 1, 2},   // pointwise, groups, batch 2
      {1, 176, 7, 7, 40, 1, 1, 1, 1, 0, 0, 1, 1, 1},    // pointwise on a 7x7 map
      {1, 24, 96, 130, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1},  // several bands per thread
      {1, 20, 9, 11, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1},     // one output channel: a depthwise-shaped gradient
      {2, 10, 1, 1, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1},     // 1-pixel map, 3x3
      {1, 10, 1, 1, 12, 1, 1, 1, 1, 0, 0, 1, 1, 1},     // 1-pixel map, 1x1
      {1, 6, 12, 23, 9, 3, 3, 1, 1, 0, 0, 1, 1, 3},     // unpadded 3x3, groups
      {1, 64, 16, 16, 19, 3, 3, 1, 1, 1, 1, 1, 1, 1},   // a head: 64 -> 19 classes on a small map
      {2, 12, 17, 40, 20, 3, 3, 2, 2, 1, 1, 1, 1, 1},   // 3x3 stride 2: odd rows, even columns
      {1, 3, 21, 100, 17, 3, 3, 2, 2, 1, 1, 1, 1, 1},   // the stem shape: 3 channels, stride 2
      {1, 6, 31, 33, 12, 3, 3, 2, 2, 0, 0, 1, 1, 2},    // stride 2 unpadded, groups
      {1, 10, 9, 11, 8, 1, 1, 2, 2, 0, 0, 1, 1, 1},     // 1x1 stride 2: three phases no tap reaches
      {1, 8, 14, 14, 16, 2, 2, 2, 2, 0, 0, 1, 1, 1},    // 2x2 stride 2 (patch embedding)
      {1, 8, 12, 80, 20, 3, 3, 3, 3, 2, 1, 1, 3, 1},    // stride 3, dilation 3 in width
      {1, 9, 19, 23, 7, 3, 3, 2, 2, 2, 2, 2, 2, 1},     // stride 2, dilation 2: odd pixels get nothing
      {1, 5, 13, 29, 11, 3, 3, 2, 1, 1, 1, 1, 1, 1},    // stride 2 in height only
      {1, 16, 2, 2, 24, 3, 3, 2, 2, 1, 1, 1, 1, 1},     // 2x2 map to 1x1
      {1, 3, 5, 6, 4, 3, 3, 1, 1, 4, 5, 1, 1, 1},       // padding wider than the kernel: negative phase padding
  };
  uint64_t seed = 300;
  for (const Case& k : cases) {
    const ConvGeom g = geometry(k);
    ASSERT_TRUE(ops::cpu::conv2d_backward_input_direct_applies(g, DType::f32));
    const Tensor gy = uniform({g.n, g.o, g.ho, g.wo}, seed++), w = uniform({g.o, g.cg(), g.kh, g.kw}, seed++);
    for (const auto& isa : isas) {
      Tensor gx = Tensor::full({g.n, g.c, g.h, g.w}, NAN, DType::f32, Device::cpu());
      ops::cpu::conv2d_backward_input_direct(gy, w, gx, g, isa);
      const std::string what = std::string(isa.name) + " c" + std::to_string(k.c) + " o" + std::to_string(k.o) +
                               " " + std::to_string(k.kh) + "x" + std::to_string(k.kw) + " s" +
                               std::to_string(k.sh) + "x" + std::to_string(k.sw) + " " + std::to_string(k.h) + "x" +
                               std::to_string(k.w) + " g" + std::to_string(k.groups);
      expect_input_grad_matches_definition(gy, w, gx, g, what);
    }
  }
}

// The float32 entry point takes it for dense convolutions; float64 keeps the
// reference path, depthwise ones their own kernels.
TEST(ConvDirect, Float32InputGradientTakesTheDirectKernel) {
  const auto* best = ops::cpu::direct::best_isa();
  if (!best) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  const ConvGeom g = geometry({1, 10, 23, 45, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1});
  const Tensor gy = uniform({1, 12, g.ho, g.wo}, 17), w = uniform({12, 10, 3, 3}, 18);
  Tensor direct = Tensor::empty({1, 10, 23, 45});
  ops::cpu::conv2d_backward_input_direct(gy, w, direct, g, *best);
  ops::Conv2dParams p;
  p.padding = {1, 1};
  const Tensor gx = ops::conv2d_backward_input(gy, w, {1, 10, 23, 45}, p);
  for (int64_t i = 0; i < gx.numel(); ++i) ASSERT_EQ(gx.data<float>()[i], direct.data<float>()[i]) << i;
  EXPECT_FALSE(ops::cpu::conv2d_backward_input_direct_applies(g, DType::f64));
  EXPECT_TRUE(ops::cpu::conv2d_backward_input_direct_applies(geometry({1, 4, 9, 11, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1}),
                                                              DType::f32))
      << "stride 2";
  EXPECT_FALSE(ops::cpu::conv2d_backward_input_direct_applies(geometry({1, 8, 16, 16, 8, 3, 3, 1, 1, 1, 1, 1, 1, 8}),
                                                               DType::f32))
      << "depthwise";
}

TEST(ConvDirect, Float32ConvolutionTakesTheBestKernel) {
  const auto* best = ops::cpu::direct::best_isa();
  if (!best) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  const Case k{1, 10, 23, 45, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1};
  const ConvGeom g = geometry(k);
  const Tensor x = uniform({1, 10, 23, 45}, 7), w = uniform({12, 10, 3, 3}, 8), b = uniform({12}, 9);
  Tensor direct = Tensor::empty({1, 12, g.ho, g.wo}, DType::f32, Device::cpu());
  ops::cpu::conv2d_forward_direct(x, w, b, direct, g, *best);
  ops::Conv2dParams p;
  p.padding = {1, 1};
  const Tensor y = ops::conv2d(x, w, b, p);
  ASSERT_EQ(y.shape(), direct.shape());
  for (int64_t i = 0; i < y.numel(); ++i) ASSERT_EQ(y.data<float>()[i], direct.data<float>()[i]) << i;
  EXPECT_FALSE(ops::cpu::conv2d_direct_applies(g, DType::f64)) << "float64 stays on the reference path";
  ConvGeom dw = geometry({1, 8, 16, 16, 8, 3, 3, 1, 1, 1, 1, 1, 1, 8});
  EXPECT_TRUE(ops::cpu::conv2d_direct_applies(dw, DType::f32)) << "depthwise at stride 1";
  dw = geometry({1, 8, 16, 16, 8, 3, 3, 2, 2, 1, 1, 1, 1, 8});
  EXPECT_TRUE(ops::cpu::conv2d_direct_applies(dw, DType::f32)) << "depthwise at stride 2 (a vectorised phase copy)";
  dw = geometry({1, 8, 16, 16, 8, 3, 3, 1, 3, 1, 1, 1, 1, 8});
  EXPECT_FALSE(ops::cpu::conv2d_direct_applies(dw, DType::f32)) << "depthwise at stride 3 in width keeps its loops";
}

// The relative L2 error to float64 of conv2d_forward_direct on every
// instruction set, at most 3x that of the float32 im2col + GEMM path, or 1e-6.
void expect_as_accurate_as_the_gemm_path(const Case& k, const std::vector<ops::cpu::direct::Isa>& isas, uint64_t seed) {
  const ConvGeom g = geometry(k);
  const Tensor x = uniform({g.n, g.c, g.h, g.w}, seed), w = uniform({g.o, g.cg(), k.kh, k.kw}, seed + 1),
               b = uniform({g.o}, seed + 2);
  ops::Conv2dParams p;
  p.padding = {k.ph, k.pw};
  p.dilation = {k.dh, k.dw};
  p.groups = k.groups;
  const std::vector<double> want = ops::conv2d(x.to(DType::f64), w.to(DType::f64), b.to(DType::f64), p).to_vector();
  auto rel_l2 = [&](const Tensor& y) {
    const std::vector<double> a = y.to_vector();
    double num = 0, den = 0;
    for (size_t i = 0; i < a.size(); ++i) num += (a[i] - want[i]) * (a[i] - want[i]), den += want[i] * want[i];
    return std::sqrt(num / den);
  };
  Tensor gemm = Tensor::empty({g.n, g.o, g.ho, g.wo});
  ops::cpu::conv2d_forward_dense(x, w, b, gemm, g);
  const double bound = std::max(3 * rel_l2(gemm), 1e-6);
  for (const auto& isa : isas) {
    Tensor y = Tensor::full({g.n, g.o, g.ho, g.wo}, NAN, DType::f32, Device::cpu());
    ops::cpu::conv2d_forward_direct(x, w, b, y, g, isa);
    EXPECT_LE(rel_l2(y), bound) << isa.name << " " << k.kh << "x" << k.kw << " dilation " << k.dh << " " << k.c << "->"
                                << k.o << " " << k.h << "x" << k.w << " (GEMM path " << rel_l2(gemm) << ")";
  }
}

}  // namespace

// Winograd F(2x2, 3x3) (ops/cpu/conv_winograd.cpp) takes the 3x3 stride-1
// convolutions of 48 to 512 channels: partial tiles (odd output sizes),
// padding 0 and wider than the kernel's reach, rows split into several tile
// ranges, batch 2. Its rounding differs from a sum of the K products (the
// transforms add and halve), so it is held to the project's parity bound:
// relative L2 to float64 at most 3x that of the float32 im2col + GEMM path,
// or 1e-6.
TEST(ConvDirect, WinogradIsAsAccurateAsTheGemmPath) {
  const auto isas = isas_of_this_cpu();
  if (isas.empty()) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  const Case cases[] = {
      // n  c   h   w    o   kh kw sh sw ph pw dh dw groups
      {1, 48, 9, 33, 48, 3, 3, 1, 1, 1, 1, 1, 1, 1},     // odd output sizes: partial tiles, the smallest channels
      {2, 64, 10, 40, 50, 3, 3, 1, 1, 0, 0, 1, 1, 1},    // unpadded, batch 2, 50 outputs (off the block)
      {1, 64, 12, 600, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1},   // 300 tiles a row: two ranges, the last partial
      {1, 50, 16, 70, 130, 3, 3, 1, 1, 2, 2, 1, 1, 1},   // padding 2: border outputs from one row or column
      {1, 512, 8, 32, 512, 3, 3, 1, 1, 1, 1, 1, 1, 1},   // the largest channel product it takes
  };
  // F(4, 3) of the factorised 3x1 (dilated too: rows r, r + d, r + 2d, r + 3d) and 1x3 kernels.
  const Case cases_1d[] = {
      // n  c   h   w    o   kh kw sh sw ph pw dh dw groups
      {1, 48, 13, 40, 56, 3, 1, 1, 1, 1, 0, 1, 1, 1},    // 3x1: an odd row count, a partial vector
      {2, 64, 30, 37, 64, 3, 1, 1, 1, 4, 0, 4, 1, 1},    // dilated 4: tiles of rows r + 4i, the last partial
      {1, 64, 9, 80, 48, 3, 1, 1, 1, 5, 0, 5, 5, 1},     // dilation past the map, (5, 5) as ERFNet gives its 3x1
      {1, 128, 6, 260, 64, 3, 1, 1, 1, 1, 0, 1, 1, 1},   // rows of 260: several rows are not one GEMM
      {1, 48, 2, 33, 50, 1, 3, 1, 1, 0, 1, 1, 1, 1},     // 1x3: odd width, 9 tiles
      {2, 64, 3, 1300, 64, 1, 3, 1, 1, 0, 1, 1, 1, 1},   // 325 tiles a row: ranges of 160, 160 and 5, batch 2
      {1, 48, 7, 33, 50, 1, 3, 1, 1, 0, 1, 1, 1, 1},     // 1x3: seven short rows in one product
      {1, 64, 4, 70, 64, 1, 3, 1, 1, 0, 2, 3, 1, 1},     // padding 2; a dilation of the 1-tap axis
  };
  uint64_t seed = 100;
  for (const Case& k : cases_1d) {
    ASSERT_TRUE(ops::cpu::conv2d_winograd_1d_applies(geometry(k))) << k.c << "->" << k.o << " " << k.kh << "x" << k.kw;
    expect_as_accurate_as_the_gemm_path(k, isas, seed);
    seed += 3;
  }
  // A dilated 1x3, or a 3x1 padded in width, stays on the direct kernel.
  EXPECT_FALSE(ops::cpu::conv2d_winograd_1d_applies(geometry({1, 64, 8, 64, 64, 1, 3, 1, 1, 0, 2, 1, 2, 1})));
  EXPECT_FALSE(ops::cpu::conv2d_winograd_1d_applies(geometry({1, 64, 8, 64, 64, 3, 1, 1, 1, 1, 1, 1, 1, 1})));
  for (const Case& k : cases) {
    ASSERT_TRUE(ops::cpu::conv2d_winograd_applies(geometry(k))) << k.c << "->" << k.o << " " << k.h << "x" << k.w;
    expect_as_accurate_as_the_gemm_path(k, isas, seed);
    seed += 3;
  }
  // Just outside: 47 channels, rows of fewer than 16 tiles, or more than 512 x 512 channels stay on the direct kernel.
  EXPECT_FALSE(ops::cpu::conv2d_winograd_applies(geometry({1, 47, 16, 64, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1})));
  EXPECT_FALSE(ops::cpu::conv2d_winograd_applies(geometry({1, 512, 16, 64, 513, 3, 3, 1, 1, 1, 1, 1, 1, 1})));
  EXPECT_FALSE(ops::cpu::conv2d_winograd_applies(geometry({1, 64, 16, 30, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1})));
}

// Every instruction set's ELU-family kernel (Isa::elu; ops::selu runs the
// best one only): within 2 ulp of the double-computed SELU over both
// branches of its expm1.
TEST(ConvDirect, EveryKernelsEluIsWithinTwoUlpOfDouble) {
  const auto isas = isas_of_this_cpu();
  if (isas.empty()) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  std::vector<float> x;
  for (int i = 0; i < 3001; ++i) x.push_back(-95.0f + 0.0331f * static_cast<float>(i));
  const double scale = 1.0507009873554804934193349852946, alpha = 1.6732632423543772848170429916717;
  for (const auto& isa : isas) {
    std::vector<float> y(x.size());
    isa.elu(x.data(), y.data(), static_cast<int64_t>(x.size()), static_cast<float>(alpha), static_cast<float>(scale),
            1.0f);
    for (size_t i = 0; i < x.size(); ++i) {
      const double v = x[i];
      const float want = static_cast<float>(scale * (v > 0 ? v : alpha * std::expm1(v)));
      const double ulp = std::fabs(std::nextafter(want, INFINITY) - want);
      ASSERT_LE(std::fabs(y[i] - want), 2 * ulp) << isa.name << " selu(" << x[i] << ") = " << y[i] << ", want " << want;
    }
  }
}

// A strided depthwise convolution takes the direct kernel with the loops'
// rounding (Band::unfused), or on a narrow map the channels-last kernel with
// the same rounding: its results equal conv_depthwise.cpp's bit for bit, so
// a training step's ReLU6 masks do not move with the kernel (a fused small
// map path moved a two-rank CGNet run off the one-process run by 7e-4).
TEST(ConvDirect, StridedDepthwiseEqualsTheLoopsItReplaces) {
  const auto isas = isas_of_this_cpu();
  if (isas.empty()) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  set_num_threads(2);
  const Case cases[] = {
      {2, 32, 24, 40, 32, 3, 1, 2, 2, 1, 0, 1, 1, 32},    // ADSCNet's 3x1 stride 2
      {1, 16, 33, 131, 16, 3, 3, 2, 2, 1, 1, 1, 1, 16},   // 3x3 stride 2, odd sizes
      {1, 8, 20, 97, 16, 5, 5, 2, 2, 2, 2, 1, 1, 8},      // 5x5, channel multiplier 2
      {1, 6, 18, 140, 6, 3, 3, 1, 2, 2, 2, 2, 2, 6},      // stride 2 in width only, dilated
      {2, 40, 32, 32, 40, 3, 3, 2, 2, 1, 1, 1, 1, 40},    // CGNet's 3x3 stride 2 on a narrow map (pixel rows)
      {1, 75, 13, 9, 75, 5, 5, 2, 2, 2, 2, 1, 1, 75},     // 5x5 of groups of four vectors and a remainder
  };
  uint64_t seed = 300;
  for (const Case& k : cases) {
    const ConvGeom g = geometry(k);
    if (k.c >= 40)
      EXPECT_TRUE(ops::cpu::conv2d_small_map_depthwise_applies(g, isas.front())) << k.c << " channels";
    const Tensor x = uniform({g.n, g.c, g.h, g.w}, seed++), w = uniform({g.o, g.cg(), g.kh, g.kw}, seed++),
                 b = uniform({g.o}, seed++);
    Tensor loops = Tensor::empty({g.n, g.o, g.ho, g.wo}, DType::f32, Device::cpu());
    ops::cpu::conv2d_forward_depthwise(x, w, b, loops, g);
    for (const auto& isa : isas) {
      Tensor y = Tensor::full({g.n, g.o, g.ho, g.wo}, NAN, DType::f32, Device::cpu());
      ops::cpu::conv2d_forward_direct(x, w, b, y, g, isa);
      int64_t differ = 0;
      for (int64_t i = 0; i < y.numel(); ++i) differ += !(y.data<float>()[i] == loops.data<float>()[i]);
      EXPECT_EQ(differ, 0) << isa.name << " " << k.kh << "x" << k.kw << " stride " << k.sh << "," << k.sw;
    }
  }
}
