// Walking strided tensors on the host: row-major index order over a shape,
// with the element offsets of one to three operands kept incrementally (no
// division per element).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "runtime/tensor.h"
#include "runtime/thread_pool.h"

namespace cudaseg {

// Calls f(offsets) for every index of `shape` in row-major order, where
// offsets[k] is the element offset of operand k (starting at bases[k], moving
// by strides[k]). The innermost loop is a plain loop over the last dimension.
template <size_t N, typename F>
void for_each_strided(const Shape& shape, const std::array<const Shape*, N>& strides,
                      const std::array<int64_t, N>& bases, F&& f) {
  const size_t nd = shape.size();
  for (int64_t s : shape)
    if (s == 0) return;
  if (nd == 0) {
    f(bases);
    return;
  }
  std::vector<int64_t> index(nd, 0);
  std::array<int64_t, N> off = bases;
  const int64_t inner = shape[nd - 1];
  std::array<int64_t, N> inner_stride;
  for (size_t k = 0; k < N; ++k) inner_stride[k] = (*strides[k])[nd - 1];
  while (true) {
    std::array<int64_t, N> o = off;
    for (int64_t i = 0; i < inner; ++i) {
      f(o);
      for (size_t k = 0; k < N; ++k) o[k] += inner_stride[k];
    }
    // Carry into the outer dimensions.
    int64_t d = static_cast<int64_t>(nd) - 2;
    for (; d >= 0; --d) {
      for (size_t k = 0; k < N; ++k) off[k] += (*strides[k])[d];
      if (++index[d] < shape[d]) break;
      for (size_t k = 0; k < N; ++k) off[k] -= (*strides[k])[d] * shape[d];
      index[d] = 0;
    }
    if (d < 0) return;
  }
}

// A layout's dimensions merged where every operand steps through them as
// through one, size-1 dimensions dropped (at least one dimension remains).
template <size_t N>
struct MergedStrides {
  Shape sizes;
  std::array<Shape, N> strides;
  bool empty = false;  // some dimension has size 0
};

template <size_t N>
MergedStrides<N> merge_strided_dims(const Shape& shape, const std::array<const Shape*, N>& strides) {
  MergedStrides<N> m;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 0) m.empty = true;
    if (shape[d] <= 1) continue;
    bool merge = !m.sizes.empty();
    for (size_t k = 0; k < N && merge; ++k) merge = m.strides[k].back() == (*strides[k])[d] * shape[d];
    if (merge) {
      m.sizes.back() *= shape[d];
      for (size_t k = 0; k < N; ++k) m.strides[k].back() = (*strides[k])[d];
    } else {
      m.sizes.push_back(shape[d]);
      for (size_t k = 0; k < N; ++k) m.strides[k].push_back((*strides[k])[d]);
    }
  }
  if (m.sizes.empty()) {
    m.sizes.push_back(1);
    for (size_t k = 0; k < N; ++k) m.strides[k].push_back(0);
  }
  return m;
}

// The same walk in rows, split over the thread pool: the dimensions merged
// (merge_strided_dims: a contiguous tensor's all; a transposed pair's outer
// and inner runs), then f(offsets, len, inner_strides) for each row of the
// last merged dimension, rows in any order and on any thread. A kernel
// writes one loop per stride pattern it wants fast (all 1: a vectorisable or
// memcpy row; 0 for a broadcast operand) instead of a call per element.
template <size_t N, typename F>
void for_each_strided_row(const Shape& shape, const std::array<const Shape*, N>& strides,
                          const std::array<int64_t, N>& bases, F&& f) {
  const MergedStrides<N> m = merge_strided_dims<N>(shape, strides);
  if (m.empty) return;
  const Shape& sizes = m.sizes;
  const std::array<Shape, N>& st = m.strides;
  const size_t nd = sizes.size();
  const int64_t len = sizes.back();
  std::array<int64_t, N> inner;
  for (size_t k = 0; k < N; ++k) inner[k] = st[k].back();
  int64_t rows = 1;
  for (size_t d = 0; d + 1 < nd; ++d) rows *= sizes[d];
  parallel_for(0, rows, std::max<int64_t>(1, (int64_t{1} << 15) / len), [&](int64_t r0, int64_t r1) {
    std::vector<int64_t> index(nd > 1 ? nd - 1 : 0);
    std::array<int64_t, N> off = bases;
    for (int64_t d = static_cast<int64_t>(nd) - 2, rem = r0; d >= 0; --d) {
      index[d] = rem % sizes[d];
      rem /= sizes[d];
      for (size_t k = 0; k < N; ++k) off[k] += index[d] * st[k][d];
    }
    for (int64_t r = r0; r < r1; ++r) {
      f(off, len, inner);
      for (int64_t d = static_cast<int64_t>(nd) - 2; d >= 0; --d) {
        for (size_t k = 0; k < N; ++k) off[k] += st[k][d];
        if (++index[d] < sizes[d]) break;
        for (size_t k = 0; k < N; ++k) off[k] -= st[k][d] * sizes[d];
        index[d] = 0;
      }
    }
  });
}

}  // namespace cudaseg
