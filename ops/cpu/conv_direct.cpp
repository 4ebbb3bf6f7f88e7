#include "ops/cpu/conv_direct.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include "ops/cpu/conv.h"
#include "runtime/error.h"
#include "runtime/storage.h"
#include "runtime/thread_pool.h"

namespace cudaseg::ops::cpu {
namespace direct {

const std::vector<const Isa*>& cpu_isas() {
  static const std::vector<const Isa*> isas = [] {
    std::vector<const Isa*> out;
#if defined(__x86_64__)
    static const Isa avx512{"avx512",
                            kAvx512Block,
                            kAvx512Lanes,
                            run_avx512,
                            run_depthwise_avx512,
                            gelu_avx512,
                            elu_avx512,
                            winograd_input_avx512,
                            winograd_output_avx512,
                            winograd_rows_input_avx512,
                            winograd_rows_output_avx512,
                            winograd_cols_input_avx512,
                            winograd_cols_output_avx512,
                            gemm_nt_avx512,
                            even_avx512,
                            softmax_row_avx512,
                            norm_row_avx512,
                            moment_sum_avx512,
                            affine_avx512,
                            gemm_nn_avx512,
                            gemm_tn_avx512,
                            softmax_block_avx512,
                            transpose_avx512,
                            depthwise_tokens_row_avx512,
                            sigmoid_avx512,
                            depthwise_planes_avx512};
    static const Isa avx2{"avx2",
                          kAvx2Block,
                          kAvx2Lanes,
                          run_avx2,
                          run_depthwise_avx2,
                          gelu_avx2,
                          elu_avx2,
                          winograd_input_avx2,
                          winograd_output_avx2,
                          winograd_rows_input_avx2,
                          winograd_rows_output_avx2,
                          winograd_cols_input_avx2,
                          winograd_cols_output_avx2,
                          gemm_nt_avx2,
                          even_avx2,
                          softmax_row_avx2,
                          norm_row_avx2,
                          moment_sum_avx2,
                          affine_avx2,
                          gemm_nn_avx2,
                          gemm_tn_avx2,
                          softmax_block_avx2,
                          transpose_avx2,
                          depthwise_tokens_row_avx2,
                          sigmoid_avx2,
                          depthwise_planes_avx2};
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma")) out.push_back(&avx512);
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) out.push_back(&avx2);
#endif
    return out;
  }();
  return isas;
}

const Isa* best_isa() { return cpu_isas().empty() ? nullptr : cpu_isas().front(); }

}  // namespace direct

namespace {

// Products per partial sum. Measured on a 512-channel 3x3 convolution of
// non-negative inputs (relative L2 to float64; PyTorch/oneDNN: 2.4e-7): one
// running sum 1.2e-6; chunks of 256 products 2.9e-7, of 128 2.3e-7, of 64
// 2.1e-7. The kernel adds a chunk's sum to the buffer in about 3% of the
// chunk's time at 128.
constexpr int64_t kChunkTerms = 128;

// Output rows per band: enough bands for every thread to get several (the
// last ones finish unevenly), but a band several times taller than the rows
// its kernel overlaps with the next band's, so the padded copy reads each
// input row about once.
int64_t band_rows(const ConvGeom& g, int64_t row_floats) {
  const int64_t images = g.n * g.groups;
  const int64_t wanted_bands = std::max<int64_t>(1, (4 * num_threads() + images - 1) / images);
  const int64_t halo = (g.kh - 1) * g.dh;
  int64_t rows = std::max<int64_t>((g.ho + wanted_bands - 1) / wanted_bands, 2 * halo / g.sh + 1);
  // Bounds the per-thread copy at 16 MB (a 3x3 conv of 128 channels at 256x512 needs 2 MB a row).
  constexpr int64_t kMaxBandFloats = int64_t{4} << 20;
  while (rows > 1 && ((rows - 1) * g.sh + halo + 1) * row_floats > kMaxBandFloats) rows = (rows + 1) / 2;
  return std::min(rows, std::max<int64_t>(g.ho, 1));
}

// The largest unfolded input of a convolution with narrow output rows
// (conv2d_forward_direct): 64 MB.
constexpr int64_t kMaxUnfoldedFloats = int64_t{16} << 20;

// Whether the kernel stores the output past the caches (non-temporal
// stores). An output of more than 4 MB leaves the core's L2 before the next
// layer reads it; written through the caches, every line is first read from
// memory (the store's read for ownership), a third of a pointwise
// convolution's traffic. Measured at 1 thread: ContextNet 220 -> 203 ms,
// MiniNetV2 122 -> 111 ms; from 1 MB on, FastSCNN's smaller layers lost.
bool streams_output(const ConvGeom& g) {
  constexpr int64_t kStreamBytes = int64_t{4} << 20;
  return g.n * g.o * g.ho * g.wo * int64_t{sizeof(float)} > kStreamBytes;
}

// Input channels per partial sum of the kernel: about kChunkTerms products.
int64_t chunk_channels(int64_t taps) { return std::max<int64_t>(1, kChunkTerms / taps); }

struct PackKey {
  const Storage* storage;
  int64_t offset, numel, layout, block;
  bool operator<(const PackKey& o) const {
    return std::tie(storage, offset, numel, layout, block) < std::tie(o.storage, o.offset, o.numel, o.layout, o.block);
  }
};
struct Packed {
  std::weak_ptr<Storage> storage;
  uint64_t version;
  std::shared_ptr<const std::vector<float>> data;
};

}  // namespace

