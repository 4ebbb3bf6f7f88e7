#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "ops/common.h"
#include "ops/cpu/conv.h"
#include "ops/cpu/conv_direct.h"
#include "ops/kernels/pool.h"
#include "runtime/thread_pool.h"

namespace cudaseg::ops::cpu {
namespace {

using kernels::PoolGeometry;

// Runs f(plane) for every plane in parallel, in chunks of about 32K
// elements of work.
template <typename F>
void for_each_plane(int64_t planes, int64_t work_per_plane, F&& f) {
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 15) / std::max<int64_t>(work_per_plane, 1));
  parallel_for(0, planes, grain, [&](int64_t s, int64_t e) {
    for (int64_t p = s; p < e; ++p) f(p);
  });
}

int64_t plane_size(const Tensor& t) { return t.size(-2) * t.size(-1); }

// The window of output index o along an axis of PyTorch's adaptive pooling:
// [floor(o*in/out), ceil((o+1)*in/out)).
int64_t adaptive_start(int64_t o, int64_t out, int64_t in) { return (o / out) * in + ((o % out) * in) / out; }
int64_t adaptive_end(int64_t o, int64_t out, int64_t in) { return 1 + ((o + 1) * in - 1) / out; }

template <typename T>
bool beats(T val, T best) {
  return (val > best) | (val != val);  // NaN wins, as in PyTorch; no short-circuit branch
}

}  // namespace

