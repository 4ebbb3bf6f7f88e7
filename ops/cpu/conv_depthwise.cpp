// Direct kernels for convolutions with one input channel per group
// (depthwise, with any channel multiplier og = O / groups): output channel o
// reads input channel o / og only. im2col would copy kh*kw times the input to
// feed GEMMs with a single row, so direct loops are faster here. The loops
// run over the valid output range of each tap, so the inner loop is a
// branch-free axpy (or dot) along a row.
#include <algorithm>
#include <vector>

#include "ops/common.h"
#include "ops/cpu/conv.h"
#include "runtime/thread_pool.h"

namespace cudaseg::ops::cpu {
namespace {

// parallel_for grain in planes: enough work per chunk to amortise a task.
int64_t plane_grain(const ConvGeom& g) {
  return std::max<int64_t>(1, (int64_t{1} << 15) / std::max<int64_t>(g.ho * g.wo * g.kh * g.kw, 1));
}

struct Taps {
  // Per kernel column j: the valid output columns [lo, hi) and the input
  // column offset j*dw - pw of output column 0.
  std::vector<int64_t> lo, hi, off;
  explicit Taps(const ConvGeom& g) : lo(g.kw), hi(g.kw), off(g.kw) {
    for (int64_t j = 0; j < g.kw; ++j) {
      off[j] = j * g.dw - g.pw;
      valid_range(g.w, g.wo, g.sw, off[j], &lo[j], &hi[j]);
    }
  }
};

template <typename T>
void forward(const Tensor& xt, const Tensor& wt, const Tensor& bt, const Tensor& yt, const ConvGeom& g) {
  const T* x = xt.data<T>();
  const T* w = wt.data<T>();
  const T* bias = bt.defined() ? bt.data<T>() : nullptr;
  T* y = yt.data<T>();
  const Taps taps(g);
  const int64_t og = g.og(), kk = g.kh * g.kw, sw = g.sw;
  parallel_for(0, g.n * g.o, plane_grain(g), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t n = p / g.o, o = p % g.o;
      const T* xp = x + (n * g.c + o / og) * g.h * g.w;
      const T* wp = w + o * kk;
      T* yp = y + p * g.ho * g.wo;
      std::fill(yp, yp + g.ho * g.wo, bias ? bias[o] : T(0));
      for (int64_t oh = 0; oh < g.ho; ++oh) {
        T* yrow = yp + oh * g.wo;
        for (int64_t i = 0; i < g.kh; ++i) {
          const int64_t ih = oh * g.sh - g.ph + i * g.dh;
          if (ih < 0 || ih >= g.h) continue;
          for (int64_t j = 0; j < g.kw; ++j) {
            const T wv = wp[i * g.kw + j];
            const T* xrow = xp + ih * g.w + taps.off[j];
            const int64_t lo = taps.lo[j], hi = taps.hi[j];
            if (sw == 1) {
              for (int64_t ow = lo; ow < hi; ++ow) yrow[ow] += wv * xrow[ow];
            } else {
              for (int64_t ow = lo; ow < hi; ++ow) yrow[ow] += wv * xrow[ow * sw];
            }
          }
        }
      }
    }
  });
}

// Each task owns whole input planes (n, group): every output channel of the
// group scatters into that plane only, so there are no write races.
template <typename T>
void backward_input(const Tensor& gyt, const Tensor& wt, const Tensor& gxt, const ConvGeom& g) {
  const T* gy = gyt.data<T>();
  const T* w = wt.data<T>();
  T* gx = gxt.data<T>();
  const Taps taps(g);
  const int64_t og = g.og(), kk = g.kh * g.kw, sw = g.sw;
  parallel_for(0, g.n * g.c, std::max<int64_t>(1, plane_grain(g) / og), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t n = p / g.c, c = p % g.c;
      T* xp = gx + p * g.h * g.w;
      std::fill(xp, xp + g.h * g.w, T(0));
      for (int64_t o = c * og; o < (c + 1) * og; ++o) {
        const T* yp = gy + (n * g.o + o) * g.ho * g.wo;
        const T* wp = w + o * kk;
        for (int64_t oh = 0; oh < g.ho; ++oh) {
          const T* yrow = yp + oh * g.wo;
          for (int64_t i = 0; i < g.kh; ++i) {
            const int64_t ih = oh * g.sh - g.ph + i * g.dh;
            if (ih < 0 || ih >= g.h) continue;
            for (int64_t j = 0; j < g.kw; ++j) {
              const T wv = wp[i * g.kw + j];
              T* xrow = xp + ih * g.w + taps.off[j];
              const int64_t lo = taps.lo[j], hi = taps.hi[j];
              if (sw == 1) {
                for (int64_t ow = lo; ow < hi; ++ow) xrow[ow] += wv * yrow[ow];
              } else {
                for (int64_t ow = lo; ow < hi; ++ow) xrow[ow * sw] += wv * yrow[ow];
              }
            }
          }
        }
      }
    }
  });
}