// Keyed by the weight tensor's storage (held weakly, so that a freed storage
// whose address is reused never matches), offset and version (bumped by every
// in-place write), and the layout. An inference session's weights are
// rearranged at the first forward only; a training step's updated weights
// again.
std::shared_ptr<const std::vector<float>> cached_weights(const Tensor& wt, int64_t layout, int64_t block,
                                                         const std::function<std::vector<float>()>& make) {
  static std::mutex mutex;
  static std::map<PackKey, Packed> cache;
  static size_t cached_floats = 0;
  // Entries of freed weights go at every insertion; past this bound, all.
  constexpr size_t kMaxCachedFloats = size_t{32} << 20;
  const PackKey key{wt.storage().get(), wt.offset(), wt.numel(), layout, block};
  const uint64_t version = wt.storage()->version();
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = cache.find(key);
    if (it != cache.end() && it->second.storage.lock() == wt.storage() && it->second.version == version)
      return it->second.data;
  }
  auto wp = std::make_shared<const std::vector<float>>(make());
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find(key);
  if (it != cache.end()) {
    cached_floats -= it->second.data->size();
    cache.erase(it);
  }
  for (auto e = cache.begin(); e != cache.end();)
    if (e->second.storage.expired()) {
      cached_floats -= e->second.data->size();
      e = cache.erase(e);
    } else {
      ++e;
    }
  if (cached_floats + wp->size() > kMaxCachedFloats) {
    cache.clear();
    cached_floats = 0;
  }
  cache.emplace(key, Packed{wt.storage(), version, wp});
  cached_floats += wp->size();
  return wp;
}

