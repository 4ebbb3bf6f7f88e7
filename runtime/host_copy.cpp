#include "runtime/host_copy.h"

#include <algorithm>
#include <cstring>

#include "runtime/strided.h"

namespace cudaseg {
namespace {

// memmove, in pieces of at least 1 MB over the thread pool where the ranges
// do not overlap: a concatenation's copies of tens of megabytes ran on one
// core while the other waited.
void copy_bytes(void* dst, const void* src, size_t n) {
  constexpr size_t kPiece = size_t{1} << 20;
  auto* d = static_cast<char*>(dst);
  const auto* s = static_cast<const char*>(src);
  if (n < 2 * kPiece || (d < s + n && s < d + n)) {
    if (n > 0) std::memmove(d, s, n);
    return;
  }
  const int64_t pieces = static_cast<int64_t>((n + kPiece - 1) / kPiece);
  parallel_for(0, pieces, 1, [&](int64_t p0, int64_t p1) {
    const size_t b = static_cast<size_t>(p0) * kPiece, e = std::min(n, static_cast<size_t>(p1) * kPiece);
    std::memcpy(d + b, s + b, e - b);
  });
}

// A copy whose last two merged dimensions [R, C] the destination walks
// along C and the source along R (a transformer's NCHW <-> token layout
// change): in tiles of kTile x kTile, each read along the source's rows and
// written along the destination's, both from cache. A row by row walk read
// one element per source cache line. False where the layout is another.
bool copy_transposed(const Tensor& dst, const Tensor& src) {
  constexpr int64_t kTile = 16;
  const MergedStrides<2> m = merge_strided_dims<2>(dst.shape(), {&dst.strides(), &src.strides()});
  const size_t nd = m.sizes.size();
  if (m.empty || nd < 2) return false;
  const Shape &ds = m.strides[0], &ss = m.strides[1];
  const int64_t rows = m.sizes[nd - 2], cols = m.sizes[nd - 1];
  if (ds[nd - 1] != 1 || ss[nd - 2] != 1 || ss[nd - 1] < kTile || rows < kTile || cols < kTile) return false;
  int64_t outer = 1;
  for (size_t d = 0; d + 2 < nd; ++d) outer *= m.sizes[d];
  const int64_t row_tiles = (rows + kTile - 1) / kTile;
  // The inner loop runs along the side whose other stride is the longer:
  // a tile's kTile lines that far apart (a plane of a few hundred KB, a
  // multiple of 4 KB) fall into one set of the L1 cache and evict each other
  // (NHWC -> NCHW of 32 channels at 128x256: 5.0 -> 0.9 ms).
  const bool inner_cols = ds[nd - 2] > ss[nd - 1];
  dispatch_dtype(dst.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* d = static_cast<T*>(dst.storage()->data());
    const T* s = static_cast<const T*>(src.storage()->data());
    parallel_for(0, outer * row_tiles, std::max<int64_t>(1, 4096 / (kTile * cols)), [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        int64_t od = dst.offset(), os = src.offset();
        for (int64_t dim = static_cast<int64_t>(nd) - 3, rem = i / row_tiles; dim >= 0; --dim) {
          const int64_t idx = rem % m.sizes[dim];
          rem /= m.sizes[dim];
          od += idx * ds[dim];
          os += idx * ss[dim];
        }
        const int64_t r0 = i % row_tiles * kTile, r1 = std::min(rows, r0 + kTile);
        for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
          const int64_t c1 = std::min(cols, c0 + kTile);
          if (inner_cols) {
            for (int64_t r = r0; r < r1; ++r) {
              T* to = d + od + r * ds[nd - 2];
              for (int64_t c = c0; c < c1; ++c) to[c] = s[os + c * ss[nd - 1] + r];
            }
          } else {
            for (int64_t c = c0; c < c1; ++c) {
              const T* from = s + os + c * ss[nd - 1];
              for (int64_t r = r0; r < r1; ++r) d[od + r * ds[nd - 2] + c] = from[r];
            }
          }
        }
      }
    });
  });
  return true;
}

}  // namespace

void host_copy(const Tensor& dst, const Tensor& src) {
  if (dst.is_contiguous() && src.is_contiguous() && dst.dtype() == src.dtype()) {
    copy_bytes(dst.raw_data(), src.raw_data(), dst.nbytes());
    return;
  }
  if (dst.dtype() == src.dtype() && copy_transposed(dst, src)) return;
  // In rows (a channel shuffle's or a concatenation's are whole planes),
  // split over the thread pool.
  dispatch_dtype(dst.dtype(), [&](auto dtag) {
    using D = decltype(dtag);
    dispatch_dtype(src.dtype(), [&](auto stag) {
      using S = decltype(stag);
      D* d = static_cast<D*>(dst.storage()->data());
      const S* s = static_cast<const S*>(src.storage()->data());
      for_each_strided_row<2>(dst.shape(), {&dst.strides(), &src.strides()}, {dst.offset(), src.offset()},
                              [&](const std::array<int64_t, 2>& o, int64_t len, const std::array<int64_t, 2>& st) {
                                D* dr = d + o[0];
                                const S* sr = s + o[1];
                                if constexpr (std::is_same_v<D, S>) {
                                  if (st[0] == 1 && st[1] == 1) {
                                    std::memmove(dr, sr, sizeof(D) * static_cast<size_t>(len));
                                    return;
                                  }
                                }
                                for (int64_t i = 0; i < len; ++i) dr[i * st[0]] = convert<D>(sr[i * st[1]]);
                              });
    });
  });
}

}  // namespace cudaseg