namespace {

// Max pooling of one output (oy, ox), clipped to the input, with PyTorch's
// index: the first element inside the input even when every value is -inf.
template <typename T, bool Indices>
void max_pool_clipped(const T* x, const PoolGeometry& g, int64_t oy, int64_t ox, T* y, int64_t* yi) {
  int64_t y0 = oy * g.sh - g.ph;
  const int64_t y1 = std::min(y0 + (g.kh - 1) * g.dh + 1, g.ih);
  while (y0 < 0) y0 += g.dh;
  int64_t x0 = ox * g.sw - g.pw;
  const int64_t x1 = std::min(x0 + (g.kw - 1) * g.dw + 1, g.iw);
  while (x0 < 0) x0 += g.dw;
  int64_t best_index = y0 * g.iw + x0;
  T best = -std::numeric_limits<T>::infinity();
  // Selects, not a branch: on real data the running maximum changes
  // unpredictably, and mispredictions would cost more than the pooling.
  for (int64_t iy = y0; iy < y1; iy += g.dh)
    for (int64_t ix = x0; ix < x1; ix += g.dw) {
      const T v = x[iy * g.iw + ix];
      const bool take = beats(v, best);
      best = take ? v : best;
      best_index = take ? iy * g.iw + ix : best_index;
    }
  *y = best;
  if constexpr (Indices) *yi = best_index;
}

// Outputs [ox0, ox1) of row oy whose windows lie wholly inside the input, for
// a kernel size known at compile time: no clipping, the window unrolled.
// Without Indices (an inference forward) only the values are kept.
template <typename T, int KH, int KW, bool Indices>
void max_pool_inside(const T* x, const PoolGeometry& g, int64_t oy, int64_t ox0, int64_t ox1, T* y, int64_t* yi) {
  int64_t ox = ox0;
#if defined(__SSE2__)
  // Four float outputs at once for stride 2 and no dilation, the kernels'
  // usual downsampling pools: GCC turns the scalar selects below into
  // branches, which mispredict on real data (two thirds of the pooling time).
  // Columns 2k + j of four outputs are the even lanes of two loads; indices
  // are int32 in the vector (a plane holds fewer than 2^31 elements, checked
  // by the caller) and widened on the store.
  if constexpr (std::is_same_v<T, float>) {
    if (g.sw == 2 && g.dh == 1 && g.dw == 1) {
      const __m128i lane = _mm_setr_epi32(0, 2, 4, 6), zero = _mm_setzero_si128();
      for (; ox + 4 <= ox1 && (ox + 3) * 2 - g.pw + KW + 1 < g.iw; ox += 4) {
        const int64_t base = (oy * g.sh - g.ph) * g.iw + ox * 2 - g.pw;
        const __m128i base_index = _mm_add_epi32(_mm_set1_epi32(static_cast<int32_t>(base)), lane);
        __m128 best = _mm_setzero_ps();
        __m128i best_index = base_index;
        for (int i = 0; i < KH; ++i)
          for (int j = 0; j < KW; ++j) {
            const float* p = x + base + i * g.iw + j;
            const __m128 v = _mm_shuffle_ps(_mm_loadu_ps(p), _mm_loadu_ps(p + 4), _MM_SHUFFLE(2, 0, 2, 0));
            if (i == 0 && j == 0) {
              best = v;
              continue;
            }
            const __m128 take = _mm_or_ps(_mm_cmpgt_ps(v, best), _mm_cmpunord_ps(v, v));
            best = _mm_or_ps(_mm_and_ps(take, v), _mm_andnot_ps(take, best));
            if constexpr (Indices) {
              const __m128i t = _mm_castps_si128(take);
              const __m128i k = _mm_add_epi32(base_index, _mm_set1_epi32(static_cast<int32_t>(i * g.iw + j)));
              best_index = _mm_or_si128(_mm_and_si128(t, k), _mm_andnot_si128(t, best_index));
            }
          }
        _mm_storeu_ps(y + ox, best);
        if constexpr (Indices) {
          _mm_storeu_si128(reinterpret_cast<__m128i*>(yi + ox), _mm_unpacklo_epi32(best_index, zero));
          _mm_storeu_si128(reinterpret_cast<__m128i*>(yi + ox + 2), _mm_unpackhi_epi32(best_index, zero));
        }
      }
    }
  }
#endif
  for (; ox < ox1; ++ox) {
    const int64_t base = (oy * g.sh - g.ph) * g.iw + ox * g.sw - g.pw;
    T best = x[base];
    int64_t best_index = base;
    for (int i = 0; i < KH; ++i)
      for (int j = 0; j < KW; ++j) {
        if (i == 0 && j == 0) continue;
        const int64_t k = base + i * g.dh * g.iw + j * g.dw;
        const bool take = beats(x[k], best);
        best = take ? x[k] : best;
        best_index = take ? k : best_index;
      }
    y[ox] = best;
    if constexpr (Indices) yi[ox] = best_index;
  }
}

template <typename T, int KH, int KW, bool Indices>
void max_pool_plane(const T* x, const PoolGeometry& g, T* y, int64_t* yi) {
  // The outputs whose windows need no clipping: rows [oy0, oy1), columns [ox0, ox1).
  auto inside = [](int64_t in, int64_t out, int64_t k, int64_t s, int64_t p, int64_t d, int64_t* lo, int64_t* hi) {
    *lo = std::min(out, (p + s - 1) / s);
    const int64_t last = in - 1 - (k - 1) * d + p;  // the largest o*s with the window inside
    *hi = last < 0 ? *lo : std::max(*lo, std::min(out, last / s + 1));
  };
  int64_t oy0, oy1, ox0, ox1;
  inside(g.ih, g.oh, g.kh, g.sh, g.ph, g.dh, &oy0, &oy1);
  inside(g.iw, g.ow, g.kw, g.sw, g.pw, g.dw, &ox0, &ox1);
  for (int64_t oy = 0; oy < g.oh; ++oy) {
    T* yr = y + oy * g.ow;
    int64_t* ir = Indices ? yi + oy * g.ow : nullptr;
    if (KH == 0 || oy < oy0 || oy >= oy1) {
      for (int64_t ox = 0; ox < g.ow; ++ox) max_pool_clipped<T, Indices>(x, g, oy, ox, yr + ox, Indices ? ir + ox : nullptr);
      continue;
    }
    for (int64_t ox = 0; ox < ox0; ++ox) max_pool_clipped<T, Indices>(x, g, oy, ox, yr + ox, Indices ? ir + ox : nullptr);
    max_pool_inside<T, KH, KW, Indices>(x, g, oy, ox0, ox1, yr, ir);
    for (int64_t ox = ox1; ox < g.ow; ++ox) max_pool_clipped<T, Indices>(x, g, oy, ox, yr + ox, Indices ? ir + ox : nullptr);
  }
}

}  // namespace

