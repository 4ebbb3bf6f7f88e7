#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <vector>

#include "ops/common.h"
#include "ops/kernels/attention.h"
#include "ops/cpu/conv_direct.h"
#include "runtime/strided.h"
#include "runtime/thread_pool.h"

namespace cudaseg::ops::cpu {

void attention_softmax(const Tensor& scores, const Tensor& bias, const Tensor& mask, double scale) {
  dispatch_float("scaled_dot_product_attention", scores.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t lk = scores.size(-1);
    const int64_t rows = lk == 0 ? 0 : scores.numel() / lk;
    const Shape row_shape(scores.shape().begin(), scores.shape().end() - 1);
    // Element offsets of each row's bias and mask (broadcast dims have stride 0).
    const Shape zero(row_shape.size(), 0);
    const Shape bstr = bias.defined() ? Shape(bias.strides().begin(), bias.strides().end() - 1) : zero;
    const Shape mstr = mask.defined() ? Shape(mask.strides().begin(), mask.strides().end() - 1) : zero;
    std::vector<int64_t> boff, moff;
    boff.reserve(rows);
    moff.reserve(rows);
    for_each_strided<2>(row_shape, {&bstr, &mstr}, {bias.defined() ? bias.offset() : 0, mask.defined() ? mask.offset() : 0},
                        [&](const std::array<int64_t, 2>& o) {
                          boff.push_back(o[0]);
                          moff.push_back(o[1]);
                        });
    T* s = scores.data<T>();
    const T* pb = bias.defined() ? static_cast<const T*>(bias.storage()->data()) : nullptr;
    const bool* pm = mask.defined() ? static_cast<const bool*>(mask.storage()->data()) : nullptr;
    const int64_t bs = bias.defined() ? bias.stride(-1) : 0, ms = mask.defined() ? mask.stride(-1) : 0;
    const T sc = static_cast<T>(scale), neg_inf = -std::numeric_limits<T>::infinity();
    const T tiny = std::numeric_limits<T>::min();
    // float32 rows without bias or mask: the vector kernel (a libm exp per
    // score was a quarter of SegFormer's forward).
    const direct::Isa* isa = std::is_same_v<T, float> && !pb && !pm && scale > 0 ? direct::best_isa() : nullptr;
    parallel_for(0, rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(lk, 1)), [&](int64_t r0, int64_t r1) {
      if constexpr (std::is_same_v<T, float>) {
        if (isa) {
          for (int64_t r = r0; r < r1; ++r) isa->softmax_row(s + r * lk, lk, static_cast<float>(scale));
          return;
        }
      }
      for (int64_t r = r0; r < r1; ++r) {
        T* row = s + r * lk;
        T mx = neg_inf;
        for (int64_t j = 0; j < lk; ++j) {
          T v = row[j] * sc;
          if (pb) v += pb[boff[r] + j * bs];
          if (pm && !pm[moff[r] + j * ms]) v = neg_inf;
          row[j] = v;
          mx = std::max(mx, v);
        }
        // A fully masked row is 0/0 = NaN, as in torch's math attention.
        // Probabilities below the smallest normal number are 0: Swin's shift
        // mask (-100) makes exp give subnormals (e^-100 = 3.7e-44 in float),
        // and the product with V then ran several times slower on subnormal
        // operands; each such term changes an output by under 1.2e-38 * |v|.
        T total = 0;
        for (int64_t j = 0; j < lk; ++j) {
          const T e = std::exp(row[j] - mx);
          row[j] = e < tiny ? T(0) : e;
          total += row[j];
        }
        for (int64_t j = 0; j < lk; ++j) {
          const T p = row[j] / total;
          row[j] = p < tiny ? T(0) : p;
        }
      }
    });
  });
}

void softmax_backward_rows(const Tensor& probs, const Tensor& grad) {
  dispatch_float("scaled_dot_product_attention_backward", grad.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t lk = grad.size(-1);
    const int64_t rows = lk == 0 ? 0 : grad.numel() / lk;
    const T* p = probs.data<T>();
    T* g = grad.data<T>();
    parallel_for(0, rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(lk, 1)), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* pr = p + r * lk;
        T* gr = g + r * lk;
        T dot = 0;
        for (int64_t j = 0; j < lk; ++j) dot += gr[j] * pr[j];
        for (int64_t j = 0; j < lk; ++j) gr[j] = pr[j] * (gr[j] - dot);
      }
    });
  });
}

CUDASEG_REGISTER_KERNEL(kernels::attention_softmax, cpu, attention_softmax)
CUDASEG_REGISTER_KERNEL(kernels::softmax_backward_rows, cpu, softmax_backward_rows)

}  // namespace cudaseg::ops::cpu
