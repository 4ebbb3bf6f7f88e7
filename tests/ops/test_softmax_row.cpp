// The per-ISA attention softmax row (ops/cpu/conv_direct.h, Isa::softmax_row)
// of every instruction set this CPU runs, against float64.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "common/cpu_isas.h"
#include "runtime/rng.h"

using namespace cudaseg;
using cudaseg::testing::isas_of_this_cpu;

// Each instruction set's softmax row against float64 softmax: within 4 ulp
// of every probability (exp within 2 ulp, the sum in lane partial sums),
// probabilities below float32's smallest normal number 0, a NaN score
// making the row NaN, -inf scores 0, rows of every length around the vector.
TEST(SoftmaxRow, EveryKernelIsWithinFourUlpOfDouble) {
  const auto isas = isas_of_this_cpu();
  if (isas.empty()) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  Generator gen(77);
  for (const auto& isa : isas)
    for (int64_t n : {1, 7, 16, 17, 33, 64, 100, 513}) {
      for (double spread : {1.0, 30.0, 300.0}) {
        const Tensor src = gen.uniform({n}, -spread, spread);
        std::vector<float> row(src.data<float>(), src.data<float>() + n);
        if (n > 20) row[3] = -std::numeric_limits<float>::infinity();
        std::vector<float> got = row;
        const float scale = 0.125f;
        isa.softmax_row(got.data(), n, scale);
        // The exponent's float32 rounding (v * scale - max, as the scalar
        // attention softmax rounds it) is the algorithm's; the rest in double.
        float mx = -INFINITY;
        for (float v : row) mx = std::max(mx, v * scale);
        auto t = [&](float v) { return static_cast<double>(v * scale - mx); };
        double total = 0;
        for (float v : row) total += std::exp(t(v));
        for (int64_t j = 0; j < n; ++j) {
          const double want = std::exp(t(row[j])) / total;
          if (want < 1.17549435e-38) {
            EXPECT_LE(got[j], 1.2e-38) << isa.name << " n " << n << " j " << j;
            continue;
          }
          EXPECT_NEAR(got[j], want, 4 * std::ldexp(1.0, -23) * want) << isa.name << " n " << n << " j " << j;
        }
      }
      std::vector<float> nan_row(static_cast<size_t>(n), 1.0f);
      nan_row[static_cast<size_t>(n / 2)] = NAN;
      isa.softmax_row(nan_row.data(), n, 1.0f);
      for (float p : nan_row) EXPECT_TRUE(std::isnan(p)) << isa.name << " n " << n;
    }
}
