// Dense convolution as im2col + GEMM. The column matrix of one image is built
// a band of output rows at a time into one reusable buffer, so its size stays
// bounded (a 3x3 conv of 64 channels at 256x512 would otherwise need 300 MB of
// columns) and the band is still in cache when the GEMM reads it. Column rows
// are channel-major, (c, i, j), so each group's rows are one contiguous block.
#include <algorithm>
#include <cstring>
#include <vector>

#include "ops/common.h"
#include "ops/cpu/conv.h"
#include "ops/cpu/gemm.h"
#include "runtime/thread_pool.h"

namespace cudaseg::ops::cpu {
namespace {

// Column bytes per band: small enough to stay in a core's L2 cache between
// im2col and the GEMM (measured: bands of 64K-128K floats run a 3x3 conv of
// 64 channels at 256x512 2.5x faster than the whole image at once), large
// enough for efficient GEMMs. A band is at least one output row.
constexpr int64_t kBandBytes = int64_t{512} << 10;
// parallel_for grain, in elements copied, for im2col and col2im.
constexpr int64_t kCopyGrain = int64_t{1} << 14;

struct Band {
  int64_t oh0, oh1;
  int64_t cols() const { return oh1 - oh0; }
};

// Output rows per band for a column matrix of `rows` rows of T.
template <typename T>
int64_t band_rows(const ConvGeom& g, int64_t rows) {
  const int64_t per_row = std::max<int64_t>(rows * g.wo * static_cast<int64_t>(sizeof(T)), 1);
  return std::clamp<int64_t>(kBandBytes / per_row, 1, std::max<int64_t>(g.ho, 1));
}

// col[(c, i, j), (oh - oh0, ow)] = x[c, oh*sh - ph + i*dh, ow*sw - pw + j*dw], zero outside x.
template <typename T>
void im2col(const T* x, T* col, const ConvGeom& g, const Band& b) {
  const int64_t ncols = b.cols() * g.wo, kk = g.kh * g.kw;
  parallel_for(0, g.c, std::max<int64_t>(1, kCopyGrain / std::max<int64_t>(kk * ncols, 1)), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const T* xc = x + c * g.h * g.w;
      for (int64_t i = 0; i < g.kh; ++i) {
        for (int64_t j = 0; j < g.kw; ++j) {
          T* dst = col + ((c * g.kh + i) * g.kw + j) * ncols;
          const int64_t xoff = j * g.dw - g.pw;
          int64_t lo, hi;
          valid_range(g.w, g.wo, g.sw, xoff, &lo, &hi);
          for (int64_t oh = b.oh0; oh < b.oh1; ++oh, dst += g.wo) {
            const int64_t ih = oh * g.sh - g.ph + i * g.dh;
            if (ih < 0 || ih >= g.h) {
              std::fill(dst, dst + g.wo, T(0));
              continue;
            }
            const T* src = xc + ih * g.w + xoff;
            std::fill(dst, dst + lo, T(0));
            if (g.sw == 1) {
              std::memcpy(dst + lo, src + lo, sizeof(T) * (hi - lo));
            } else {
              for (int64_t ow = lo; ow < hi; ++ow) dst[ow] = src[ow * g.sw];
            }
            std::fill(dst + hi, dst + g.wo, T(0));
          }
        }
      }
    }
  });
}

// The adjoint of im2col: x[c, ih, iw] += col[(c, i, j), (oh - oh0, ow)].
// Channels are independent, so splitting over them needs no synchronisation.
template <typename T>
void col2im(const T* col, T* x, const ConvGeom& g, const Band& b) {
  const int64_t ncols = b.cols() * g.wo, kk = g.kh * g.kw;
  parallel_for(0, g.c, std::max<int64_t>(1, kCopyGrain / std::max<int64_t>(kk * ncols, 1)), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      T* xc = x + c * g.h * g.w;
      for (int64_t i = 0; i < g.kh; ++i) {
        for (int64_t j = 0; j < g.kw; ++j) {
          const T* src = col + ((c * g.kh + i) * g.kw + j) * ncols;
          const int64_t xoff = j * g.dw - g.pw;
          int64_t lo, hi;
          valid_range(g.w, g.wo, g.sw, xoff, &lo, &hi);
          for (int64_t oh = b.oh0; oh < b.oh1; ++oh, src += g.wo) {
            const int64_t ih = oh * g.sh - g.ph + i * g.dh;
            if (ih < 0 || ih >= g.h) continue;
            T* dst = xc + ih * g.w + xoff;
            for (int64_t ow = lo; ow < hi; ++ow) dst[ow * g.sw] += src[ow];
          }
        }
      }
    }
  });
}

template <typename T>
void add_bias_rows(T* y, const T* bias, int64_t rows, int64_t cols, int64_t ld) {
  if (!bias) return;
  for (int64_t r = 0; r < rows; ++r) {
    T* row = y + r * ld;
    const T v = bias[r];
    for (int64_t k = 0; k < cols; ++k) row[k] += v;
  }
}

