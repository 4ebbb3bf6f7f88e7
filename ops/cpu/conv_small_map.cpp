// Pointwise products of small maps (a 224x224 input's 14x14 and 7x7 stages)
// with the pixels as rows: per image, y^T [P, O] = x^T [P, K] W^T [K, O] in
// the linear's kernel (linear_isa: output channels across the vector lanes,
// pixels broadcast), between two transposes. The direct kernel puts pixels
// across the lanes, and a 49-pixel plane fills a strip of 3 vectors and one
// of 1 (PoolFormer's 512 -> 2048 at 7x7 ran at 0.6x the speed of the same
// product at 56x56); here no lane idles while O is a multiple of the vector.
#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/cpu/conv.h"
#include "ops/cpu/gemm.h"
#include "runtime/thread_pool.h"

namespace cudaseg::ops::cpu {

bool conv2d_small_map_applies(const ConvGeom& g, const direct::Isa& isa) {
  const int64_t pixels = g.ho * g.wo;
  // Output channels padded to the vector: at most a fifth more (40 -> 48).
  const int64_t width = (g.o + isa.lanes - 1) / isa.lanes * isa.lanes;
  return g.groups == 1 && 5 * width <= 6 * g.o && pixels <= kSmallMapPixels && pixels % isa.lanes != 0 &&
         g.c >= isa.lanes;
}

void conv2d_small_map(const float* x, const Tensor& wt, const Tensor& bt, float* y, const ConvGeom& g,
                      const direct::Isa& isa, const ConvAct& act) {
  const int64_t pixels = g.h * g.w, k = g.c, o = g.o, width = (o + isa.lanes - 1) / isa.lanes * isa.lanes;
  const Tensor w2 = wt.reshape({o, k});
  const float* bias = bt.defined() ? bt.data<float>() : nullptr;
  const float* slope = act.slope.defined() ? act.slope.data<float>() : nullptr;
  const int64_t slopes = act.slope.defined() ? act.slope.numel() : 0;
  const float lo = static_cast<float>(act.lo), hi = static_cast<float>(act.hi);
  std::vector<float> xt(static_cast<size_t>(pixels * k)), yt(static_cast<size_t>(pixels * width));
  const bool clamp = slope || act.lo != -INFINITY || act.hi != INFINITY;
  // Channel ranges of whole vectors for the threads' transposes.
  const int64_t step = std::max<int64_t>(isa.lanes, (int64_t{1} << 14) / std::max<int64_t>(pixels, 1) / isa.lanes * isa.lanes);
  for (int64_t n = 0; n < g.n; ++n) {
    const float* xn = x + n * k * pixels;
    parallel_for(0, (k + step - 1) / step, 1, [&](int64_t b0, int64_t b1) {
      const int64_t c0 = b0 * step, c1 = std::min(k, b1 * step);
      isa.transpose(xn + c0 * pixels, c1 - c0, pixels, pixels, xt.data() + c0, k);
    });
    linear_isa(xt.data(), k, w2, bias, false, yt.data(), width, pixels, k, o, isa);
    float* yn = y + n * o * pixels;
    parallel_for(0, (o + step - 1) / step, 1, [&](int64_t b0, int64_t b1) {
      const int64_t c0 = b0 * step, c1 = std::min(o, b1 * step);
      isa.transpose(yt.data() + c0, pixels, c1 - c0, width, yn + c0 * pixels, pixels);
      // The activation in the direct kernel's order: PReLU, clamp, GELU.
      for (int64_t c = c0; c < c1; ++c) {
        float* row = yn + c * pixels;
        if (clamp) {
          const float s = slope ? slope[slopes == 1 ? 0 : c] : 1.0f;
          for (int64_t p = 0; p < pixels; ++p) {
            float v = row[p];
            if (slope) v = std::max(v, 0.0f) + s * std::min(v, 0.0f);
            row[p] = v < lo ? lo : (v > hi ? hi : v);
          }
        }
        if (act.gelu) isa.gelu(row, row, pixels);
      }
    });
  }
}

}  // namespace cudaseg::ops::cpu
