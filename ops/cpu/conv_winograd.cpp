// Winograd F(2x2, 3x3) for the float32 3x3, stride-1 dense convolutions
// (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks",
// 2016): each 2x2 block of outputs costs 16 products per input channel
// instead of 36. A tile's 4x4 input d becomes V = B^T d B, the weights g
// U = G g G^T (once per weight version, cached_weights), and for each
// of the 16 positions the sums over input channels of U * V are a pointwise
// convolution over the tiles, run by the direct kernel (conv_direct.h); the
// output transform A^T M A then adds the bias and applies the activation.
// G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]; B^T and A^T are in
// conv_winograd_kernel.inc. The transforms only add and halve, so the
// rounding stays that of the direct kernel's within a small factor (checked
// against float64 in tests/ops/test_conv_direct.cpp).
//
// The tiles go by ranges of a tile row, sized so that V and M of a range
// (16 x channels x tiles floats each) stay in the core's L2 cache.
//
// The factorised 3x1 and 1x3 convolutions take the one-dimensional F(4, 3)
// (four outputs from six inputs, 6 products instead of 12; its matrices in
// conv_winograd_kernel.inc) the same way, six positions. Against F(2, 3),
// which it replaced, a 64-channel 3x1 at 128x256 went from 4.2 to 2.9 ms and
// a 1x3 from 4.0 to 3.2 at one thread (onnxruntime's in ERFNet: 3.4-3.5).
#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/cpu/conv.h"
#include "ops/cpu/conv_direct.h"
#include "runtime/thread_pool.h"