template <typename T>
void forward(const Tensor& xt, const Tensor& wt, const Tensor& bt, const Tensor& yt, const ConvGeom& g) {
  const T* x = xt.data<T>();
  const T* w = wt.data<T>();
  const T* bias = bt.defined() ? bt.data<T>() : nullptr;
  T* y = yt.data<T>();
  const int64_t cg = g.cg(), og = g.og(), kdim = cg * g.kh * g.kw, hw = g.h * g.w, howo = g.ho * g.wo;
  if (g.pointwise()) {
    for (int64_t n = 0; n < g.n; ++n) {
      const T* xn = x + n * g.c * hw;
      T* yn = y + n * g.o * howo;
      for (int64_t gr = 0; gr < g.groups; ++gr)
        gemm(false, false, og, hw, cg, T(1), w + gr * og * cg, cg, xn + gr * cg * hw, hw, T(0),
             yn + gr * og * hw, hw);
      add_bias_rows(yn, bias, g.o, howo, howo);
    }
    return;
  }
  const int64_t rows = band_rows<T>(g, g.c * g.kh * g.kw);
  std::vector<T> col(static_cast<size_t>(g.c * g.kh * g.kw * rows * g.wo));
  for (int64_t n = 0; n < g.n; ++n) {
    const T* xn = x + n * g.c * hw;
    T* yn = y + n * g.o * howo;
    for (int64_t oh0 = 0; oh0 < g.ho; oh0 += rows) {
      const Band b{oh0, std::min(g.ho, oh0 + rows)};
      const int64_t ncols = b.cols() * g.wo;
      im2col(xn, col.data(), g, b);
      for (int64_t gr = 0; gr < g.groups; ++gr)
        gemm(false, false, og, ncols, kdim, T(1), w + gr * og * kdim, kdim, col.data() + gr * kdim * ncols,
             ncols, T(0), yn + gr * og * howo + oh0 * g.wo, howo);
      add_bias_rows(yn + oh0 * g.wo, bias, g.o, ncols, howo);
    }
  }
}

template <typename T>
void backward_input(const Tensor& gyt, const Tensor& wt, const Tensor& gxt, const ConvGeom& g) {
  const T* gy = gyt.data<T>();
  const T* w = wt.data<T>();
  T* gx = gxt.data<T>();
  const int64_t cg = g.cg(), og = g.og(), kdim = cg * g.kh * g.kw, hw = g.h * g.w, howo = g.ho * g.wo;
  if (g.pointwise()) {
    for (int64_t n = 0; n < g.n; ++n)
      for (int64_t gr = 0; gr < g.groups; ++gr)
        gemm(true, false, cg, hw, og, T(1), w + gr * og * cg, cg, gy + n * g.o * howo + gr * og * hw, hw, T(0),
             gx + n * g.c * hw + gr * cg * hw, hw);
    return;
  }
  std::fill(gx, gx + g.n * g.c * hw, T(0));
  const int64_t rows = band_rows<T>(g, g.c * g.kh * g.kw);
  std::vector<T> col(static_cast<size_t>(g.c * g.kh * g.kw * rows * g.wo));
  for (int64_t n = 0; n < g.n; ++n) {
    const T* gyn = gy + n * g.o * howo;
    for (int64_t oh0 = 0; oh0 < g.ho; oh0 += rows) {
      const Band b{oh0, std::min(g.ho, oh0 + rows)};
      const int64_t ncols = b.cols() * g.wo;
      for (int64_t gr = 0; gr < g.groups; ++gr)
        gemm(true, false, kdim, ncols, og, T(1), w + gr * og * kdim, kdim, gyn + gr * og * howo + oh0 * g.wo, howo,
             T(0), col.data() + gr * kdim * ncols, ncols);
      col2im(col.data(), gx + n * g.c * hw, g, b);
    }
  }
}

template <typename T>
void backward_weight(const Tensor& gyt, const Tensor& xt, const Tensor& gwt, const ConvGeom& g) {
  const T* gy = gyt.data<T>();
  const T* x = xt.data<T>();
  T* gw = gwt.data<T>();
  const int64_t cg = g.cg(), og = g.og(), kdim = cg * g.kh * g.kw, hw = g.h * g.w, howo = g.ho * g.wo;
  std::fill(gw, gw + g.o * kdim, T(0));
  if (g.pointwise()) {
    for (int64_t n = 0; n < g.n; ++n)
      for (int64_t gr = 0; gr < g.groups; ++gr)
        gemm(false, true, og, cg, hw, T(1), gy + n * g.o * howo + gr * og * hw, hw, x + n * g.c * hw + gr * cg * hw,
             hw, T(1), gw + gr * og * cg, cg);
    return;
  }
  const int64_t rows = band_rows<T>(g, g.c * g.kh * g.kw);
  std::vector<T> col(static_cast<size_t>(g.c * g.kh * g.kw * rows * g.wo));
  for (int64_t n = 0; n < g.n; ++n) {
    const T* gyn = gy + n * g.o * howo;
    for (int64_t oh0 = 0; oh0 < g.ho; oh0 += rows) {
      const Band b{oh0, std::min(g.ho, oh0 + rows)};
      const int64_t ncols = b.cols() * g.wo;
      im2col(x + n * g.c * hw, col.data(), g, b);
      for (int64_t gr = 0; gr < g.groups; ++gr)
        gemm(false, true, og, kdim, ncols, T(1), gyn + gr * og * howo + oh0 * g.wo, howo,
             col.data() + gr * kdim * ncols, ncols, T(1), gw + gr * og * kdim, kdim);
    }
  }
}

}  // namespace

void conv2d_forward_dense(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y,
                          const ConvGeom& g) {
  dispatch_float("conv2d", y.dtype(), [&](auto tag) { forward<decltype(tag)>(x, w, bias, y, g); });
}

void conv2d_backward_input_dense(const Tensor& gy, const Tensor& w, const Tensor& gx, const ConvGeom& g) {
  dispatch_float("conv2d_backward_input", gx.dtype(),
                 [&](auto tag) { backward_input<decltype(tag)>(gy, w, gx, g); });
}

void conv2d_backward_weight_dense(const Tensor& gy, const Tensor& x, const Tensor& gw, const ConvGeom& g) {
  dispatch_float("conv2d_backward_weight", gw.dtype(),
                 [&](auto tag) { backward_weight<decltype(tag)>(gy, x, gw, g); });
}

}  // namespace cudaseg::ops::cpu
