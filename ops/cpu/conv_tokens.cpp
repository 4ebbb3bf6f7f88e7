// The depthwise convolution of channels-last tokens (kernels::depthwise_conv2d_tokens):
// rows of output pixels over the thread pool, float32 in the per-ISA row
// kernel (depthwise_tokens_kernel.inc), float64 and CPUs without AVX2 in its
// scalar twin below.
#include <cmath>
#include <vector>

#include "ops/common.h"
#include "ops/cpu/conv_direct.h"
#include "ops/kernels/conv.h"
#include "runtime/thread_pool.h"

namespace cudaseg::ops::cpu {
namespace {

template <typename T>
void row_scalar(const T* x, int64_t h, int64_t w, int64_t c, int64_t k, const T* wt, const T* bias, bool gelu,
                int64_t row, T* y) {
  const int64_t pad = k / 2;
  for (int64_t ow = 0; ow < w; ++ow)
    for (int64_t ch = 0; ch < c; ++ch) {
      T acc = bias[ch];
      for (int64_t i = 0; i < k; ++i)
        for (int64_t j = 0; j < k; ++j) {
          const int64_t ih = row + i - pad, iw = ow + j - pad;
          if (ih >= 0 && ih < h && iw >= 0 && iw < w) acc += x[(ih * w + iw) * c + ch] * wt[(i * k + j) * c + ch];
        }
      y[(row * w + ow) * c + ch] = gelu ? acc / 2 * (1 + std::erf(acc / std::sqrt(T(2)))) : acc;
    }
}

}  // namespace

void depthwise_conv2d_tokens(const Tensor& x, int64_t h, int64_t w, const Tensor& weight, const Tensor& bias,
                             bool gelu, const Tensor& y) {
  dispatch_float("depthwise_conv2d_tokens", x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t n = x.size(0), c = x.size(2), k = weight.size(2), taps = k * k;
    // Weights [c][taps] -> [taps][c]: a tap's weights for a vector of channels side by side.
    std::vector<T> wt(static_cast<size_t>(taps * c)), b(static_cast<size_t>(c), T(0));
    const T* pw = weight.data<T>();
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t t = 0; t < taps; ++t) wt[t * c + ch] = pw[ch * taps + t];
    if (bias.defined()) std::copy(bias.data<T>(), bias.data<T>() + c, b.begin());
    const T* px = x.data<T>();
    T* py = y.data<T>();
    const direct::Isa* isa = std::is_same_v<T, float> ? direct::best_isa() : nullptr;
    parallel_for(0, n * h, std::max<int64_t>(1, (int64_t{1} << 14) / (w * c * taps)), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* xi = px + r / h * h * w * c;
        T* yi = py + r / h * h * w * c;
        if constexpr (std::is_same_v<T, float>) {
          if (isa) {
            isa->depthwise_tokens_row(xi, h, w, c, k, wt.data(), b.data(), gelu, r % h, yi);
            continue;
          }
        }
        row_scalar(xi, h, w, c, k, wt.data(), b.data(), gelu, r % h, yi);
      }
    });
  });
}

CUDASEG_REGISTER_KERNEL(kernels::depthwise_conv2d_tokens, cpu, depthwise_conv2d_tokens)

}  // namespace cudaseg::ops::cpu
