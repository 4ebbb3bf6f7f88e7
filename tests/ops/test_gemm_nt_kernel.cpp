// Isa::gemm_nt (ops/cpu/gemm_nt_kernel.inc), the convolution weight
// gradient's C += A B^T, of every instruction set this CPU runs, against
// float64 sums within the rounding bound of a float32 sum of its terms.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>

#include "common/cpu_isas.h"
#include "ops/cpu/conv_direct.h"
#include "runtime/rng.h"

using namespace cudaseg;
using cudaseg::testing::isas_of_this_cpu;

namespace {

Tensor uniform(const Shape& shape, uint64_t seed) { return Generator(seed).uniform(shape, -1.0, 1.0); }

}  // namespace

// C += A B^T (the weight gradient's product) of every kernel of this CPU
// against float64 sums: block edges in m and n, reductions off the vector
// width and longer than a k-chunk, row strides wider than the rows, and the
// accumulation into what C held.
TEST(GemmNtKernel, EveryKernelsGemmNtMatchesFloat64) {
  const auto isas = isas_of_this_cpu();
  if (isas.empty()) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  struct Dims {
    int64_t m, n, k;
  };
  uint64_t seed = 500;
  for (const Dims d : {Dims{1, 1, 1}, Dims{4, 4, 16}, Dims{7, 5, 37}, Dims{13, 11, 2500}, Dims{128, 27, 1024},
                       Dims{3, 9, 7}}) {
    const int64_t lda = d.k + 3, ldb = d.k + 5, ldc = d.n + 2;
    const Tensor a = uniform({d.m, lda}, seed++), b = uniform({d.n, ldb}, seed++);
    const Tensor c0 = uniform({d.m, ldc}, seed++);
    for (const auto& isa : isas) {
      Tensor c = c0.clone();
      isa.gemm_nt(d.m, d.n, d.k, a.data<float>(), lda, b.data<float>(), ldb, c.data<float>(), ldc);
      const double u = std::ldexp(1.0, -24), gamma = (d.k + 1) * u / (1 - (d.k + 1) * u);
      int64_t bad = 0;
      for (int64_t i = 0; i < d.m; ++i)
        for (int64_t j = 0; j < ldc; ++j) {
          const float before = c0.data<float>()[i * ldc + j], got = c.data<float>()[i * ldc + j];
          if (j >= d.n) {
            EXPECT_EQ(got, before) << isa.name << ": C[" << i << "," << j << "] past n was written";
            continue;
          }
          double sum = before, mag = std::fabs(before);
          for (int64_t t = 0; t < d.k; ++t) {
            const double p = static_cast<double>(a.data<float>()[i * lda + t]) * b.data<float>()[j * ldb + t];
            sum += p;
            mag += std::fabs(p);
          }
          if (!(std::fabs(got - sum) <= gamma * mag) && ++bad <= 3)
            ADD_FAILURE() << isa.name << " " << d.m << "x" << d.n << "x" << d.k << ": C[" << i << "," << j
                          << "] = " << got << ", float64 " << sum;
        }
      EXPECT_EQ(bad, 0) << isa.name;
    }
  }
}
