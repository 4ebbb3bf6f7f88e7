// ops::depthwise_conv2d_tokens: the depthwise convolution of channels-last
// tokens (the CPU's row kernel of every instruction set, its float64 twin)
// against the map path it stands for, and its argument checks.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "common/cpu_isas.h"
#include "common/testing.h"
#include "ops/conv.h"

using namespace cudaseg;
namespace ct = cudaseg::testing;

namespace {

// Transposed into the map, conv2d_act, transposed back: the definition.
Tensor through_map(const Tensor& x, int64_t h, int64_t w, const Tensor& weight, const Tensor& bias, bool gelu,
                   int64_t stride = 1) {
  const int64_t c = x.size(2), k = weight.size(2);
  ops::Conv2dParams p;
  p.padding = {k / 2, k / 2};
  p.stride = {stride, stride};
  p.groups = c;
  ops::ConvAct act;
  act.gelu = gelu;
  const Tensor map = x.transpose(1, 2).reshape({x.size(0), c, h, w});
  return ops::conv2d_act(map, weight, bias, p, act).flatten(2).transpose(1, 2).contiguous();
}

}  // namespace

// Channels around the vector (1 to 37, 128), maps from 1x1 to 9x5, kernels
// 1 to 7, a batch of 2, with and without bias and GELU: float32 against the
// float64 definition, float64 against it at float64's level.
TEST(ConvTokens, DepthwiseMatchesTheMapPath) {
  for (int64_t c : {1, 5, 16, 37, 128})
    for (const auto& [h, w] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {3, 7}, {9, 5}})
      for (int64_t k : {1, 3, 5, 7})
        for (const bool with_bias : {false, true})
          for (const bool gelu : {false, true}) {
            SCOPED_TRACE("c=" + std::to_string(c) + " " + std::to_string(h) + "x" + std::to_string(w) + " k=" +
                         std::to_string(k) + " bias=" + std::to_string(with_bias) + " gelu=" + std::to_string(gelu));
            const Tensor x = ct::randn({2, h * w, c}, 71), weight = ct::randn({c, 1, k, k}, 72);
            const Tensor bias = with_bias ? ct::randn({c}, 73) : Tensor();
            const Tensor want = through_map(x, h, w, weight, bias, gelu);
            EXPECT_TRUE(ct::all_close(ops::depthwise_conv2d_tokens(x, h, w, weight, bias, gelu), want, 1e-12, 1e-12));
            const Tensor got = ops::depthwise_conv2d_tokens(x.to(DType::f32), h, w, weight.to(DType::f32),
                                                            with_bias ? bias.to(DType::f32) : Tensor(), gelu);
            EXPECT_EQ(got.dtype(), DType::f32);
            EXPECT_TRUE(ct::all_close(got, want, 1e-5, 1e-5));
          }
}

// Every instruction set's row kernel (not only the best one) on a map whose
// rows and columns all meet the padding, channels past the last vector: 21
// channels (one vector of 16 or two of 8 and the rest one by one) and 75
// (groups of four vectors, then single vectors, then the rest), pixels c or
// c + 5 floats apart (ld), stride 1 and 2 (the small-map strided depthwise
// of conv_small_map.cpp; 4x6 -> 2x3).
TEST(ConvTokens, EveryKernelsRowsMatchTheMapPath) {
  const auto isas = ct::isas_of_this_cpu();
  if (isas.empty()) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  const int64_t h = 4, w = 6, k = 5;
  for (const int64_t c : {21, 75}) {
    const Tensor x = ct::randn({1, h * w, c}, 74 + c, DType::f32), weight = ct::randn({c, 1, k, k}, 75, DType::f32);
    const Tensor bias = ct::randn({c}, 76, DType::f32);
    std::vector<float> wt(k * k * c);
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t t = 0; t < k * k; ++t) wt[t * c + ch] = weight.data<float>()[ch * k * k + t];
    for (const int64_t ld : {c, c + 5})
      for (const int64_t stride : {1, 2}) {
        const int64_t ho = (h - 1) / stride + 1, wo = (w - 1) / stride + 1;
        // x and the result with pixels ld apart; the 5 floats between stay as they were.
        std::vector<float> xs(static_cast<size_t>(h * w * ld), 7.0f), ys(static_cast<size_t>(ho * wo * ld));
        for (int64_t p = 0; p < h * w; ++p)
          std::copy(x.data<float>() + p * c, x.data<float>() + (p + 1) * c, xs.begin() + p * ld);
        for (const bool gelu : {false, true}) {
          const Tensor want =
              through_map(x.to(DType::f64), h, w, weight.to(DType::f64), bias.to(DType::f64), gelu, stride);
          for (const auto& isa : isas) {
            std::fill(ys.begin(), ys.end(), -3.0f);
            for (int64_t row = 0; row < ho; ++row)
              isa.depthwise_tokens_row(xs.data(), h, w, c, ld, k, stride, wt.data(), bias.data<float>(), gelu, row,
                                       ys.data());
            Tensor got = Tensor::empty({1, ho * wo, c}, DType::f32);
            bool gaps_kept = true;
            for (int64_t p = 0; p < ho * wo; ++p) {
              std::copy(ys.begin() + p * ld, ys.begin() + p * ld + c, got.data<float>() + p * c);
              for (int64_t e = c; e < ld; ++e) gaps_kept = gaps_kept && ys[p * ld + e] == -3.0f;
            }
            const std::string what = std::string(isa.name) + " c=" + std::to_string(c) + " ld=" + std::to_string(ld) +
                                     " stride=" + std::to_string(stride) + " gelu=" + std::to_string(gelu);
            EXPECT_TRUE(ct::all_close(got, want, 1e-5, 1e-5)) << what;
            EXPECT_TRUE(gaps_kept) << what;
          }
        }
      }
  }
}

TEST(ConvTokens, MisuseErrorsNameTheShapes) {
  const Tensor x = ct::randn({1, 12, 4}, 77), w3 = ct::randn({4, 1, 3, 3}, 78);
  EXPECT_TRUE(ct::throws_mentioning([&] { ops::depthwise_conv2d_tokens(x, 3, 5, w3); },
                                    {"depthwise_conv2d_tokens", "[1, 12, 4]", "3x5"}));
  EXPECT_TRUE(ct::throws_mentioning([&] { ops::depthwise_conv2d_tokens(x, 3, 4, ct::randn({4, 1, 2, 2}, 79)); },
                                    {"depthwise_conv2d_tokens", "[4, 1, 2, 2]", "odd"}));
  EXPECT_TRUE(ct::throws_mentioning([&] { ops::depthwise_conv2d_tokens(x, 3, 4, ct::randn({5, 1, 3, 3}, 80)); },
                                    {"depthwise_conv2d_tokens", "[5, 1, 3, 3]"}));
  EXPECT_TRUE(ct::throws_mentioning([&] { ops::depthwise_conv2d_tokens(x, 3, 4, w3, ct::randn({3}, 81)); },
                                    {"depthwise_conv2d_tokens", "bias", "[3]"}));
}