void max_pool2d(const Tensor& input, const PoolGeometry& g, const Tensor& output, const Tensor& indices) {
  dispatch_float("max_pool2d", input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* in = input.data<T>();
    T* out = output.data<T>();
    // Undefined indices: values only (an inference forward).
    int64_t* idx = indices.defined() ? indices.data<int64_t>() : nullptr;
    const int64_t planes = output.numel() / (g.oh * g.ow);
    // The segmentation nets' pools (2x2 and 3x3) get an unrolled window; KH = 0 clips every output.
    const bool int32_indices = g.ih * g.iw < (int64_t{1} << 31);
    auto pick = [&](auto with) {
      constexpr bool I = decltype(with)::value;
      if (int32_indices && g.kh == 2 && g.kw == 2) return &max_pool_plane<T, 2, 2, I>;
      if (int32_indices && g.kh == 3 && g.kw == 3) return &max_pool_plane<T, 3, 3, I>;
      return &max_pool_plane<T, 0, 0, I>;
    };
    const auto plane = idx ? pick(std::true_type{}) : pick(std::false_type{});
    for_each_plane(planes, g.oh * g.ow * g.kh * g.kw, [&](int64_t p) {
      plane(in + p * g.ih * g.iw, g, out + p * g.oh * g.ow, idx ? idx + p * g.oh * g.ow : nullptr);
    });
  });
}

void max_pool2d_backward(const Tensor& grad_output, const Tensor& indices, const Tensor& grad_input) {
  dispatch_float("max_pool2d_backward", grad_output.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* go = grad_output.data<T>();
    const int64_t* idx = indices.data<int64_t>();
    T* gi = grad_input.data<T>();
    const int64_t in_plane = plane_size(grad_input), out_plane = plane_size(grad_output);
    const int64_t planes = grad_output.numel() / std::max<int64_t>(out_plane, 1);
    for_each_plane(planes, out_plane + in_plane, [&](int64_t p) {
      T* dst = gi + p * in_plane;
      std::fill(dst, dst + in_plane, T(0));
      for (int64_t i = p * out_plane; i < (p + 1) * out_plane; ++i) {
        const int64_t k = idx[i];
        CUDASEG_CHECK(k >= 0 && k < in_plane, "max_pool2d_backward: index ", k, " is outside the input plane ",
                      grad_input.size(-2), "x", grad_input.size(-1), " of ", shape_str(grad_input.shape()));
        dst[k] += go[i];
      }
    });
  });
}

void max_unpool2d(const Tensor& input, const Tensor& indices, const Tensor& output) {
  const char* op = "max_unpool2d";
  dispatch_float(op, input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* x = input.data<T>();
    const int64_t* idx = indices.data<int64_t>();
    T* y = output.data<T>();
    const int64_t in_plane = plane_size(input), out_plane = plane_size(output);
    const int64_t planes = output.numel() / std::max<int64_t>(out_plane, 1);
    for_each_plane(planes, out_plane + in_plane, [&](int64_t p) {
      T* dst = y + p * out_plane;
      std::fill(dst, dst + out_plane, T(0));
      for (int64_t i = p * in_plane; i < (p + 1) * in_plane; ++i) {
        const int64_t k = idx[i];
        CUDASEG_CHECK(k >= 0 && k < out_plane, op, ": index ", k, " in 'indices' ", shape_str(indices.shape()),
                      " is outside the output plane ", output.size(-2), "x", output.size(-1));
        dst[k] = x[i];
      }
    });
  });
}

