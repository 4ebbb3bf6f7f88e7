#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "ops/common.h"
#include "ops/cpu/conv_direct.h"
#include "ops/kernels/softmax.h"
#include "runtime/thread_pool.h"

namespace cudaseg::ops::cpu {

void softmax(const Tensor& x, bool log, const Tensor& out) {
  const int64_t O = x.size(0), D = x.size(1), I = x.size(2);
  dispatch_float(log ? "log_softmax" : "softmax", x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* po = out.data<T>();
    // float32 softmax over contiguous rows: the attention softmax's vector
    // kernel (exp within 2 ulp, sums in float lanes, probabilities below the
    // smallest normal number 0), not two libm exps in double an element
    // (EfficientFormerV2's attention spent 6% of FastSegFormer-E there).
    const direct::Isa* isa = std::is_same_v<T, float> && !log && I == 1 ? direct::best_isa() : nullptr;
    parallel_for(0, O * I, std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(D, 1)), [&](int64_t r0, int64_t r1) {
      if constexpr (std::is_same_v<T, float>) {
        if (isa) {
          for (int64_t r = r0; r < r1; ++r) {
            std::copy(px + r * D, px + (r + 1) * D, po + r * D);
            isa->softmax_row(po + r * D, D, 1.0f);
          }
          return;
        }
      }
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t base = (r / I) * D * I + r % I;
        // Shifting by the max keeps exp() in range for any input magnitude.
        double m = -std::numeric_limits<double>::infinity();
        for (int64_t d = 0; d < D; ++d) m = std::max(m, static_cast<double>(px[base + d * I]));
        double s = 0;
        for (int64_t d = 0; d < D; ++d) s += std::exp(px[base + d * I] - m);
        const double log_s = std::log(s);
        for (int64_t d = 0; d < D; ++d) {
          const double z = px[base + d * I] - m;
          po[base + d * I] = static_cast<T>(log ? z - log_s : std::exp(z) / s);
        }
      }
    });
  });
}

void softmax_backward(const Tensor& grad, const Tensor& y, bool log, const Tensor& grad_input) {
  const int64_t O = y.size(0), D = y.size(1), I = y.size(2);
  dispatch_float(log ? "log_softmax_backward" : "softmax_backward", y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* py = y.data<T>();
    const T* pg = grad.data<T>();
    T* gx = grad_input.data<T>();
    parallel_for(0, O * I, std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(D, 1)), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t base = (r / I) * D * I + r % I;
        double s = 0;
        for (int64_t d = 0; d < D; ++d)
          s += log ? static_cast<double>(pg[base + d * I])
                   : static_cast<double>(pg[base + d * I]) * py[base + d * I];
        for (int64_t d = 0; d < D; ++d) {
          const int64_t k = base + d * I;
          gx[k] = static_cast<T>(log ? pg[k] - std::exp(static_cast<double>(py[k])) * s : py[k] * (pg[k] - s));
        }
      }
    });
  });
}

CUDASEG_REGISTER_KERNEL(kernels::softmax, cpu, softmax)
CUDASEG_REGISTER_KERNEL(kernels::softmax_backward, cpu, softmax_backward)

}  // namespace cudaseg::ops::cpu
