// The depthwise convolution of channels-last tokens (kernels::depthwise_conv2d_tokens):
// rows of output pixels over the thread pool, float32 in the per-ISA row
// kernel (depthwise_tokens_kernel.inc), float64 and CPUs without AVX2 in its
// scalar twin below.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "ops/common.h"
#include "ops/cpu/conv.h"
#include "ops/cpu/conv_direct.h"
#include "ops/kernels/conv.h"
#include "runtime/thread_pool.h"

namespace cudaseg::ops::cpu {
namespace {

template <typename T>
void row_scalar(const T* x, int64_t h, int64_t w, int64_t c, int64_t ld, int64_t k, int64_t stride, const T* wt,
                const T* bias, bool gelu, int64_t row, T* y) {
  const int64_t pad = k / 2, wo = (w - 1) / stride + 1;
  for (int64_t ow = 0; ow < wo; ++ow)
    for (int64_t ch = 0; ch < c; ++ch) {
      T acc = bias[ch];
      for (int64_t i = 0; i < k; ++i)
        for (int64_t j = 0; j < k; ++j) {
          const int64_t ih = row * stride + i - pad, iw = ow * stride + j - pad;
          if (ih >= 0 && ih < h && iw >= 0 && iw < w) acc += x[(ih * w + iw) * ld + ch] * wt[(i * k + j) * c + ch];
        }
      y[(row * wo + ow) * ld + ch] = gelu ? acc / 2 * (1 + std::erf(acc / std::sqrt(T(2)))) : acc;
    }
}

// Weights [c][taps] -> [taps][c] (a tap's weights for a vector of channels
// side by side), then rows of output pixels over the pool; `isa` (float32
// only) or the scalar twin. Pixels ld floats apart.
template <typename T>
void convolve(const T* x, int64_t n, int64_t h, int64_t w, int64_t c, int64_t ld, int64_t k, int64_t stride,
              const T* weight, const T* bias, bool gelu, T* y, const direct::Isa* isa) {
  const int64_t taps = k * k, ho = (h - 1) / stride + 1, wo = (w - 1) / stride + 1;
  std::vector<T> wt(static_cast<size_t>(taps * c)), b(static_cast<size_t>(c), T(0));
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t t = 0; t < taps; ++t) wt[t * c + ch] = weight[ch * taps + t];
  if (bias) std::copy(bias, bias + c, b.begin());
  parallel_for(0, n * ho, std::max<int64_t>(1, (int64_t{1} << 14) / (wo * c * taps)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xi = x + r / ho * h * w * ld;
      T* yi = y + r / ho * ho * wo * ld;
      if constexpr (std::is_same_v<T, float>) {
        if (isa) {
          isa->depthwise_tokens_row(xi, h, w, c, ld, k, stride, wt.data(), b.data(), gelu, r % ho, yi);
          continue;
        }
      }
      row_scalar(xi, h, w, c, ld, k, stride, wt.data(), b.data(), gelu, r % ho, yi);
    }
  });
}

}  // namespace

void depthwise_tokens_f32(const float* x, int64_t n, int64_t h, int64_t w, int64_t c, int64_t ld, int64_t k,
                          int64_t stride, const float* weight, const float* bias, bool gelu, float* y,
                          const direct::Isa& isa) {
  convolve(x, n, h, w, c, ld, k, stride, weight, bias, gelu, y, &isa);
}

void depthwise_conv2d_tokens(const Tensor& x, int64_t h, int64_t w, const Tensor& weight, const Tensor& bias,
                             bool gelu, const Tensor& y) {
  dispatch_float("depthwise_conv2d_tokens", x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const direct::Isa* isa = std::is_same_v<T, float> ? direct::best_isa() : nullptr;
    convolve(x.data<T>(), x.size(0), h, w, x.size(2), x.size(2), weight.size(2), 1, weight.data<T>(),
             bias.defined() ? bias.data<T>() : nullptr, gelu, y.data<T>(), isa);
  });
}

CUDASEG_REGISTER_KERNEL(kernels::depthwise_conv2d_tokens, cpu, depthwise_conv2d_tokens)

}  // namespace cudaseg::ops::cpu
