#include <algorithm>

#include "ops/kernels/shape.h"
#include "runtime/thread_pool.h"

namespace cudaseg::ops::cpu {
namespace {

using kernels::PadKind;

// For each dim, the input index each output index reads, or -1 for constant
// padding.
std::vector<std::vector<int64_t>> pad_maps(const Shape& in, const Shape& out,
                                           const std::vector<int64_t>& before, PadKind kind) {
  std::vector<std::vector<int64_t>> maps(in.size());
  for (size_t d = 0; d < in.size(); ++d) {
    const int64_t n = in[d];
    maps[d].resize(static_cast<size_t>(out[d]));
    for (int64_t o = 0; o < out[d]; ++o) {
      int64_t i = o - before[d];
      if (kind == PadKind::reflect) {
        if (i < 0) i = -i;
        if (i >= n) i = 2 * (n - 1) - i;
      } else if (kind == PadKind::replicate) {
        i = std::clamp<int64_t>(i, 0, n - 1);
      } else if (i < 0 || i >= n) {
        i = -1;
      }
      maps[d][o] = i;
    }
  }
  return maps;
}

// Calls f(out_row, in_row_offset) for each output row (all dims but the last);
// in_row_offset is -1 when the row lies in constant padding.
template <typename F>
void for_pad_rows(const Shape& in, const Shape& out, const std::vector<std::vector<int64_t>>& maps, F f) {
  const int64_t nd = static_cast<int64_t>(out.size());
  const Shape in_strides = contiguous_strides(in);
  int64_t rows = 1;
  for (int64_t d = 0; d + 1 < nd; ++d) rows *= out[d];
  for (int64_t r = 0; r < rows; ++r) {
    int64_t rem = r, off = 0;
    for (int64_t d = nd - 2; d >= 0; --d) {
      const int64_t i = maps[d][rem % out[d]];
      rem /= out[d];
      if (i < 0) {
        off = -1;
        break;
      }
      off += i * in_strides[d];
    }
    f(r, off);
  }
}

}  // namespace

void pad(const Tensor& x, const std::vector<int64_t>& before, PadKind kind, double value, const Tensor& out) {
  const auto maps = pad_maps(x.shape(), out.shape(), before, kind);
  const int64_t width = out.shape().back();
  const auto& last = maps.back();
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* po = out.data<T>();
    const T fill = convert<T>(value);
    for_pad_rows(x.shape(), out.shape(), maps, [&](int64_t r, int64_t off) {
      T* row = po + r * width;
      for (int64_t o = 0; o < width; ++o) row[o] = off < 0 || last[o] < 0 ? fill : px[off + last[o]];
    });
  });
}

void pad_backward(const Tensor& grad, const std::vector<int64_t>& before, PadKind kind,
                  const Tensor& grad_input) {
  const auto maps = pad_maps(grad_input.shape(), grad.shape(), before, kind);
  const int64_t width = grad.shape().back();
  const auto& last = maps.back();
  dispatch_dtype(grad.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      CUDASEG_FAIL("pad_backward: bool gradients are not supported");
    } else {
      const T* pg = grad.data<T>();
      T* pi = grad_input.data<T>();
      // Serial: reflect and replicate send several outputs to one input.
      for_pad_rows(grad_input.shape(), grad.shape(), maps, [&](int64_t r, int64_t off) {
        if (off < 0) return;
        const T* row = pg + r * width;
        for (int64_t o = 0; o < width; ++o)
          if (last[o] >= 0)
            pi[off + last[o]] = convert<T>(convert<double>(pi[off + last[o]]) + convert<double>(row[o]));
      });
    }
  });
}

void index_select(const Tensor& x, int64_t outer, int64_t inner, const Tensor& index, const Tensor& out) {
  const int64_t k = index.numel(), n = outer == 0 || inner == 0 ? 0 : x.numel() / (outer * inner);
  const int64_t* idx = index.data<int64_t>();
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* po = out.data<T>();
    parallel_for(0, outer, 1, [&](int64_t s, int64_t e) {
      for (int64_t o = s; o < e; ++o)
        for (int64_t j = 0; j < k; ++j)
          std::copy_n(px + (o * n + idx[j]) * inner, inner, po + (o * k + j) * inner);
    });
  });
}

void index_add(const Tensor& src, int64_t outer, int64_t inner, const Tensor& index, const Tensor& out) {
  const int64_t k = index.numel(), n = outer == 0 || inner == 0 ? 0 : out.numel() / (outer * inner);
  const int64_t* idx = index.data<int64_t>();
  dispatch_dtype(src.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      CUDASEG_FAIL("index_add: bool tensors are not supported");
    } else {
      const T* ps = src.data<T>();
      T* po = out.data<T>();
      // Rows of different `o` never overlap, so they split across threads.
      parallel_for(0, outer, 1, [&](int64_t s, int64_t e) {
        for (int64_t o = s; o < e; ++o)
          for (int64_t j = 0; j < k; ++j) {
            T* dst = po + (o * n + idx[j]) * inner;
            const T* from = ps + (o * k + j) * inner;
            for (int64_t i = 0; i < inner; ++i)
              dst[i] = convert<T>(convert<double>(dst[i]) + convert<double>(from[i]));
          }
      });
    }
  });
}

CUDASEG_REGISTER_KERNEL(kernels::pad, cpu, pad)
CUDASEG_REGISTER_KERNEL(kernels::pad_backward, cpu, pad_backward)
CUDASEG_REGISTER_KERNEL(kernels::index_select, cpu, index_select)
CUDASEG_REGISTER_KERNEL(kernels::index_add, cpu, index_add)

}  // namespace cudaseg::ops::cpu
