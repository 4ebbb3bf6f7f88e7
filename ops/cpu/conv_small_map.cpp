// Pointwise products of small maps (a 224x224 input's 14x14 and 7x7 stages)
// with the pixels as rows: per image, y^T [P, O] = x^T [P, K] W^T [K, O] in
// the linear's kernel (linear_isa: output channels across the vector lanes,
// pixels broadcast; a 1x1 convolution's x^T is its planes read k-major, an
// unfolded one's each pixel's window), then a transpose back to planes.
// The direct kernel puts pixels
// across the lanes, and a 49-pixel plane fills a strip of 3 vectors and one
// of 1 (PoolFormer's 512 -> 2048 at 7x7 ran at 0.6x the speed of the same
// product at 56x56); here no lane idles while O is a multiple of the vector.
#include <algorithm>
#include <cmath>
#include <memory>

#include "ops/cpu/conv.h"
#include "ops/cpu/gemm.h"
#include "runtime/thread_pool.h"

namespace cudaseg::ops::cpu {

namespace {

// Channel ranges of whole vectors for the threads' transposes: about 16K
// floats each, and as many of them as a multiple of the threads allows (2
// ranges of 320 and 64 channels of a 7x7 map kept one thread 5x longer).
int64_t channel_step(int64_t c, int64_t pixels, const direct::Isa& isa) {
  const int64_t vecs = (c + isa.lanes - 1) / isa.lanes, threads = num_threads();
  int64_t ranges = std::max<int64_t>(1, c * pixels >> 14);
  ranges = std::min(vecs, (ranges + threads - 1) / threads * threads);
  return (vecs + ranges - 1) / ranges * isa.lanes;
}

// The stride of pixel rows of c channels: c rounded up to the vector, and a
// vector more where that is a multiple of 128 floats. Rows 512 bytes apart
// (or a multiple) put a transposed block's 16 row loads or stores on
// addresses equal modulo 4 KB, which the core orders as if dependent: 512
// channels on a 14x14 map took 1.6x the time of 496 or 528.
int64_t pixel_row_ld(int64_t c, const direct::Isa& isa) {
  const int64_t ld = (c + isa.lanes - 1) / isa.lanes * isa.lanes;
  return ld % 128 == 0 ? ld + isa.lanes : ld;
}

// x [c][pixels] -> xt [pixels][ld] (its first c columns).
void to_pixel_rows(const float* x, int64_t c, int64_t pixels, float* xt, int64_t ld, const direct::Isa& isa) {
  const int64_t step = channel_step(c, pixels, isa);
  parallel_for(0, (c + step - 1) / step, 1, [&](int64_t b0, int64_t b1) {
    const int64_t c0 = b0 * step, c1 = std::min(c, b1 * step);
    isa.transpose(x + c0 * pixels, c1 - c0, pixels, pixels, xt + c0, ld);
  });
}

// yt [pixels][ld] (its first c columns) -> y [c][pixels], then the
// activation in the direct kernel's order: PReLU, clamp, GELU.
void from_pixel_rows(const float* yt, int64_t ld, int64_t c, int64_t pixels, const ConvAct& act, float* y,
                     const direct::Isa& isa) {
  const float* slope = act.slope.defined() ? act.slope.data<float>() : nullptr;
  const int64_t slopes = act.slope.defined() ? act.slope.numel() : 0;
  const float lo = static_cast<float>(act.lo), hi = static_cast<float>(act.hi);
  const bool clamp = slope || act.lo != -INFINITY || act.hi != INFINITY;
  const int64_t step = channel_step(c, pixels, isa);
  parallel_for(0, (c + step - 1) / step, 1, [&](int64_t b0, int64_t b1) {
    const int64_t c0 = b0 * step, c1 = std::min(c, b1 * step);
    isa.transpose(yt + c0, pixels, c1 - c0, ld, y + c0 * pixels, pixels);
    for (int64_t ch = c0; ch < c1; ++ch) {
      float* row = y + ch * pixels;
      if (clamp) {
        // Locals and two selects: with the captured bounds (which a store to
        // the row might alias, to the compiler) or a nested ternary the loop
        // stayed scalar and took longer than the product on a 14x14 map.
        const bool prelu = slope != nullptr;
        const float s = prelu ? slope[slopes == 1 ? 0 : ch] : 1.0f, l = lo, h = hi;
        for (int64_t p = 0; p < pixels; ++p) {
          float v = row[p];
          if (prelu) v = std::max(v, 0.0f) + s * std::min(v, 0.0f);
          v = v < l ? l : v;
          row[p] = v > h ? h : v;
        }
      }
      if (act.gelu) isa.gelu(row, row, pixels);
    }
  });
}

// Scratch that every element of is written before it is read.
std::unique_ptr<float[]> scratch(int64_t n) { return std::unique_ptr<float[]>(new float[static_cast<size_t>(n)]); }

// An image's pixel rows [pixels][k] as the product's A: at `a`, rows ld
// apart, or stored k-major (its k rows ld apart).
struct PixelRows {
  const float* a;
  int64_t ld;
  bool k_major;
};

// Per image, the PixelRows `rows(n, scratch)` gives (scratch: scratch_floats
// floats it may write them into) times the weights [o][k] into y
// [n][o][pixels], bias and act included.
template <typename Rows>
void small_map_product(const Rows& rows, int64_t scratch_floats, int64_t images, int64_t pixels, int64_t k,
                       const Tensor& wt, const Tensor& bt, float* y, const direct::Isa& isa, const ConvAct& act) {
  const int64_t o = wt.size(0), width = pixel_row_ld(o, isa);
  const Tensor w2 = wt.reshape({o, k});
  const float* bias = bt.defined() ? bt.data<float>() : nullptr;
  const std::unique_ptr<float[]> xt = scratch(scratch_floats), yt = scratch(pixels * width);
  // A GELU alone goes on the pixel rows, whole vectors wide while they are
  // in cache, not on the transposed channel rows (a 14x14 map's 196 pixels
  // end in a partial vector).
  const bool gelu_rows = act.gelu && !act.slope.defined() && act.lo == -INFINITY && act.hi == INFINITY;
  ConvAct rest = act;
  if (gelu_rows) rest.gelu = false;
  for (int64_t n = 0; n < images; ++n) {
    const PixelRows a = rows(n, xt.get());
    linear_isa(a.a, a.ld, w2, bias, gelu_rows, yt.get(), width, pixels, k, o, isa, a.k_major);
    from_pixel_rows(yt.get(), width, o, pixels, rest, y + n * o * pixels, isa);
  }
}

}  // namespace

bool conv2d_small_map_applies(const ConvGeom& g, const direct::Isa& isa) {
  const int64_t pixels = g.ho * g.wo;
  // Output channels padded to the vector: at most a fifth more (40 -> 48).
  const int64_t width = (g.o + isa.lanes - 1) / isa.lanes * isa.lanes;
  return g.groups == 1 && 5 * width <= 6 * g.o && pixels <= kSmallMapPixels && pixels % isa.lanes != 0 &&
         g.c >= isa.lanes;
}

void conv2d_small_map(const float* x, const Tensor& wt, const Tensor& bt, float* y, const ConvGeom& g,
                      const direct::Isa& isa, const ConvAct& act) {
  const int64_t pixels = g.h * g.w;
  small_map_product([&](int64_t n, float*) { return PixelRows{x + n * g.c * pixels, pixels, true}; }, 0, g.n,
                    pixels, g.c, wt, bt, y, isa, act);
}

// Each output pixel's row is its window, [c][kh][kw] as the weights are
// stored, read from a zero-padded copy of the input planes: written in place
// of the unfolded [c * taps][pixels] copy and its transpose (2.4 MB each
// for a 7x7 kernel of 256 channels on a 7x7 map), and without a bounds
// test in the copy.
void conv2d_small_map_unfolded(const float* x, const Tensor& wt, const Tensor& bt, float* y, const ConvGeom& g,
                               const direct::Isa& isa, const ConvAct& act) {
  const int64_t pixels = g.ho * g.wo, taps = g.kh * g.kw, k = g.c * taps;
  // The padded plane spans the windows' reach, row ih + ph and column iw +
  // pw holding input (ih, iw) or zero: the geometries of the input
  // gradient's stride phases have padding wider than the kernel or negative.
  const int64_t hp = (g.ho - 1) * g.sh + (g.kh - 1) * g.dh + 1, wp = (g.wo - 1) * g.sw + (g.kw - 1) * g.dw + 1;
  const int64_t plane = hp * wp;
  const int64_t c_lo = std::clamp<int64_t>(g.pw, 0, wp), c_hi = std::clamp<int64_t>(g.pw + g.w, c_lo, wp);
  const std::unique_ptr<float[]> padded = scratch(g.c * plane);
  auto rows = [&](int64_t n, float* xt) -> PixelRows {
    const float* xn = x + n * g.c * g.h * g.w;
    parallel_for(0, g.c, std::max<int64_t>(1, 4096 / plane), [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c)
        for (int64_t pr = 0; pr < hp; ++pr) {
          float* r = padded.get() + c * plane + pr * wp;
          const int64_t ih = pr - g.ph;
          if (ih < 0 || ih >= g.h) {
            std::fill(r, r + wp, 0.0f);
            continue;
          }
          const float* in = xn + (c * g.h + ih) * g.w - g.pw;  // column pc at in[pc]
          std::fill(r, r + c_lo, 0.0f);
          std::copy(in + c_lo, in + c_hi, r + c_lo);
          std::fill(r + c_hi, r + wp, 0.0f);
        }
    });
    parallel_for(0, pixels, std::max<int64_t>(1, 16384 / k), [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const float* corner = padded.get() + p / g.wo * g.sh * wp + p % g.wo * g.sw;
        float* row = xt + p * k;
        for (int64_t c = 0; c < g.c; ++c)
          for (int64_t i = 0; i < g.kh; ++i) {
            const float* in = corner + c * plane + i * g.dh * wp;
            float* r = row + (c * g.kh + i) * g.kw;
            for (int64_t j = 0; j < g.kw; ++j) r[j] = in[j * g.dw];
          }
      }
    });
    return {xt, k, false};
  };
  small_map_product(rows, pixels * k, g.n, pixels, k, wt, bt, y, isa, act);
}

