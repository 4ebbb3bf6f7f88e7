// Dense convolution as im2col + GEMM. The column matrix of one image is built
// a band of output rows at a time into a reusable buffer, so its size stays
// bounded (a 3x3 conv of 64 channels at 256x512 would otherwise need 300 MB of
// columns) and the band is still in cache when the GEMM reads it. Column rows
// are channel-major, (c, i, j), so each group's rows are one contiguous block.
//
// Threads take whole bands: the im2col and the GEMM of a band run on one core
// with that core's own column buffer. Splitting each band's copy and GEMM
// across cores instead made every core read columns another had just written;
// a 3x3 conv of 64 channels at 256x512 then ran 1.1x faster on two threads
// rather than 1.8x.
#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <type_traits>
#include <vector>

#include "ops/common.h"
#include "ops/cpu/conv.h"
#include "ops/cpu/conv_direct.h"
#include "ops/cpu/gemm.h"
#include "runtime/thread_pool.h"

namespace cudaseg::ops::cpu {
namespace {

// Column bytes per band: small enough to stay in a core's L2 cache between
// im2col and the GEMM (measured: bands of 64K-128K floats run a 3x3 conv of
// 64 channels at 256x512 2.5x faster than the whole image at once), large
// enough for efficient GEMMs. A band is at least one output row.
constexpr int64_t kBandBytes = int64_t{512} << 10;

struct Band {
  int64_t n, oh0, oh1;  // image, output rows [oh0, oh1)
  int64_t cols(const ConvGeom& g) const { return (oh1 - oh0) * g.wo; }
};

// The bands of every image, numbered image-major. Bands are short enough for
// the cache and, for a single image, for every thread to get some.
template <typename T>
struct Bands {
  int64_t rows = 1, per_image = 1;
  const ConvGeom& g;
  explicit Bands(const ConvGeom& geom) : g(geom) {
    const int64_t per_row = std::max<int64_t>(g.c * g.kh * g.kw * g.wo * static_cast<int64_t>(sizeof(T)), 1);
    const int64_t ho = std::max<int64_t>(g.ho, 1);
    rows = std::clamp<int64_t>(kBandBytes / per_row, 1, (ho + num_threads() - 1) / num_threads());
    per_image = (ho + rows - 1) / rows;
  }
  int64_t count() const { return g.n * per_image; }
  Band at(int64_t i) const {
    const int64_t oh0 = (i % per_image) * rows;
    return {i / per_image, oh0, std::min(g.ho, oh0 + rows)};
  }
  size_t col_size() const { return static_cast<size_t>(g.c * g.kh * g.kw * rows * g.wo); }
};

// col[(c - c0, i, j), (oh - oh0, ow)] = x[c, oh*sh - ph + i*dh, ow*sw - pw + j*dw]
// for the channels [c0, c1) (all by default), zero outside x.
template <typename T>
void im2col(const T* x, T* col, const ConvGeom& g, const Band& b, int64_t c0 = 0, int64_t c1 = -1) {
  const int64_t ncols = b.cols(g);
  if (c1 < 0) c1 = g.c;
  for (int64_t c = c0; c < c1; ++c) {
    const T* xc = x + c * g.h * g.w;
    for (int64_t i = 0; i < g.kh; ++i) {
      for (int64_t j = 0; j < g.kw; ++j) {
        T* dst = col + (((c - c0) * g.kh + i) * g.kw + j) * ncols;
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
}

// The adjoint of im2col: x[c, ih, iw] += col[(c, i, j), (oh - oh0, ow)].
template <typename T>
void col2im(const T* col, T* x, const ConvGeom& g, const Band& b) {
  const int64_t ncols = b.cols(g);
  for (int64_t c = 0; c < g.c; ++c) {
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
  const Bands<T> bands(g);
  parallel_for(0, bands.count(), 1, [&](int64_t i0, int64_t i1) {
    std::vector<T> col(bands.col_size());
    for (int64_t i = i0; i < i1; ++i) {
      const Band b = bands.at(i);
      const int64_t ncols = b.cols(g);
      T* yn = y + b.n * g.o * howo + b.oh0 * g.wo;
      im2col(x + b.n * g.c * hw, col.data(), g, b);
      for (int64_t gr = 0; gr < g.groups; ++gr)
        gemm(false, false, og, ncols, kdim, T(1), w + gr * og * kdim, kdim, col.data() + gr * kdim * ncols,
             ncols, T(0), yn + gr * og * howo, howo);
      add_bias_rows(yn, bias, g.o, ncols, howo);
    }
  });
}

// The weight gradient's work items: a band of output rows of one image, one
// group and a slice of its input channels. The product's reduction runs over
// the band's columns, and gemm_nt_acc's kernel sums each accumulator across
// its lanes once per band: bands hold at least kWeightCols columns (rows of a
// 64-pixel map one at a time would pay that sum every 64 products), and
// channel slices keep the band's columns within kBandBytes.
constexpr int64_t kWeightCols = 1024;

struct WeightBands {
  struct Item {
    Band band;
    int64_t gr, c0, c1;  // group, its input channels [c0, c1)
  };
  const ConvGeom& g;
  int64_t rows = 1, per_image = 1, slice = 1, slices = 1;
  WeightBands(const ConvGeom& geom, size_t elem) : g(geom) {
    const int64_t ho = std::max<int64_t>(g.ho, 1), wo = std::max<int64_t>(g.wo, 1);
    rows = std::min(ho, (kWeightCols + wo - 1) / wo);
    per_image = (ho + rows - 1) / rows;
    const int64_t per_channel = g.kh * g.kw * rows * wo * static_cast<int64_t>(elem);
    slice = std::clamp<int64_t>(kBandBytes / per_channel, 1, g.cg());
    slices = (g.cg() + slice - 1) / slice;
  }
  int64_t count() const { return g.n * per_image * g.groups * slices; }
  Item at(int64_t i) const {
    const int64_t s = i % slices, gr = i / slices % g.groups, b = i / (slices * g.groups);
    const int64_t oh0 = (b % per_image) * rows;
    return {{b / per_image, oh0, std::min(g.ho, oh0 + rows)}, gr, s * slice, std::min(g.cg(), (s + 1) * slice)};
  }
  size_t col_size() const { return static_cast<size_t>(slice * g.kh * g.kw * rows * g.wo); }
};

// gx for the bands [i0, i1): GEMM into columns, then scatter them back.
template <typename T>
void backward_input_bands(const T* gy, const T* w, T* gx, const ConvGeom& g, const Bands<T>& bands, int64_t i0,
                          int64_t i1) {
  const int64_t og = g.og(), kdim = g.cg() * g.kh * g.kw, howo = g.ho * g.wo;
  std::vector<T> col(bands.col_size());
  for (int64_t i = i0; i < i1; ++i) {
    const Band b = bands.at(i);
    const int64_t ncols = b.cols(g);
    const T* gyn = gy + b.n * g.o * howo + b.oh0 * g.wo;
    for (int64_t gr = 0; gr < g.groups; ++gr)
      gemm(true, false, kdim, ncols, og, T(1), w + gr * og * kdim, kdim, gyn + gr * og * howo, howo, T(0),
           col.data() + gr * kdim * ncols, ncols);
    col2im(col.data(), gx + b.n * g.c * g.h * g.w, g, b);
  }
}

template <typename T>
void backward_input(const Tensor& gyt, const Tensor& wt, const Tensor& gxt, const ConvGeom& g) {
  const T* gy = gyt.data<T>();
  const T* w = wt.data<T>();
  T* gx = gxt.data<T>();
  const int64_t cg = g.cg(), og = g.og(), hw = g.h * g.w, howo = g.ho * g.wo;
  if (g.pointwise()) {
    for (int64_t n = 0; n < g.n; ++n)
      for (int64_t gr = 0; gr < g.groups; ++gr)
        gemm(true, false, cg, hw, og, T(1), w + gr * og * cg, cg, gy + n * g.o * howo + gr * og * hw, hw, T(0),
             gx + n * g.c * hw + gr * cg * hw, hw);
    return;
  }
  std::fill(gx, gx + g.n * g.c * hw, T(0));
  const Bands<T> bands(g);
  // Neighbouring bands scatter into shared input rows (the kernel's halo).
  // Runs of bands are scattered in two passes, even runs then odd ones, so no
  // two runs in flight touch the same row: a run of `span` bands covers more
  // input rows than the halo, and runs never straddle images.
  const int64_t halo_rows = (g.kh - 1) * g.dh / g.sh + 1;
  const int64_t span = (halo_rows + bands.rows - 1) / bands.rows;
  const int64_t runs_per_image = std::max<int64_t>(1, bands.per_image / span);
  if (runs_per_image < 2 && g.n < 2) {
    backward_input_bands(gy, w, gx, g, bands, 0, bands.count());
    return;
  }
  const int64_t runs = g.n * runs_per_image;
  auto run_range = [&](int64_t r) {
    const int64_t n = r / runs_per_image, k = r % runs_per_image;
    const int64_t b0 = k * bands.per_image / runs_per_image, b1 = (k + 1) * bands.per_image / runs_per_image;
    backward_input_bands(gy, w, gx, g, bands, n * bands.per_image + b0, n * bands.per_image + b1);
  };
  for (int64_t parity = 0; parity < 2; ++parity)
    parallel_for(0, (runs - parity + 1) / 2, 1, [&](int64_t j0, int64_t j1) {
      for (int64_t j = j0; j < j1; ++j) run_range(2 * j + parity);
    });
}

// C += A B^T: the SIMD kernel of gemm_nt_kernel.inc for float32 where this
// CPU has one, else the BLAS.
template <typename T>
void gemm_nt_acc(int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b, int64_t ldb, T* c,
                 int64_t ldc) {
  if constexpr (std::is_same_v<T, float>) {
    if (const direct::Isa* isa = direct::best_isa()) return isa->gemm_nt(m, n, k, a, lda, b, ldb, c, ldc);
  }
  gemm(false, true, m, n, k, T(1), a, lda, b, ldb, T(1), c, ldc);
}

template <typename T>
void backward_weight(const Tensor& gyt, const Tensor& xt, const Tensor& gwt, const ConvGeom& g) {
  const T* gy = gyt.data<T>();
  const T* x = xt.data<T>();
  T* gw = gwt.data<T>();
  const int64_t cg = g.cg(), og = g.og(), kk = g.kh * g.kw, kdim = cg * kk, hw = g.h * g.w, howo = g.ho * g.wo;
  std::fill(gw, gw + g.o * kdim, T(0));
  // Each thread sums its items into its own partial; the partials are added
  // in item order afterwards, so the result is the same on every run. A
  // pointwise convolution's columns are the input rows themselves.
  const WeightBands wb(g, sizeof(T));
  const bool pointwise = g.pointwise();
  std::mutex mutex;
  std::map<int64_t, std::vector<T>> partials;
  parallel_for(0, wb.count(), 1, [&](int64_t i0, int64_t i1) {
    std::vector<T> col(pointwise ? 0 : wb.col_size()), part(static_cast<size_t>(g.o * kdim), T(0));
    for (int64_t i = i0; i < i1; ++i) {
      const WeightBands::Item it = wb.at(i);
      const int64_t ncols = it.band.cols(g), c0 = it.gr * cg + it.c0;
      const T* gyb = gy + (it.band.n * g.o + it.gr * og) * howo + it.band.oh0 * g.wo;
      const T* cols = pointwise ? x + (it.band.n * g.c + c0) * hw + it.band.oh0 * g.w : col.data();
      if (!pointwise) im2col(x + it.band.n * g.c * hw, col.data(), g, it.band, c0, it.gr * cg + it.c1);
      gemm_nt_acc(og, (it.c1 - it.c0) * kk, ncols, gyb, howo, cols, pointwise ? hw : ncols,
                  part.data() + it.gr * og * kdim + it.c0 * kk, kdim);
    }
    std::lock_guard<std::mutex> lock(mutex);
    partials.emplace(i0, std::move(part));
  });
  for (const auto& [start, part] : partials)
    for (size_t k = 0; k < part.size(); ++k) gw[k] += part[k];
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