void max_unpool2d_backward(const Tensor& source, const Tensor& indices, const Tensor& output) {
  const char* op = "max_unpool2d_backward";
  dispatch_float(op, source.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* s = source.data<T>();
    const int64_t* idx = indices.data<int64_t>();
    T* y = output.data<T>();
    const int64_t src_plane = plane_size(source), out_plane = plane_size(output);
    const int64_t planes = output.numel() / std::max<int64_t>(out_plane, 1);
    for_each_plane(planes, out_plane, [&](int64_t p) {
      const T* src = s + p * src_plane;
      for (int64_t i = p * out_plane; i < (p + 1) * out_plane; ++i) {
        const int64_t k = idx[i];
        CUDASEG_CHECK(k >= 0 && k < src_plane, op, ": index ", k, " in 'indices' ", shape_str(indices.shape()),
                      " is outside the plane ", source.size(-2), "x", source.size(-1));
        y[i] = src[k];
      }
    });
  });
}

using kernels::avg_window;
using kernels::AvgWindow;

namespace {

// A stride-1 window larger than 3x3 (ADSCNet's 9x9 and 13x13) is summed
// separably: per output row, the column sums of its clipped rows, then each
// output adds its clipped run of them: kh + kw adds an output instead of
// kh * kw, border outputs included (at 64x128 a 13x13 window's border is a
// quarter of the map). The order differs from the per-output loop's, within
// float rounding of it. `columns` holds iw values.
template <typename T>
void avg_pool_separable_plane(const T* x, const PoolGeometry& g, bool count_include_pad, int64_t divisor_override,
                              T* y, T* columns) {
  const int64_t ox_lo = std::min(g.pw, g.ow), ox_hi = std::clamp(g.iw - g.kw + g.pw + 1, ox_lo, g.ow);
  for (int64_t oy = 0; oy < g.oh; ++oy) {
    T* yr = y + oy * g.ow;
    const AvgWindow rows = avg_window(g, oy, 0, count_include_pad, divisor_override);
    if (rows.y0 >= rows.y1) {  // wholly in the padding: 0, as PyTorch
      std::fill(yr, yr + g.ow, T(0));
      continue;
    }
    std::fill(columns, columns + g.iw, T(0));
    for (int64_t iy = rows.y0; iy < rows.y1; ++iy) {
      const T* xr = x + iy * g.iw;
      for (int64_t ix = 0; ix < g.iw; ++ix) columns[ix] += xr[ix];
    }
    auto edge = [&](int64_t ox) {
      const AvgWindow w = avg_window(g, oy, ox, count_include_pad, divisor_override);
      T sum = 0;
      for (int64_t ix = w.x0; ix < w.x1; ++ix) sum += columns[ix];
      yr[ox] = w.x0 >= w.x1 ? T(0) : sum / static_cast<T>(w.divisor);
    };
    for (int64_t ox = 0; ox < ox_lo; ++ox) edge(ox);
    for (int64_t ox = ox_hi; ox < g.ow; ++ox) edge(ox);
    if (ox_hi <= ox_lo) continue;
    std::fill(yr + ox_lo, yr + ox_hi, T(0));
    for (int64_t j = 0; j < g.kw; ++j) {
      const T* cr = columns + j - g.pw;
      for (int64_t ox = ox_lo; ox < ox_hi; ++ox) yr[ox] += cr[ox];
    }
    const T divisor = static_cast<T>(avg_window(g, oy, ox_lo, count_include_pad, divisor_override).divisor);
    for (int64_t ox = ox_lo; ox < ox_hi; ++ox) yr[ox] = yr[ox] / divisor;
  }
}

// Float32 stride-1 windows of up to 3x3 (PoolFormer's token mixer: its 12
// pools took 2.9 ms of FastSegFormer-P's 39 at 224x224 in the row loops
// below, which are built for SSE2 and met 14- and 7-pixel rows) run as a
// depthwise convolution of ones in the in-place plane kernel
// (conv2d_forward_depthwise_planes): its fma(1, x, sum) over the window in
// (i, j) order from a zero bias is the per-output loop's sum bit for bit (the
// padding's zeros add nothing to a sum that starts at +0), then divided by the
// window's divisor. False where it does not apply.
bool avg_pool_planes(const Tensor& input, const PoolGeometry& g, bool count_include_pad, int64_t divisor_override,
                     const Tensor& output) {
  const direct::Isa* isa = direct::best_isa();
  if (input.dtype() != DType::f32 || isa == nullptr || g.sh != 1 || g.sw != 1 || g.dh != 1 || g.dw != 1 ||
      g.kh * g.kw > 9 || output.numel() == 0)
    return false;
  const int64_t planes = output.numel() / (g.oh * g.ow), taps = g.kh * g.kw;
  // avg_window's divisor is a row's extent times a column's (or the override,
  // everywhere): the map from its first row and column, oh + ow calls.
  auto divisor_at = [&](int64_t oy, int64_t ox) {
    return avg_window(g, oy, ox, count_include_pad, divisor_override).divisor;
  };
  const int64_t corner = divisor_at(0, 0);
  std::vector<int64_t> column(static_cast<size_t>(g.ow));
  for (int64_t ox = 0; ox < g.ow; ++ox) column[static_cast<size_t>(ox)] = divisor_at(0, ox);
  std::vector<float> divisor(static_cast<size_t>(g.oh * g.ow + isa->lanes), 1.0f);
  for (int64_t oy = 0; oy < g.oh; ++oy) {
    const int64_t row = divisor_at(oy, 0);
    for (int64_t ox = 0; ox < g.ow; ++ox)
      divisor[static_cast<size_t>(oy * g.ow + ox)] = static_cast<float>(row * column[static_cast<size_t>(ox)] / corner);
  }
  const std::vector<float> ones(static_cast<size_t>(planes * taps), 1.0f), zeros(static_cast<size_t>(planes), 0.0f);
  ConvGeom cg;
  cg.n = 1;
  cg.c = cg.o = cg.groups = planes;
  cg.h = g.ih;
  cg.w = g.iw;
  cg.ho = g.oh;
  cg.wo = g.ow;
  cg.kh = g.kh;
  cg.kw = g.kw;
  cg.ph = g.ph;
  cg.pw = g.pw;
  conv2d_forward_depthwise_planes(input.data<float>(), ones.data(), zeros.data(), nullptr, output.data<float>(), cg,
                                  *isa, {}, divisor.data());
  return true;
}

}  // namespace

