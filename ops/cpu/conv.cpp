#include "ops/cpu/conv.h"

#include <algorithm>
#include <cmath>

#include "ops/common.h"
#include "ops/cpu/conv_direct.h"
#include "ops/kernels/activation.h"
#include "runtime/thread_pool.h"

namespace cudaseg::ops::cpu {

void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y, const ConvGeom& g) {
  if (conv2d_direct_applies(g, y.dtype()))
    conv2d_forward_direct(x, w, bias, y, g, *direct::best_isa());
  else if (g.depthwise())
    conv2d_forward_depthwise(x, w, bias, y, g);
  else
    conv2d_forward_dense(x, w, bias, y, g);
}

// The activation in place over y, for the convolutions that do not apply it
// as they store; the same expressions as the CPU prelu and relu kernels.
void apply_act(const Tensor& y, const ConvAct& act) {
  dispatch_float("conv2d_act", y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* py = y.data<T>();
    const T* slope = act.slope.defined() ? act.slope.data<T>() : nullptr;
    const bool shared = act.slope.defined() && act.slope.numel() == 1;
    const T lo = static_cast<T>(act.lo), hi = static_cast<T>(act.hi);
    const bool clamped = act.lo > -INFINITY || act.hi < INFINITY;
    const int64_t o = y.size(1), hw = y.size(2) * y.size(3);
    parallel_for(0, y.size(0) * o, std::max<int64_t>(1, (int64_t{1} << 15) / std::max<int64_t>(hw, 1)),
                 [&](int64_t p0, int64_t p1) {
                   for (int64_t p = p0; p < p1; ++p) {
                     T* plane = py + p * hw;
                     if (slope) {
                       const T s = slope[shared ? 0 : p % o];
                       for (int64_t k = 0; k < hw; ++k)
                         plane[k] = std::max(plane[k], T(0)) + s * std::min(plane[k], T(0));
                     }
                     if (!clamped) continue;
                     for (int64_t k = 0; k < hw; ++k) {
                       const T v = lo > plane[k] ? lo : plane[k];
                       plane[k] = hi < v ? hi : v;
                     }
                   }
                 });
  });
}

void conv2d_forward_act(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y, const ConvGeom& g,
                        const ConvAct& act) {
  if (conv2d_direct_applies(g, y.dtype())) {
    conv2d_forward_direct(x, w, bias, y, g, *direct::best_isa(), act);
    return;
  }
  conv2d_forward(x, w, bias, y, g);
  apply_act(y, act);
  if (act.gelu) kernels::activation(y.device(), {kernels::Activation::gelu}, y, y);
}

void conv2d_backward_input(const Tensor& gy, const Tensor& w, const Tensor& gx, const ConvGeom& g) {
  if (g.depthwise())
    conv2d_backward_input_depthwise(gy, w, gx, g);
  else if (conv2d_backward_input_direct_applies(g, gx.dtype()))
    conv2d_backward_input_direct(gy, w, gx, g, *direct::best_isa());
  else
    conv2d_backward_input_dense(gy, w, gx, g);
}

void conv2d_backward_weight(const Tensor& gy, const Tensor& x, const Tensor& gw, const ConvGeom& g) {
  if (g.depthwise())
    conv2d_backward_weight_depthwise(gy, x, gw, g);
  else
    conv2d_backward_weight_dense(gy, x, gw, g);
}

void conv2d_backward_bias(const Tensor& gy, const Tensor& gb) {
  dispatch_float("conv2d_backward_bias", gb.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* py = gy.data<T>();
    T* pb = gb.data<T>();
    const int64_t n = gy.size(0), o = gy.size(1), hw = gy.size(2) * gy.size(3);
    // Per-row sums in T over independent lanes (so the compiler can vectorise
    // them), totals in double.
    parallel_for(0, o, std::max<int64_t>(1, (int64_t{1} << 15) / std::max<int64_t>(n * hw, 1)),
                 [&](int64_t o0, int64_t o1) {
                   for (int64_t c = o0; c < o1; ++c) {
                     double acc = 0;
                     for (int64_t b = 0; b < n; ++b) {
                       const T* row = py + (b * o + c) * hw;
                       T lanes[8] = {};
                       int64_t k = 0;
                       for (; k + 8 <= hw; k += 8)
                         for (int l = 0; l < 8; ++l) lanes[l] += row[k + l];
                       for (; k < hw; ++k) lanes[0] += row[k];
                       for (T v : lanes) acc += v;
                     }
                     pb[c] = static_cast<T>(acc);
                   }
                 });
  });
}

void add_channel_bias(const Tensor& y, const Tensor& bias) {
  dispatch_float("conv_transpose2d", y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* py = y.data<T>();
    const T* pb = bias.data<T>();
    const int64_t o = y.size(1), hw = y.size(2) * y.size(3);
    parallel_for(0, y.size(0) * o, std::max<int64_t>(1, (int64_t{1} << 15) / std::max<int64_t>(hw, 1)),
                 [&](int64_t p0, int64_t p1) {
                   for (int64_t p = p0; p < p1; ++p) {
                     T* plane = py + p * hw;
                     const T v = pb[p % o];
                     for (int64_t k = 0; k < hw; ++k) plane[k] += v;
                   }
                 });
  });
}

CUDASEG_REGISTER_KERNEL(kernels::conv2d_forward, cpu, conv2d_forward)
CUDASEG_REGISTER_KERNEL(kernels::conv2d_forward_act, cpu, conv2d_forward_act)
CUDASEG_REGISTER_KERNEL(kernels::conv2d_backward_input, cpu, conv2d_backward_input)
CUDASEG_REGISTER_KERNEL(kernels::conv2d_backward_weight, cpu, conv2d_backward_weight)
CUDASEG_REGISTER_KERNEL(kernels::conv2d_backward_bias, cpu, conv2d_backward_bias)
CUDASEG_REGISTER_KERNEL(kernels::add_channel_bias, cpu, add_channel_bias)

}  // namespace cudaseg::ops::cpu