namespace cudaseg::ops::cpu {
namespace {

// Where it pays, measured by CPU time at one thread on the AVX-512 machine
// of docs/benchmarks.md against the direct kernel, transformed weights
// cached: 1.1x to 2.5x faster from 48 to 512 channels (48->48 at 64x128
// 1.1x, 64->64 at 256x512 1.3x, 128->128 at 64x128 1.5x, 256->256 at 16x32
// 2.5x, 512->512 at 16x32 1.9x); slower below 48 channels (32: 0.9x), on
// rows of fewer than 16 tiles (128->128 at 16x16: 0.9x), and where the 16
// transformed weight matrices outgrow the caches (1024->1024: 0.4x).
constexpr int64_t kMinChannels = 48;
constexpr int64_t kMaxChannelProduct = 512 * 512;
constexpr int64_t kMinWidth = 32, kMinHeight = 8;
// The direct kernel's partial-sum length (conv_direct.cpp, kChunkTerms).
constexpr int64_t kChunkChannels = 128;
// F(4, 3)'s: its output transform multiplies M's rounding by up to 8, and
// sums of 128 channels came to 2.6x the float32 GEMM path's error against
// float64 (a 128->64 3x1), 2.0x in sums of 64 (0.1 ms more of a 2.1 ms
// 128-channel 3x1 at 64x128).
constexpr int64_t kChunkChannels1d = 64;
// V and M of a tile range: about 1 MiB together.
constexpr int64_t kRangeFloats = int64_t{1} << 18;
// cached_weights' layout of U (the direct kernel's packings use groups >= 1).
constexpr int64_t kWinogradLayout = -1, kWinograd1dLayout = -2;

// U[p][blocks][c][block] (p = 4i + k of G g G^T), zero past o.
std::vector<float> transformed_weights(const float* w, const ConvGeom& g, int64_t block, int64_t blocks) {
  std::vector<float> u(static_cast<size_t>(16 * blocks * g.c * block), 0.0f);
  for (int64_t o = 0; o < g.o; ++o)
    for (int64_t c = 0; c < g.c; ++c) {
      const float* k = w + (o * g.c + c) * 9;
      float gg[4][3];  // G g
      for (int j = 0; j < 3; ++j) {
        const float a = k[j], b = k[3 + j], d = k[6 + j];
        gg[0][j] = a;
        gg[1][j] = 0.5f * (a + b + d);
        gg[2][j] = 0.5f * (a - b + d);
        gg[3][j] = d;
      }
      for (int i = 0; i < 4; ++i) {
        const float a = gg[i][0], b = gg[i][1], d = gg[i][2];
        const float row[4] = {a, 0.5f * (a + b + d), 0.5f * (a - b + d), d};
        for (int kk = 0; kk < 4; ++kk)
          u[static_cast<size_t>((((4 * i + kk) * blocks + o / block) * g.c + c) * block + o % block)] = row[kk];
      }
    }
  return u;
}

// U[p][blocks][c][block] of F(4, 3) (G g for the kernel's three taps,
// conv_winograd_kernel.inc), zero past o. G = [1/4 0 0; -1/6 -1/6 -1/6;
// -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1], in double and then rounded.
std::vector<float> transformed_weights_1d(const float* w, const ConvGeom& g, int64_t block, int64_t blocks) {
  std::vector<float> u(static_cast<size_t>(6 * blocks * g.c * block), 0.0f);
  for (int64_t o = 0; o < g.o; ++o)
    for (int64_t c = 0; c < g.c; ++c) {
      const float* k = w + (o * g.c + c) * 3;  // 3x1 or 1x3: three taps in a row either way
      const double a = k[0], b = k[1], d = k[2];
      const double row[6] = {a / 4, -(a + b + d) / 6, -(a - b + d) / 6, a / 24 + b / 12 + d / 6,
                             a / 24 - b / 12 + d / 6, d};
      for (int p = 0; p < 6; ++p)
        u[static_cast<size_t>(((p * blocks + o / block) * g.c + c) * block + o % block)] = static_cast<float>(row[p]);
    }
  return u;
}

// The GEMMs of `positions` transform positions: M[p] = U[p] V[p] over width columns.
void winograd_products(const float* v, const float* u, float* m, int64_t positions, int64_t width, const ConvGeom& g,
                       const direct::Isa& isa, const float* zero_bias, int64_t chunk) {
  const int64_t block = isa.block, blocks = (g.o + block - 1) / block;
  const int64_t zero_offset = 0;
  for (int64_t p = 0; p < positions; ++p) {
    direct::Band b;
    b.x = v + p * g.c * width;
    b.c_stride = b.row_stride = width;
    b.tap_offset = &zero_offset;
    b.taps = 1;
    b.cg = g.c;
    b.chunk = chunk;
    b.sh = 1;
    b.w = u + p * blocks * g.c * block;
    b.bias = zero_bias;
    b.slope = nullptr;
    b.lo = -INFINITY, b.hi = INFINITY, b.gelu = false;
    b.y = m + p * g.o * width;
    b.y_channel_stride = width;
    b.rows = 1;
    b.wo = width;
    b.og = g.o;
    isa.run(b);
  }
}

direct::WinogradTiles tiles_of(const float* x, float* y, int64_t n, const ConvGeom& g, const float* bias,
                               const float* slope, const ConvAct& act) {
  direct::WinogradTiles a;
  a.x = x + n * g.c * g.h * g.w;
  a.c = g.c, a.h = g.h, a.w = g.w, a.ph = g.ph, a.pw = g.pw, a.dilation = g.dh;
  a.y = y + n * g.o * g.ho * g.wo;
  a.o = g.o, a.ho = g.ho, a.wo = g.wo;
  a.bias = bias, a.slope = slope;
  a.lo = static_cast<float>(act.lo), a.hi = static_cast<float>(act.hi), a.gelu = act.gelu;
  return a;
}

bool channels_pay(const ConvGeom& g) {
  return g.groups == 1 && g.sh == 1 && g.sw == 1 && g.c >= kMinChannels && g.o >= kMinChannels &&
         g.c * g.o <= kMaxChannelProduct;
}

// A one-tap axis's dilation changes nothing (ERFNet's 3x1 and 1x3 carry
// dilation (d, d)).
bool vertical(const ConvGeom& g) { return g.kh == 3 && g.kw == 1 && g.pw == 0; }
bool horizontal(const ConvGeom& g) { return g.kh == 1 && g.kw == 3 && g.dw == 1 && g.ph == 0; }

}  // namespace

bool conv2d_winograd_1d_applies(const ConvGeom& g) {
  return channels_pay(g) && g.wo >= kMinWidth && (vertical(g) || horizontal(g));
}

void conv2d_forward_winograd_1d(const float* x, const Tensor& wt, const float* bias, const float* slope, float* y,
                                const ConvGeom& g, const direct::Isa& isa, const ConvAct& act) {
  const int64_t lanes = isa.lanes, block = isa.block, blocks = (g.o + block - 1) / block;
  const std::shared_ptr<const std::vector<float>> u = cached_weights(
      wt, kWinograd1dLayout, block, [&] { return transformed_weights_1d(wt.data<float>(), g, block, blocks); });
  const std::vector<float> zero_bias(static_cast<size_t>(blocks * block), 0.0f);
  // A sixth of the 2D ranges' floats for each of V and M (six positions
  // instead of sixteen): a quarter of them measured faster on ERFNet's
  // shapes than the 2D size.
  const int64_t budget = std::max<int64_t>(16, kRangeFloats / 4 / (6 * std::max(g.c, g.o)) / 16 * 16);
  if (vertical(g)) {
    // Tile rows r with r mod 4d < d group with r + d, r + 2d and r + 3d; several rows a GEMM.
    std::vector<int64_t> rows;
    for (int64_t r = 0; r < g.ho; ++r)
      if (r % (4 * g.dh) < g.dh) rows.push_back(r);
    const int64_t row_width = (g.wo + lanes - 1) / lanes * lanes;
    const int64_t per_item = std::max<int64_t>(1, budget / row_width);
    const int64_t count = static_cast<int64_t>(rows.size()), items_per_image = (count + per_item - 1) / per_item;
    parallel_for(0, g.n * items_per_image, 1, [&](int64_t i0, int64_t i1) {
      thread_local std::vector<float> v, m;
      const size_t width = static_cast<size_t>(per_item * row_width);
      if (v.size() < 6 * static_cast<size_t>(g.c) * width) v.resize(6 * static_cast<size_t>(g.c) * width);
      if (m.size() < 6 * static_cast<size_t>(g.o) * width) m.resize(6 * static_cast<size_t>(g.o) * width);
      for (int64_t item = i0; item < i1; ++item) {
        const int64_t n = item / items_per_image, first = item % items_per_image * per_item;
        const int64_t k = std::min(per_item, count - first);
        const direct::WinogradTiles a = tiles_of(x, y, n, g, bias, slope, act);
        isa.winograd_rows_input(a, rows.data() + first, k, row_width, v.data());
        winograd_products(v.data(), u->data(), m.data(), 6, k * row_width, g, isa, zero_bias.data(), kChunkChannels1d);
        isa.winograd_rows_output(a, rows.data() + first, k, row_width, m.data());
      }
    });
    return;
  }
  // 1x3: segments of `range` tiles of one output row (rows of more tiles
  // than the budget in several), several segments a GEMM, so that a short
  // row's few vectors still make full strips.
  const int64_t tiles_per_row = (g.wo + 3) / 4;
  const int64_t range = std::min(budget, (tiles_per_row + lanes - 1) / lanes * lanes);
  const int64_t ranges = (tiles_per_row + range - 1) / range;
  const int64_t padded = (range + lanes - 1) / lanes * lanes;
  const int64_t per_item = std::max<int64_t>(1, budget / padded);
  const int64_t segments = g.ho * ranges, items_per_image = (segments + per_item - 1) / per_item;
  parallel_for(0, g.n * items_per_image, 1, [&](int64_t i0, int64_t i1) {
    thread_local std::vector<float> v, m, buf;
    const size_t width = static_cast<size_t>(per_item * padded);
    if (v.size() < 6 * static_cast<size_t>(g.c) * width) v.resize(6 * static_cast<size_t>(g.c) * width);
    if (m.size() < 6 * static_cast<size_t>(g.o) * width) m.resize(6 * static_cast<size_t>(g.o) * width);
    if (buf.size() < static_cast<size_t>(12 * (padded + lanes))) buf.resize(static_cast<size_t>(12 * (padded + lanes)));
    for (int64_t item = i0; item < i1; ++item) {
      const int64_t n = item / items_per_image, first = item % items_per_image * per_item;
      const int64_t k = std::min(per_item, segments - first);
      const direct::WinogradTiles a = tiles_of(x, y, n, g, bias, slope, act);
      for (int64_t slot = 0; slot < k; ++slot) {
        const int64_t row = (first + slot) / ranges, t0 = (first + slot) % ranges * range;
        isa.winograd_cols_input(a, row, t0, std::min(range, tiles_per_row - t0), v.data() + slot * padded,
                                k * padded, buf.data());
      }
      winograd_products(v.data(), u->data(), m.data(), 6, k * padded, g, isa, zero_bias.data(), kChunkChannels1d);
      for (int64_t slot = 0; slot < k; ++slot) {
        const int64_t row = (first + slot) / ranges, t0 = (first + slot) % ranges * range;
        isa.winograd_cols_output(a, row, t0, std::min(range, tiles_per_row - t0), m.data() + slot * padded,
                                 k * padded);
      }
    }
  });
}

bool conv2d_winograd_applies(const ConvGeom& g) {
  return g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 && g.groups == 1 &&
         g.c >= kMinChannels && g.o >= kMinChannels && g.c * g.o <= kMaxChannelProduct && g.wo >= kMinWidth &&
         g.ho >= kMinHeight;
}

void conv2d_forward_winograd(const float* x, const Tensor& wt, const float* bias, const float* slope, float* y,
                             const ConvGeom& g, const direct::Isa& isa, const ConvAct& act) {
  const int64_t lanes = isa.lanes, block = isa.block, blocks = (g.o + block - 1) / block;
  const std::shared_ptr<const std::vector<float>> u_cached = cached_weights(
      wt, kWinogradLayout, block, [&] { return transformed_weights(wt.data<float>(), g, block, blocks); });
  const std::vector<float>& u = *u_cached;
  const std::vector<float> zero_bias(static_cast<size_t>(blocks * block), 0.0f);
  const int64_t tile_rows = (g.ho + 1) / 2, tiles_per_row = (g.wo + 1) / 2;
  // Ranges are whole vectors of tiles (winograd_output stores whole vectors
  // except at a row's end) and at least 16 tiles, the widest vector.
  const int64_t fit = std::max<int64_t>(16, kRangeFloats / (16 * std::max(g.c, g.o)) / 16 * 16);
  const int64_t range = std::min(fit, (tiles_per_row + 15) / 16 * 16);
  const int64_t ranges = (tiles_per_row + range - 1) / range;
  parallel_for(0, g.n * tile_rows * ranges, 1, [&](int64_t i0, int64_t i1) {
    thread_local std::vector<float> v, m, row;
    const size_t padded = static_cast<size_t>((range + lanes - 1) / lanes * lanes);
    if (v.size() < static_cast<size_t>(16 * g.c) * padded) v.resize(static_cast<size_t>(16 * g.c) * padded);
    if (m.size() < static_cast<size_t>(16 * g.o) * padded) m.resize(static_cast<size_t>(16 * g.o) * padded);
    if (row.size() < static_cast<size_t>(8 * (range + lanes) + 8)) row.resize(static_cast<size_t>(8 * (range + lanes) + 8));
    for (int64_t item = i0; item < i1; ++item) {
      const int64_t n = item / (tile_rows * ranges), tile_row = item / ranges % tile_rows;
      const int64_t t0 = item % ranges * range, tiles = std::min(range, tiles_per_row - t0);
      const int64_t width = (tiles + lanes - 1) / lanes * lanes;
      const direct::WinogradTiles a = tiles_of(x, y, n, g, bias, slope, act);
      isa.winograd_input(a, tile_row, t0, tiles, v.data(), row.data());
      winograd_products(v.data(), u.data(), m.data(), 16, width, g, isa, zero_bias.data(), kChunkChannels);
      isa.winograd_output(a, tile_row, t0, tiles, m.data());
    }
  });
}

}  // namespace cudaseg::ops::cpu