void avg_pool2d(const Tensor& input, const PoolGeometry& g, bool count_include_pad, int64_t divisor_override,
                const Tensor& output) {
  if (avg_pool_planes(input, g, count_include_pad, divisor_override, output)) return;
  dispatch_float("avg_pool2d", input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* in = input.data<T>();
    T* out = output.data<T>();
    const int64_t planes = output.numel() / (g.oh * g.ow);
    // At stride and dilation 1 and up to 3x3 (float64, or a CPU without the
    // direct kernels: avg_pool_planes takes the rest), the outputs whose
    // window lies inside the input are summed a row at a time, each output
    // still from 0 in the window's row-major order, so they equal the
    // per-output loop's bit for bit.
    // At stride 2 (STDC's 3x3 skip pool) the interior sums go a row at a time
    // too, over the even and odd columns of each input row; other strides one
    // output at a time, without the window arithmetic. Interior: outputs whose
    // window lies inside the input.
    const bool unit = g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1;
    const bool undilated = g.dh == 1 && g.dw == 1;
    const direct::Isa* isa = direct::best_isa();
    auto inner = [](int64_t in, int64_t out, int64_t k, int64_t s, int64_t pad, int64_t* lo, int64_t* hi) {
      *lo = std::min((pad + s - 1) / s, out);
      *hi = in - k + pad >= 0 ? std::clamp((in - k + pad) / s + 1, *lo, out) : *lo;
    };
    int64_t oy_lo = 0, oy_hi = 0, ox_lo = 0, ox_hi = 0;
    inner(g.ih, g.oh, g.kh, g.sh, g.ph, &oy_lo, &oy_hi);
    inner(g.iw, g.ow, g.kw, g.sw, g.pw, &ox_lo, &ox_hi);
    const bool interior = undilated && oy_hi > oy_lo && ox_hi > ox_lo;
    const T inner_divisor =
        interior ? static_cast<T>(avg_window(g, oy_lo, ox_lo, count_include_pad, divisor_override).divisor) : T(1);
    if (unit && g.kh * g.kw > 9) {
      for_each_plane(planes, g.oh * g.ow * (g.kh + g.kw), [&](int64_t p) {
        thread_local std::vector<T> columns;
        if (columns.size() < static_cast<size_t>(g.iw)) columns.resize(static_cast<size_t>(g.iw));
        avg_pool_separable_plane(in + p * g.ih * g.iw, g, count_include_pad, divisor_override, out + p * g.oh * g.ow,
                                 columns.data());
      });
      return;
    }
    for_each_plane(planes, g.oh * g.ow * g.kh * g.kw, [&](int64_t p) {
      const T* x = in + p * g.ih * g.iw;
      T* y = out + p * g.oh * g.ow;
      thread_local std::vector<T> even, odd;
      if (g.sw == 2 && even.size() < static_cast<size_t>(g.ow + g.kw)) {
        even.resize(static_cast<size_t>(g.ow + g.kw));
        odd.resize(static_cast<size_t>(g.ow + g.kw));
      }
      auto one = [&](int64_t oy, int64_t ox) {
        const AvgWindow w = avg_window(g, oy, ox, count_include_pad, divisor_override);
        T sum = 0;
        for (int64_t iy = w.y0; iy < w.y1; ++iy)
          for (int64_t ix = w.x0; ix < w.x1; ++ix) sum += x[iy * g.iw + ix];
        // A window wholly in the padding is 0, as PyTorch (no 0/0).
        y[oy * g.ow + ox] = (w.y0 >= w.y1 || w.x0 >= w.x1) ? T(0) : sum / static_cast<T>(w.divisor);
      };
      for (int64_t oy = 0; oy < g.oh; ++oy) {
        if (!interior || oy < oy_lo || oy >= oy_hi) {
          for (int64_t ox = 0; ox < g.ow; ++ox) one(oy, ox);
          continue;
        }
        for (int64_t ox = 0; ox < ox_lo; ++ox) one(oy, ox);
        for (int64_t ox = ox_hi; ox < g.ow; ++ox) one(oy, ox);
        T* yr = y + oy * g.ow;
        std::fill(yr + ox_lo, yr + ox_hi, T(0));
        for (int64_t i = 0; i < g.kh; ++i) {
          const T* xr = x + (oy * g.sh - g.ph + i) * g.iw - g.pw;  // column ox * sw + j at xr[ox * sw + j]
          if (g.sw == 1) {
            for (int64_t j = 0; j < g.kw; ++j)
              for (int64_t ox = ox_lo; ox < ox_hi; ++ox) yr[ox] += xr[ox + j];
          } else if (g.sw == 2) {
            const int64_t k1 = ox_hi + (g.kw - 1) / 2;  // even[k] = xr[2k], odd[k] = xr[2k + 1]
            const int64_t k_odd = std::min(k1, (g.iw + g.pw) / 2);  // 2k + 1 inside the row
            // Float32 splits with the vector kernel (ADSCNet's 3x3 stride-2
            // pool of 32 channels at 256x512: 2.6 -> 2.2 ms).
            bool vector_split = false;
            if constexpr (std::is_same_v<T, float>) {
              if (isa != nullptr && k1 > ox_lo) {
                isa->even(xr + 2 * ox_lo, k1 - ox_lo, even.data() + ox_lo);
                if (k_odd > ox_lo) isa->even(xr + 2 * ox_lo + 1, k_odd - ox_lo, odd.data() + ox_lo);
                vector_split = true;
              }
            }
            for (int64_t k = ox_lo; k < k1 && !vector_split; ++k) {
              even[static_cast<size_t>(k)] = xr[2 * k];
              if (k < k_odd) odd[static_cast<size_t>(k)] = xr[2 * k + 1];
            }
            for (int64_t j = 0; j < g.kw; ++j) {
              const T* src = (j % 2 ? odd.data() : even.data()) + j / 2;
              for (int64_t ox = ox_lo; ox < ox_hi; ++ox) yr[ox] += src[ox];
            }
          } else {
            for (int64_t ox = ox_lo; ox < ox_hi; ++ox)
              for (int64_t j = 0; j < g.kw; ++j) yr[ox] += xr[ox * g.sw + j];
          }
        }
        for (int64_t ox = ox_lo; ox < ox_hi; ++ox) yr[ox] = yr[ox] / inner_divisor;
      }
    });
  });
}

