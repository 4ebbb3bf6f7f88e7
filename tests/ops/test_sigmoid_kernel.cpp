// The per-ISA float32 sigmoid and SiLU (ops/cpu/conv_direct.h, Isa::sigmoid)
// of every instruction set this CPU runs, against float64, and the ops that
// take it.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "common/cpu_isas.h"
#include "common/testing.h"
#include "ops/activation.h"
#include "runtime/rng.h"

using namespace cudaseg;

// Within 3 ulp of the float64 value where that is a normal float32 number,
// 0 where the sigmoid is below it (x < -87.3), 1 at +inf, NaN kept, lengths
// around the vector, in place.
TEST(SigmoidKernel, EveryKernelIsWithinThreeUlpOfDouble) {
  const auto isas = cudaseg::testing::isas_of_this_cpu();
  if (isas.empty()) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  const float inf = std::numeric_limits<float>::infinity(), tiny = std::numeric_limits<float>::min();
  Generator gen(95);
  for (const auto& isa : isas)
    for (const bool silu : {false, true})
      for (int64_t n : {1, 7, 16, 17, 100}) {
        const Tensor t = gen.uniform({n}, -30.0, 30.0);
        std::vector<float> x(t.data<float>(), t.data<float>() + n);
        if (n > 5) x[0] = -100.0f, x[1] = inf, x[2] = -inf, x[3] = std::nanf(""), x[4] = 0.0f;
        std::vector<float> y(n), in_place = x;
        isa.sigmoid(x.data(), y.data(), n, silu);
        isa.sigmoid(in_place.data(), in_place.data(), n, silu);
        for (int64_t i = 0; i < n; ++i) {
          ASSERT_TRUE(in_place[i] == y[i] || (std::isnan(y[i]) && std::isnan(in_place[i])));
          const double v = x[i], s = 1.0 / (1.0 + std::exp(-v));
          if (std::isnan(v)) {
            EXPECT_TRUE(std::isnan(y[i])) << isa.name;
            continue;
          }
          if (std::isinf(v) && silu) continue;  // inf * 1 and -inf * 0 (NaN, as torch)
          if (s < tiny) {
            EXPECT_EQ(y[i], 0.0f) << isa.name << " x=" << v;
            continue;
          }
          const double want = silu ? v * s : s;
          EXPECT_NEAR(y[i], want, 3 * std::numeric_limits<float>::epsilon() * std::fabs(want))
              << isa.name << " silu=" << silu << " x=" << v;
        }
      }
}

// ops::sigmoid and ops::silu of float32 tensors (which take the kernel)
// against their float64 values.
TEST(SigmoidKernel, Float32OpsMatchFloat64) {
  const Tensor x = cudaseg::testing::randn({3, 5, 37}, 96);
  EXPECT_TRUE(cudaseg::testing::all_close(ops::sigmoid(x.to(DType::f32)), ops::sigmoid(x), 1e-6, 1e-6));
  EXPECT_TRUE(cudaseg::testing::all_close(ops::silu(x.to(DType::f32)), ops::silu(x), 1e-6, 1e-6));
}