namespace {

// [groups][blocks][cg][taps][block], zero past og.
std::shared_ptr<const std::vector<float>> packed_weights(const Tensor& wt, const ConvGeom& g, int64_t block,
                                                         int64_t blocks) {
  return cached_weights(wt, g.groups, block, [&] {
    const int64_t cg = g.cg(), og = g.og(), taps = g.kh * g.kw;
    std::vector<float> wp(static_cast<size_t>(g.groups * blocks * cg * taps * block), 0.0f);
    const float* w = wt.data<float>();
    for (int64_t gr = 0; gr < g.groups; ++gr)
      for (int64_t o = 0; o < og; ++o) {
        const float* src = w + (gr * og + o) * cg * taps;
        float* dst = wp.data() + ((gr * blocks + o / block) * cg * taps) * block + o % block;
        for (int64_t k = 0; k < cg * taps; ++k) dst[k * block] = src[k];
      }
    return wp;
  });
}

// A dense 1x1, stride-1, unpadded convolution sees each image as one row of
// h * w pixels: rows of a small map (7 or 14 pixels at 224x224 input) would
// fill a fraction of a strip's vectors. The work is split into column ranges
// of that row and ranges of output-channel blocks, about four items per
// thread.
void pointwise(const float* x, const float* wp, const float* bp, const float* sp, float* y, const ConvGeom& g,
               const direct::Isa& isa, const ConvAct& act, int64_t blocks) {
  const int64_t cg = g.cg(), og = g.og(), lanes = isa.lanes, block = isa.block;
  const int64_t hw = g.h * g.w, images = g.n * g.groups, vecs = (hw + lanes - 1) / lanes;
  const int64_t parts = std::max<int64_t>(1, (4 * num_threads() + images - 1) / images);
  // Columns in ranges of whole vectors, at least 6 each and as even as they
  // go (ranges of 12 vectors and a last of 1 ran that one as a 1-vector
  // strip), then output channels.
  const int64_t col_ranges = std::min(parts, std::max<int64_t>(1, vecs / 6));
  const int64_t cols = (vecs + col_ranges - 1) / col_ranges * lanes;  // the widest range
  const int64_t oc_parts = std::min(blocks, (parts + col_ranges - 1) / col_ranges);
  const int64_t part_blocks = (blocks + oc_parts - 1) / oc_parts, oc_ranges = (blocks + part_blocks - 1) / part_blocks;
  const int64_t items = images * col_ranges * oc_ranges;
  const int64_t zero_offset = 0;
  const bool stream = streams_output(g);
  parallel_for(0, items, 1, [&](int64_t i0, int64_t i1) {
    thread_local std::vector<float> scratch;
    for (int64_t item = i0; item < i1; ++item) {
      const int64_t image = item / (col_ranges * oc_ranges), rest = item % (col_ranges * oc_ranges);
      const int64_t n = image / g.groups, gr = image % g.groups;
      const int64_t range = rest / oc_ranges;
      const int64_t c0 = range * vecs / col_ranges * lanes;
      const int64_t c1 = std::min(hw, (range + 1) * vecs / col_ranges * lanes), len = c1 - c0;
      const int64_t k0 = rest % oc_ranges * part_blocks, k1 = std::min(blocks, k0 + part_blocks);
      const int64_t row_len = (len + lanes - 1) / lanes * lanes;
      const float* xg = x + (n * g.c + gr * cg) * hw + c0;
      // The kernel loads whole vectors: where they stay inside every channel's
      // plane it reads the input in place (the lanes past the range are never
      // stored); the plane's last columns, off the vector, go through a copy.
      const bool in_place = c0 + row_len <= hw;
      // Sized at the first copy only: a map whose planes are whole vectors
      // never copies, and a buffer for the widest range of every channel
      // (cg * cols floats, 8 MB a thread for 32 channels at 512x1024) would
      // be resident for nothing.
      if (!in_place && scratch.size() < static_cast<size_t>(cg * cols)) scratch.resize(static_cast<size_t>(cg * cols));
      float* buf = scratch.data();
      if (!in_place)
        for (int64_t c = 0; c < cg; ++c) {
          std::memcpy(buf + c * row_len, xg + c * hw, sizeof(float) * len);
          std::fill(buf + c * row_len + len, buf + (c + 1) * row_len, 0.0f);
        }
      direct::Band b;
      b.x = in_place ? xg : buf;
      b.c_stride = in_place ? hw : row_len;
      b.row_stride = b.c_stride;
      b.tap_offset = &zero_offset;
      b.taps = 1;
      b.cg = cg;
      b.chunk = chunk_channels(1);
      b.sh = 1;
      b.w = wp + (gr * blocks + k0) * cg * block;
      b.bias = bp + (gr * blocks + k0) * block;
      b.slope = sp ? sp + (gr * blocks + k0) * block : nullptr;
      b.lo = static_cast<float>(act.lo);
      b.hi = static_cast<float>(act.hi);
      b.gelu = act.gelu;
      b.stream = stream;
      b.prefetch = in_place;
      if (cg >= 2 * b.chunk && k1 - k0 > 1) {
        // Panels of one chunk of input channels (see Band::panel).
        thread_local std::vector<float> totals;
        const size_t need = static_cast<size_t>((k1 - k0) * block * 3 * lanes);
        if (totals.size() < need) totals.resize(need);
        b.panel = b.chunk;
        b.totals = totals.data();
      }
      b.y = y + (n * g.o + gr * og + k0 * block) * hw + c0;
      b.y_channel_stride = hw;
      b.rows = 1;
      b.wo = len;
      b.og = std::min(og - k0 * block, (k1 - k0) * block);
      isa.run(b);
    }
  });
}

}  // namespace