void avg_pool2d_backward(const Tensor& grad_output, const PoolGeometry& g, bool count_include_pad,
                         int64_t divisor_override, const Tensor& grad_input) {
  dispatch_float("avg_pool2d_backward", grad_output.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* go = grad_output.data<T>();
    T* gi = grad_input.data<T>();
    const int64_t planes = grad_output.numel() / (g.oh * g.ow);
    for_each_plane(planes, g.oh * g.ow * g.kh * g.kw, [&](int64_t p) {
      const T* dy = go + p * g.oh * g.ow;
      T* dx = gi + p * g.ih * g.iw;
      std::fill(dx, dx + g.ih * g.iw, T(0));
      for (int64_t oy = 0; oy < g.oh; ++oy)
        for (int64_t ox = 0; ox < g.ow; ++ox) {
          const AvgWindow w = avg_window(g, oy, ox, count_include_pad, divisor_override);
          if (w.y0 >= w.y1 || w.x0 >= w.x1) continue;
          const T delta = dy[oy * g.ow + ox] / static_cast<T>(w.divisor);
          for (int64_t iy = w.y0; iy < w.y1; ++iy)
            for (int64_t ix = w.x0; ix < w.x1; ++ix) dx[iy * g.iw + ix] += delta;
        }
    });
  });
}