// Stride 2 too: a strided depthwise convolution's band copy and 7-pixel
// rows made a 512-channel 3x3 on 14x14 take 0.16 ms (EfficientFormerV2's
// downsampling v_local); as pixel rows 0.03.
bool conv2d_small_map_depthwise_applies(const ConvGeom& g, const direct::Isa& isa) {
  return g.depthwise() && g.og() == 1 && g.sh == g.sw && (g.sh == 1 || g.sh == 2) && g.dh == 1 && g.dw == 1 &&
         g.kh == g.kw && g.kh % 2 == 1 && g.ph == g.kh / 2 && g.pw == g.kw / 2 && g.wo < kSmallMapDepthwiseWidth &&
         g.c >= isa.lanes;
}

void conv2d_small_map_depthwise(const float* x, const Tensor& wt, const Tensor& bt, float* y, const ConvGeom& g,
                                const direct::Isa& isa, const ConvAct& act) {
  const int64_t pixels = g.h * g.w, out = g.ho * g.wo, c = g.c, ld = pixel_row_ld(c, isa);
  const std::unique_ptr<float[]> xt = scratch(pixels * ld), yt = scratch(out * ld);
  for (int64_t n = 0; n < g.n; ++n) {
    to_pixel_rows(x + n * c * pixels, c, pixels, xt.get(), ld, isa);
    depthwise_tokens_f32(xt.get(), 1, g.h, g.w, c, ld, g.kh, g.sh, wt.data<float>(),
                         bt.defined() ? bt.data<float>() : nullptr, false, yt.get(), isa);
    from_pixel_rows(yt.get(), ld, c, out, act, y + n * c * out, isa);
  }
}

}  // namespace cudaseg::ops::cpu