// Each task owns whole output channels. A tap's products are summed
// element-wise into a row of partial sums (a reduction the compiler can
// vectorise, unlike a running scalar sum), which is totalled in double at the
// end of the channel.
template <typename T>
void backward_weight(const Tensor& gyt, const Tensor& xt, const Tensor& gwt, const ConvGeom& g) {
  const T* gy = gyt.data<T>();
  const T* x = xt.data<T>();
  T* gw = gwt.data<T>();
  const Taps taps(g);
  const int64_t og = g.og(), kk = g.kh * g.kw, sw = g.sw, wo = g.wo;
  parallel_for(0, g.o, std::max<int64_t>(1, plane_grain(g) / std::max<int64_t>(g.n, 1)), [&](int64_t o0, int64_t o1) {
    std::vector<T> partial(static_cast<size_t>(kk * wo));
    for (int64_t o = o0; o < o1; ++o) {
      std::fill(partial.begin(), partial.end(), T(0));
      for (int64_t n = 0; n < g.n; ++n) {
        const T* xp = x + (n * g.c + o / og) * g.h * g.w;
        const T* yp = gy + (n * g.o + o) * g.ho * wo;
        for (int64_t oh = 0; oh < g.ho; ++oh) {
          const T* yrow = yp + oh * wo;
          for (int64_t i = 0; i < g.kh; ++i) {
            const int64_t ih = oh * g.sh - g.ph + i * g.dh;
            if (ih < 0 || ih >= g.h) continue;
            for (int64_t j = 0; j < g.kw; ++j) {
              const T* xrow = xp + ih * g.w + taps.off[j];
              T* acc = partial.data() + (i * g.kw + j) * wo;
              const int64_t lo = taps.lo[j], hi = taps.hi[j];
              if (sw == 1) {
                for (int64_t ow = lo; ow < hi; ++ow) acc[ow] += yrow[ow] * xrow[ow];
              } else {
                for (int64_t ow = lo; ow < hi; ++ow) acc[ow] += yrow[ow] * xrow[ow * sw];
              }
            }
          }
        }
      }
      for (int64_t k = 0; k < kk; ++k) {
        double total = 0;
        for (int64_t ow = 0; ow < wo; ++ow) total += partial[k * wo + ow];
        gw[o * kk + k] = static_cast<T>(total);
      }
    }
  });
}

}  // namespace

void conv2d_forward_depthwise(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y,
                              const ConvGeom& g) {
  dispatch_float("conv2d", y.dtype(), [&](auto tag) { forward<decltype(tag)>(x, w, bias, y, g); });
}

void conv2d_backward_input_depthwise(const Tensor& gy, const Tensor& w, const Tensor& gx, const ConvGeom& g) {
  dispatch_float("conv2d_backward_input", gx.dtype(),
                 [&](auto tag) { backward_input<decltype(tag)>(gy, w, gx, g); });
}

void conv2d_backward_weight_depthwise(const Tensor& gy, const Tensor& x, const Tensor& gw, const ConvGeom& g) {
  dispatch_float("conv2d_backward_weight", gw.dtype(),
                 [&](auto tag) { backward_weight<decltype(tag)>(gy, x, gw, g); });
}

}  // namespace cudaseg::ops::cpu