void adaptive_avg_pool2d(const Tensor& input, const Tensor& output) {
  dispatch_float("adaptive_avg_pool2d", input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t ih = input.size(2), iw = input.size(3), oh = output.size(2), ow = output.size(3);
    const T* in = input.data<T>();
    T* out = output.data<T>();
    // A window's rows are summed column by column into a row of sums (a
    // vectorised loop over the input row), then each window's columns of it:
    // a global pool's 131072-term sum was one chain of dependent adds.
    for_each_plane(output.numel() / (oh * ow), ih * iw + oh * ow, [&](int64_t p) {
      const T* x = in + p * ih * iw;
      T* y = out + p * oh * ow;
      thread_local std::vector<T> columns;
      if (columns.size() < static_cast<size_t>(iw)) columns.resize(static_cast<size_t>(iw));
      T* col = columns.data();
      for (int64_t oy = 0; oy < oh; ++oy) {
        const int64_t y0 = adaptive_start(oy, oh, ih), y1 = adaptive_end(oy, oh, ih);
        std::copy(x + y0 * iw, x + (y0 + 1) * iw, col);
        for (int64_t iy = y0 + 1; iy < y1; ++iy) {
          const T* row = x + iy * iw;
          for (int64_t ix = 0; ix < iw; ++ix) col[ix] += row[ix];
        }
        for (int64_t ox = 0; ox < ow; ++ox) {
          const int64_t x0 = adaptive_start(ox, ow, iw), x1 = adaptive_end(ox, ow, iw);
          T sum = 0;
          for (int64_t ix = x0; ix < x1; ++ix) sum += col[ix];
          y[oy * ow + ox] = sum / static_cast<T>(y1 - y0) / static_cast<T>(x1 - x0);
        }
      }
    });
  });
}

