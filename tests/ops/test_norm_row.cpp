// The per-ISA layer-norm row (ops/cpu/conv_direct.h, Isa::norm_row) of every
// instruction set this CPU runs, against group_norm's formula, and the op
// paths that take it.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "common/cpu_isas.h"
#include "common/testing.h"
#include "ops/norm.h"
#include "runtime/rng.h"

using namespace cudaseg;
using cudaseg::testing::isas_of_this_cpu;

namespace {

// Distance in float32 steps (both finite, same sign or zero).
int64_t ulps(float a, float b) {
  int32_t ia, ib;
  std::memcpy(&ia, &a, 4);
  std::memcpy(&ib, &b, 4);
  if (ia < 0) ia = INT32_MIN - ia;
  if (ib < 0) ib = INT32_MIN - ib;
  return std::llabs(static_cast<int64_t>(ia) - ib);
}

}  // namespace

// Each kernel against the scalar loop's arithmetic (moments in double, the
// affine step y = x * (rstd * w) + (b - mean * rstd * w) in double): only the
// moments' summation order differs, so every element is within 1 ulp, and
// rows of every length around the vector, with and without weight and bias,
// in place and out, an offset mean much larger than the spread.
TEST(NormRow, EveryKernelMatchesGroupNormsFormula) {
  const auto isas = isas_of_this_cpu();
  if (isas.empty()) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  Generator gen(91);
  for (const auto& isa : isas)
    for (int64_t n : {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 100, 257}) {
      const Tensor xs = gen.normal({n}, 0.0, 1.0), ws = gen.normal({n}, 1.0, 0.5), bs = gen.normal({n}, 0.0, 0.5);
      for (double offset : {0.0, 1000.0})
        for (int affine = 0; affine < 2; ++affine) {
          std::vector<float> x(n);
          for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>(xs.data<float>()[i] + offset);
          const float* w = affine ? ws.data<float>() : nullptr;
          const float* b = affine ? bs.data<float>() : nullptr;
          const double eps = 1e-5;
          double sum = 0, sq = 0;
          for (float v : x) sum += v;
          const double mean = sum / n;
          for (float v : x) sq += (v - mean) * (v - mean);
          const double rstd = 1.0 / std::sqrt(sq / n + eps);
          std::vector<float> got(n), in_place = x;
          isa.norm_row(x.data(), n, w, b, eps, got.data());
          isa.norm_row(in_place.data(), n, w, b, eps, in_place.data());
          for (int64_t i = 0; i < n; ++i) {
            const double scale = rstd * (w ? w[i] : 1.0), shift = (b ? b[i] : 0.0) - mean * scale;
            const float want = static_cast<float>(x[i] * scale + shift);
            ASSERT_LE(ulps(got[i], want), 1) << isa.name << " n=" << n << " i=" << i << " offset=" << offset
                                             << " affine=" << affine << ": " << got[i] << " vs " << want;
            ASSERT_EQ(in_place[i], got[i]) << isa.name << " n=" << n << " i=" << i;
          }
        }
    }
}

// The float32 ops that reach the row kernel (layer norm over the last dim,
// group norm of one pixel per channel with several groups, layer norm over
// channels) against their float64 results.
// group_norm's plane passes of every kernel of this CPU: the sums of x and
// of (x - mean)^2 within double rounding of a plain double loop's (another
// order of the same double adds), the affine step exactly its scalar
// arithmetic, in place too; lengths around the double vector and a plane
// far from zero.
TEST(NormRow, EveryKernelsPlaneMomentsAndAffineStep) {
  const auto isas = isas_of_this_cpu();
  if (isas.empty()) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  Generator gen(92);
  for (const auto& isa : isas)
    for (int64_t n : {1, 3, 4, 5, 8, 9, 15, 16, 17, 49, 196, 3136}) {
      const Tensor xs = gen.normal({n}, 0.0, 1.0);
      for (double offset : {0.0, 1000.0}) {
        std::vector<float> x(n);
        for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>(xs.data<float>()[i] + offset);
        double sum = 0, sq = 0;
        for (float v : x) sum += v;
        const double mean = sum / static_cast<double>(n);
        for (float v : x) sq += (v - mean) * (v - mean);
        EXPECT_NEAR(isa.moment_sum(x.data(), n, nullptr), sum, 1e-12 * (std::abs(sum) + n)) << isa.name << " n=" << n;
        EXPECT_NEAR(isa.moment_sum(x.data(), n, &mean), sq, 1e-12 * (sq + n)) << isa.name << " n=" << n;
        const double scale = 0.37, shift = -1.5;
        std::vector<float> got(n), in_place = x;
        isa.affine(x.data(), n, scale, shift, got.data());
        isa.affine(in_place.data(), n, scale, shift, in_place.data());
        for (int64_t i = 0; i < n; ++i) {
          ASSERT_EQ(got[i], static_cast<float>(x[i] * scale + shift)) << isa.name << " n=" << n << " i=" << i;
          ASSERT_EQ(in_place[i], got[i]) << isa.name << " n=" << n << " i=" << i;
        }
      }
    }
}

TEST(NormRow, Float32OpsOfOnePixelPerChannelMatchFloat64) {
  const Tensor x = cudaseg::testing::randn({5, 6, 1}, 31), w = cudaseg::testing::randn({6}, 32), b = cudaseg::testing::randn({6}, 33);
  auto f32 = [](const Tensor& t) { return t.to(DType::f32); };
  EXPECT_TRUE(cudaseg::testing::all_close(ops::group_norm(f32(x), 3, f32(w), f32(b), 1e-5), ops::group_norm(x, 3, w, b, 1e-5),
                                 1e-5, 1e-5));
  const Tensor tokens = cudaseg::testing::randn({2, 37, 65}, 34), g = cudaseg::testing::randn({65}, 35), c = cudaseg::testing::randn({65}, 36);
  EXPECT_TRUE(cudaseg::testing::all_close(ops::layer_norm(f32(tokens), {65}, f32(g), f32(c), 1e-6),
                                 ops::layer_norm(tokens, {65}, g, c, 1e-6), 1e-5, 1e-5));
  const Tensor map = cudaseg::testing::randn({2, 19, 3, 5}, 37), g19 = cudaseg::testing::randn({19}, 38);
  EXPECT_TRUE(cudaseg::testing::all_close(ops::layer_norm_channels(f32(map), f32(g19), Tensor(), 1e-6),
                                 ops::layer_norm_channels(map, g19, Tensor(), 1e-6), 1e-5, 1e-5));
}