bool conv2d_direct_applies(const ConvGeom& g, DType dtype) {
  // A strided depthwise convolution does too little work per input element
  // to pay for a scalar stride-phased copy (0.8x the loops of
  // conv_depthwise.cpp); at stride 2 in width the copy is vectorised
  // (Isa::even) and the kernel 1.6x (3x3) to 3x (5x5) those loops.
  const bool strided_depthwise = g.depthwise() && (g.sh > 1 || g.sw > 1) && g.sw != 2;
  return dtype == DType::f32 && !strided_depthwise && direct::best_isa() != nullptr;
}

void conv2d_forward_direct(const Tensor& xt, const Tensor& wt, const Tensor& bt, const Tensor& yt, const ConvGeom& g,
                           const direct::Isa& isa, const ConvAct& act) {
  CUDASEG_CHECK(yt.dtype() == DType::f32, "conv2d (direct): float32 only, got ", dtype_name(yt.dtype()));
  if (yt.numel() == 0) return;  // an empty batch: no bands (band_rows divides by the images)
  const float* x = xt.data<float>();
  const float* w = wt.data<float>();
  float* y = yt.data<float>();
  const bool depthwise = g.depthwise();
  const int64_t cg = g.cg(), og = g.og(), taps = g.kh * g.kw, lanes = isa.lanes;
  // Depthwise kernels take the weights as they are, [groups][og][taps]: a
  // group's block is its og output channels.
  const int64_t block = depthwise ? og : isa.block, blocks = (og + block - 1) / block;

  // The path, before any packing: the small-map paths keep their own
  // packing (linear_isa's) and would leave this one cached unused.
  const bool winograd = !depthwise && conv2d_winograd_applies(g);
  const bool winograd_1d = !depthwise && !winograd && conv2d_winograd_1d_applies(g);
  if (depthwise && conv2d_small_map_depthwise_applies(g, isa)) {
    conv2d_small_map_depthwise(x, wt, bt, y, g, isa, act);
    return;
  }
  // Output rows narrower than a strip of the widest kernel (3 vectors: the
  // 28-, 14- and 7-pixel rows of a 224x224 input's strided downsamplings)
  // and not a whole number of vectors would leave most of its lanes idle:
  // the input is unfolded into [cg * taps][ho * wo] per image and group,
  // whose rows are what the packed weights' [cg][taps] order expects, and
  // run as a pointwise convolution over the flattened output. Rows of whole
  // vectors (the 16- and 32-pixel rows of a 512x512 input's deep layers) fill
  // a narrower strip and stay banded: 1.2x to 1.8x faster than unfolded,
  // whose copy is nine times the input for a 3x3.
  const int64_t unfolded = g.n * g.c * taps * g.ho * g.wo;
  const bool unfold = !depthwise && !winograd && !winograd_1d && !g.pointwise() && g.wo < 3 * lanes &&
                      g.wo % lanes != 0 && unfolded <= kMaxUnfoldedFloats;
  ConvGeom flat;  // the unfolded product's geometry
  flat.n = g.n;
  flat.c = g.c * taps;
  flat.h = flat.ho = 1;
  flat.w = flat.wo = g.ho * g.wo;
  flat.o = g.o;
  flat.groups = g.groups;
  const bool small_map = (!depthwise && g.pointwise() && conv2d_small_map_applies(g, isa)) ||
                         (unfold && conv2d_small_map_applies(flat, isa));
  // Weights [groups][blocks][cg][taps][block], zero-padded past og, packed
  // once per weight version (packed_weights); bias and slopes per call.
  const std::shared_ptr<const std::vector<float>> packed =
      depthwise || winograd || winograd_1d || small_map ? nullptr : packed_weights(wt, g, block, blocks);
  std::vector<float> bp(static_cast<size_t>(g.groups * blocks * block), 0.0f);
  std::vector<float> sp(act.slope.defined() ? bp.size() : 0, 0.0f);
  for (int64_t gr = 0; gr < g.groups; ++gr)
    for (int64_t o = 0; o < og; ++o) {
      if (bt.defined()) bp[gr * blocks * block + o] = bt.data<float>()[gr * og + o];
      if (act.slope.defined())
        sp[gr * blocks * block + o] = act.slope.data<float>()[act.slope.numel() == 1 ? 0 : gr * og + o];
    }
  if (winograd) {
    conv2d_forward_winograd(x, wt, bp.data(), sp.empty() ? nullptr : sp.data(), y, g, isa, act);
    return;
  }
  if (winograd_1d) {
    conv2d_forward_winograd_1d(x, wt, bp.data(), sp.empty() ? nullptr : sp.data(), y, g, isa, act);
    return;
  }
  if (!depthwise && g.pointwise() && small_map) {
    conv2d_small_map(x, wt, bt, y, g, isa, act);
    return;
  }
  if (depthwise && g.sh == 1 && g.sw == 1 && g.kw <= direct::kMaxDepthwiseKw) {
    conv2d_forward_depthwise_planes(x, w, bp.data(), sp.empty() ? nullptr : sp.data(), y, g, isa, act);
    return;
  }
  const float* wp = packed ? packed->data() : nullptr;
  if (!depthwise && g.pointwise()) {
    pointwise(x, wp, bp.data(), sp.empty() ? nullptr : sp.data(), y, g, isa, act, blocks);
    return;
  }
  if (unfold && small_map) {
    conv2d_small_map_unfolded(x, wt, bt, y, g, isa, act);
    return;
  }
  if (unfold) {
    std::vector<float> cols(static_cast<size_t>(unfolded));
    const int64_t howo = g.ho * g.wo;
    parallel_for(0, g.n * g.c, 1, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p)
        for (int64_t i = 0; i < g.kh; ++i)
          for (int64_t j = 0; j < g.kw; ++j) {
            const float* src = x + p * g.h * g.w;
            float* dst = cols.data() + (p * taps + i * g.kw + j) * howo;
            int64_t lo = 0, hi = 0;
            valid_range(g.w, g.wo, g.sw, j * g.dw - g.pw, &lo, &hi);
            for (int64_t oh = 0; oh < g.ho; ++oh) {
              const int64_t ih = oh * g.sh - g.ph + i * g.dh;
              float* row = dst + oh * g.wo;
              if (ih < 0 || ih >= g.h) {
                std::fill(row, row + g.wo, 0.0f);
                continue;
              }
              const float* in = src + ih * g.w + j * g.dw - g.pw;
              std::fill(row, row + lo, 0.0f);
              for (int64_t ow = lo; ow < hi; ++ow) row[ow] = in[ow * g.sw];
              std::fill(row + hi, row + g.wo, 0.0f);
            }
          }
    });
    pointwise(cols.data(), wp, bp.data(), sp.empty() ? nullptr : sp.data(), y, flat, isa, act, blocks);
    return;
  }

  // The padded band's geometry: phases of a row, the columns of a phase.
  const int64_t phases = g.sw;
  const int64_t max_shift = (g.kw - 1) * g.dw / g.sw;
  const int64_t row_len = (g.wo + lanes - 1) / lanes * lanes + max_shift;
  const int64_t row_stride = phases * row_len;
  std::vector<int64_t> tap_offset(static_cast<size_t>(taps));
  for (int64_t i = 0; i < g.kh; ++i)
    for (int64_t j = 0; j < g.kw; ++j)
      tap_offset[i * g.kw + j] = i * g.dh * row_stride + (j * g.dw % g.sw) * row_len + j * g.dw / g.sw;

  const int64_t rows = band_rows(g, cg * row_stride);
  const int64_t bands = (g.ho + rows - 1) / rows;
  const int64_t max_rows_in = (rows - 1) * g.sh + (g.kh - 1) * g.dh + 1;
  const int64_t c_stride = max_rows_in * row_stride;
  const int64_t hw = g.h * g.w, howo = g.ho * g.wo;
  const bool stream = streams_output(g);
  // Unpadded in width at stride 1 in width (the 3x1 convolutions of the
  // factorised nets), a band whose input rows all lie inside the image reads
  // them in place: the copy added nothing but the rows' move (the copies
  // were 5% of LEDNet's time). The kernel's last vector of a row reads up to
  // lanes - 1 floats past it, into the next row (lanes never stored), but
  // never past the input's end: such a band copies. (The input gradient's
  // phase convolutions may have more output columns than their input
  // reaches, zeros in the copy.)
  const bool rows_in_place = g.sw == 1 && g.pw == 0 && g.wo + (g.kw - 1) * g.dw <= g.w;
  std::vector<int64_t> tap_in_place(static_cast<size_t>(taps));
  for (int64_t i = 0; i < g.kh; ++i)
    for (int64_t j = 0; j < g.kw; ++j) tap_in_place[i * g.kw + j] = i * g.dh * g.w + j * g.dw;
  const int64_t row_reach = (g.kw - 1) * g.dw + (g.wo + lanes - 1) / lanes * lanes;
  const int64_t input_floats = g.n * g.c * hw;

  parallel_for(0, g.n * g.groups * bands, 1, [&](int64_t i0, int64_t i1) {
    // Reused across calls: a fresh buffer per call would be page-faulted in each time.
    thread_local std::vector<float> scratch;
    for (int64_t item = i0; item < i1; ++item) {
      const int64_t n = item / (g.groups * bands), gr = item / bands % g.groups, band = item % bands;
      const int64_t oh0 = band * rows, oh1 = std::min(g.ho, oh0 + rows);
      const int64_t rows_in = (oh1 - oh0 - 1) * g.sh + (g.kh - 1) * g.dh + 1;
      const int64_t ih0 = oh0 * g.sh - g.ph, ih_last = ih0 + rows_in - 1;
      const float* xg = x + (n * g.c + gr * cg) * hw;
      const bool in_place = rows_in_place && ih0 >= 0 && ih_last < g.h &&
                            (n * g.c + gr * cg + cg - 1) * hw + ih_last * g.w + row_reach <= input_floats;
      if (!in_place && scratch.size() < static_cast<size_t>(cg * c_stride))
        scratch.resize(static_cast<size_t>(cg * c_stride));
      float* buf = scratch.data();
      for (int64_t c = 0; c < (in_place ? 0 : cg); ++c)
        for (int64_t r = 0; r < rows_in; ++r) {
          const int64_t ih = oh0 * g.sh - g.ph + r;
          for (int64_t p = 0; p < phases; ++p) {
            float* dst = buf + c * c_stride + r * row_stride + p * row_len;
            int64_t lo = 0, hi = 0;
            if (ih >= 0 && ih < g.h) valid_range(g.w, row_len, g.sw, p - g.pw, &lo, &hi);
            std::fill(dst, dst + lo, 0.0f);
            if (hi > lo && g.sw == 1)
              std::memcpy(dst + lo, xg + c * hw + ih * g.w + lo + p - g.pw, sizeof(float) * (hi - lo));
            else if (hi > lo && g.sw == 2)
              isa.even(xg + c * hw + ih * g.w + lo * 2 + p - g.pw, hi - lo, dst + lo);
            else if (hi > lo)
              for (int64_t k = lo; k < hi; ++k) dst[k] = xg[c * hw + ih * g.w + k * g.sw + p - g.pw];
            std::fill(dst + hi, dst + row_len, 0.0f);
          }
        }
      direct::Band b;
      b.x = in_place ? xg + ih0 * g.w : buf;
      b.c_stride = in_place ? hw : c_stride;
      b.row_stride = in_place ? g.w : row_stride;
      b.tap_offset = in_place ? tap_in_place.data() : tap_offset.data();
      b.taps = taps;
      b.cg = cg;
      b.chunk = chunk_channels(taps);
      b.sh = g.sh;
      b.w = depthwise ? w + gr * og * taps : wp + gr * blocks * cg * taps * block;
      b.bias = bp.data() + gr * blocks * block;
      b.slope = sp.empty() ? nullptr : sp.data() + gr * blocks * block;
      b.lo = static_cast<float>(act.lo);
      b.hi = static_cast<float>(act.hi);
      b.gelu = act.gelu;
      b.stream = !depthwise && stream;
      b.unfused = depthwise && (g.sh > 1 || g.sw > 1);
      b.y = y + (n * g.o + gr * og) * howo + oh0 * g.wo;
      b.y_channel_stride = howo;
      b.rows = oh1 - oh0;
      b.wo = g.wo;
      b.og = og;
      (depthwise ? isa.run_depthwise : isa.run)(b);
    }
  });
}

}  // namespace cudaseg::ops::cpu
