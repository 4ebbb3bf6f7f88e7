// The fused CPU attention's per-ISA kernels (ops/cpu/conv_direct.h,
// Isa::gemm_nn, gemm_tn and softmax_block) of every instruction set this CPU
// runs, against float64.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "common/cpu_isas.h"
#include "runtime/rng.h"

using namespace cudaseg;
using cudaseg::testing::isas_of_this_cpu;

namespace {

std::vector<float> normal(Generator& gen, int64_t n) {
  const Tensor t = gen.normal({n}, 0.0, 1.0);
  return std::vector<float>(t.data<float>(), t.data<float>() + n);
}

}  // namespace

// Every panel width (1 to 5 vectors and more), row counts around every
// tile (1, 5, 6, 7, 13, 25), k from 1 to 70, row strides wider than the
// rows, overwrite and accumulate: within float32's rounding of the
// float64 product (|error| <= 1e-6 * sum |a b| + 1e-6 * |c|); gemm_tn the
// same with A stored k-major (its k rows lda apart, wider than m).
TEST(AttentionKernels, GemmNnAndTnOfEveryKernelMatchFloat64) {
  const auto isas = isas_of_this_cpu();
  if (isas.empty()) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  Generator gen(93);
  for (const auto& isa : isas)
    for (const bool tn : {false, true})
      for (int64_t vecs : {1, 2, 3, 4, 5, 9})
        for (int64_t m : {1, 5, 6, 7, 13, 25})
          for (int64_t k : {1, 3, 32, 70})
            for (const bool accumulate : {false, true}) {
              const int64_t n = vecs * isa.lanes, ldb = n + isa.lanes, ldc = n + 2 * isa.lanes;
              const int64_t lda = tn ? m + 3 : k + 3, a_rows = tn ? k : m;
              const std::vector<float> a = normal(gen, a_rows * lda), b = normal(gen, k * ldb);
              const std::vector<float> c0 = normal(gen, m * ldc);
              auto at = [&](int64_t i, int64_t p) { return static_cast<double>(tn ? a[p * lda + i] : a[i * lda + p]); };
              std::vector<float> c = c0;
              (tn ? isa.gemm_tn : isa.gemm_nn)(m, n, k, a.data(), lda, b.data(), ldb, c.data(), ldc, accumulate);
              for (int64_t i = 0; i < m; ++i)
                for (int64_t j = 0; j < ldc; ++j) {
                  if (j >= n) {
                    ASSERT_EQ(c[i * ldc + j], c0[i * ldc + j]) << isa.name << ": wrote past n";
                    continue;
                  }
                  double want = accumulate ? c0[i * ldc + j] : 0.0, mag = std::fabs(want);
                  for (int64_t p = 0; p < k; ++p) {
                    want += at(i, p) * b[p * ldb + j];
                    mag += std::fabs(at(i, p) * b[p * ldb + j]);
                  }
                  ASSERT_NEAR(c[i * ldc + j], want, 1e-6 * mag + 1e-30)
                      << isa.name << (tn ? " tn" : " nn") << " m=" << m << " n=" << n << " k=" << k
                      << " acc=" << accumulate << " at " << i << "," << j;
                }
            }
}

// A row's scores in blocks of every length around the vector (a first block
// of -inf only, then blocks whose maxima rise and fall): after each block
// the running maximum is the float64 maximum of the scaled scores so far,
// the running sum the float64 sum of exp(score - maximum) within 4 ulp,
// each exponential within 4 ulp (0 below float32's smallest normal number
// and in the padding), and alpha = exp(old maximum - new maximum).
TEST(AttentionKernels, SoftmaxBlockOfEveryKernelMatchesFloat64) {
  const auto isas = isas_of_this_cpu();
  if (isas.empty()) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  const float inf = std::numeric_limits<float>::infinity(), tiny = std::numeric_limits<float>::min();
  Generator gen(94);
  for (const auto& isa : isas)
    for (int64_t n : {1, 7, 16, 17, 33, 100}) {
      const float scale = 0.25f;
      float m = -inf, l = 0.0f;
      double ref_m = -INFINITY, ref_l = 0.0;
      for (int block = 0; block < 5; ++block) {
        const int64_t n_pad = (n + isa.lanes - 1) / isa.lanes * isa.lanes + isa.lanes;
        std::vector<float> s = normal(gen, n_pad);
        for (int64_t j = 0; j < n; ++j) s[j] = block == 0 ? -inf : s[j] * (block == 2 ? 400.0f : 8.0f) + block;
        for (int64_t j = n; j < n_pad; ++j) s[j] = std::numeric_limits<float>::quiet_NaN();
        const std::vector<float> in = s;
        const float alpha = isa.softmax_block(s.data(), n, n_pad, scale, &m, &l);
        double bm = ref_m;
        for (int64_t j = 0; j < n; ++j) bm = std::max(bm, static_cast<double>(in[j] * scale));
        // The exponents' float32 rounding is the algorithm's (as the softmax row's test).
        const double ref_alpha =
            ref_m == -INFINITY ? 0.0 : std::exp(static_cast<double>(static_cast<float>(ref_m) - static_cast<float>(bm)));
        double total = 0;
        for (int64_t j = 0; j < n_pad; ++j) {
          if (j >= n || bm == -INFINITY) {
            ASSERT_EQ(s[j], 0.0f) << isa.name << " n=" << n << " block " << block << " j=" << j;
            continue;
          }
          const double e = std::exp(static_cast<double>(in[j] * scale - static_cast<float>(bm)));
          total += e < tiny ? 0.0 : e;
          if (e < tiny) {
            ASSERT_EQ(s[j], 0.0f);
          } else {
            ASSERT_NEAR(s[j], e, 4 * std::numeric_limits<float>::epsilon() * e) << isa.name << " n=" << n;
          }
        }
        if (bm == -INFINITY) {
          EXPECT_EQ(alpha, 1.0f);
          EXPECT_EQ(m, -inf);
          EXPECT_EQ(l, 0.0f);
          continue;
        }
        EXPECT_NEAR(alpha, ref_alpha < tiny ? 0.0 : ref_alpha, 4 * std::numeric_limits<float>::epsilon() * ref_alpha)
            << isa.name << " n=" << n << " block " << block;
        ref_l = ref_l * ref_alpha + total;
        ref_m = bm;
        EXPECT_EQ(m, static_cast<float>(ref_m)) << isa.name;
        EXPECT_NEAR(l, ref_l, 8 * std::numeric_limits<float>::epsilon() * ref_l) << isa.name << " block " << block;
      }
    }
}
