// Strided addressing for elementwise kernels: the element offsets of N
// operands for a linear index over a common (broadcast) shape. Operands are
// views already expanded to that shape (stride 0 on broadcast dims), so one
// kernel serves contiguous, permuted, sliced and broadcast inputs.
#pragma once

#include <array>

#include "cuda/common.cuh"

namespace cudaseg::cuda {

constexpr int kMaxDims = 12;

template <int N>
struct StridedOffsets {
  int ndim = 0;
  int64_t sizes[kMaxDims];
  int64_t strides[N][kMaxDims];

  __device__ __forceinline__ void get(int64_t linear, int64_t (&off)[N]) const {
    for (int k = 0; k < N; ++k) off[k] = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      const int64_t idx = linear % sizes[d];
      linear /= sizes[d];
      for (int k = 0; k < N; ++k) off[k] += idx * strides[k][d];
    }
  }
};

// Offsets for `operands`, each already of shape `shape` (expanded views).
template <int N>
StridedOffsets<N> make_offsets(const Shape& shape, const std::array<const Tensor*, N>& operands, const char* op) {
  CUDASEG_CHECK(static_cast<int>(shape.size()) <= kMaxDims, op, ": CUDA kernels take at most ", kMaxDims,
                " dims, got ", shape_str(shape));
  StridedOffsets<N> o;
  o.ndim = static_cast<int>(shape.size());
  for (int d = 0; d < o.ndim; ++d) {
    o.sizes[d] = shape[d];
    for (int k = 0; k < N; ++k) o.strides[k][d] = operands[k]->strides()[d];
  }
  return o;
}

}  // namespace cudaseg::cuda
