// Walking strided tensors on the host: row-major index order over a shape,
// with the element offsets of one to three operands kept incrementally (no
// division per element).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "runtime/tensor.h"

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

}  // namespace cudaseg