void adaptive_avg_pool2d_backward(const Tensor& grad_output, const Tensor& grad_input) {
  dispatch_float("adaptive_avg_pool2d_backward", grad_output.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t ih = grad_input.size(2), iw = grad_input.size(3);
    const int64_t oh = grad_output.size(2), ow = grad_output.size(3);
    const T* go = grad_output.data<T>();
    T* gi = grad_input.data<T>();
    for_each_plane(grad_output.numel() / (oh * ow), ih * iw + oh * ow, [&](int64_t p) {
      const T* dy = go + p * oh * ow;
      T* dx = gi + p * ih * iw;
      std::fill(dx, dx + ih * iw, T(0));
      for (int64_t oy = 0; oy < oh; ++oy) {
        const int64_t y0 = adaptive_start(oy, oh, ih), y1 = adaptive_end(oy, oh, ih);
        for (int64_t ox = 0; ox < ow; ++ox) {
          const int64_t x0 = adaptive_start(ox, ow, iw), x1 = adaptive_end(ox, ow, iw);
          const T delta = dy[oy * ow + ox] / static_cast<T>(y1 - y0) / static_cast<T>(x1 - x0);
          for (int64_t iy = y0; iy < y1; ++iy)
            for (int64_t ix = x0; ix < x1; ++ix) dx[iy * iw + ix] += delta;
        }
      }
    });
  });
}

void adaptive_max_pool2d(const Tensor& input, const Tensor& output, const Tensor& indices) {
  dispatch_float("adaptive_max_pool2d", input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t ih = input.size(2), iw = input.size(3), oh = output.size(2), ow = output.size(3);
    const T* in = input.data<T>();
    T* out = output.data<T>();
    int64_t* idx = indices.data<int64_t>();
    for_each_plane(output.numel() / (oh * ow), ih * iw + oh * ow, [&](int64_t p) {
      const T* x = in + p * ih * iw;
      T* y = out + p * oh * ow;
      int64_t* yi = idx + p * oh * ow;
      for (int64_t oy = 0; oy < oh; ++oy) {
        const int64_t y0 = adaptive_start(oy, oh, ih), y1 = adaptive_end(oy, oh, ih);
        for (int64_t ox = 0; ox < ow; ++ox) {
          const int64_t x0 = adaptive_start(ox, ow, iw), x1 = adaptive_end(ox, ow, iw);
          int64_t best_index = y0 * iw + x0;
          T best = -std::numeric_limits<T>::infinity();
          for (int64_t iy = y0; iy < y1; ++iy)
            for (int64_t ix = x0; ix < x1; ++ix) {
              const T v = x[iy * iw + ix];
              if (beats(v, best)) {
                best = v;
                best_index = iy * iw + ix;
              }
            }
          y[oy * ow + ox] = best;
          yi[oy * ow + ox] = best_index;
        }
      }
    });
  });
}

CUDASEG_REGISTER_KERNEL(kernels::max_pool2d, cpu, max_pool2d)
CUDASEG_REGISTER_KERNEL(kernels::max_pool2d_backward, cpu, max_pool2d_backward)
CUDASEG_REGISTER_KERNEL(kernels::max_unpool2d, cpu, max_unpool2d)
CUDASEG_REGISTER_KERNEL(kernels::max_unpool2d_backward, cpu, max_unpool2d_backward)
CUDASEG_REGISTER_KERNEL(kernels::avg_pool2d, cpu, avg_pool2d)
CUDASEG_REGISTER_KERNEL(kernels::avg_pool2d_backward, cpu, avg_pool2d_backward)
CUDASEG_REGISTER_KERNEL(kernels::adaptive_avg_pool2d, cpu, adaptive_avg_pool2d)
CUDASEG_REGISTER_KERNEL(kernels::adaptive_avg_pool2d_backward, cpu, adaptive_avg_pool2d_backward)
CUDASEG_REGISTER_KERNEL(kernels::adaptive_max_pool2d, cpu, adaptive_max_pool2d)

}  // namespace cudaseg::ops::cpu
