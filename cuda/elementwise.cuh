// Shared by the elementwise, comparison, reduction and shape kernels: the
// compute type of every element type (integers in themselves, where
// common.cuh's acc_t covers the floating ones), dispatch over the dtypes these
// families accept, and the flat / strided map launchers (one thread per output
// element in a grid-stride loop).
#pragma once

#include <cstdint>
#include <type_traits>

#include "cuda/indexing.cuh"

namespace cudaseg::cuda {

// Integers (and bool) compute in themselves, so int64 sums and compares stay exact.
template <typename T>
using compute_t = std::conditional_t<std::is_integral_v<T>, T, acc_t<T>>;

template <typename T>
__device__ __forceinline__ compute_t<T> to_compute(T v) {
  if constexpr (std::is_same_v<T, __half>) {
    return __half2float(v);
  } else if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    return __bfloat162float(v);
  } else {
    return v;
  }
}

template <typename T>
__device__ __forceinline__ T from_compute(compute_t<T> v) {
  if constexpr (std::is_same_v<T, __half>) {
    return __float2half_rn(v);
  } else if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    return __float2bfloat16_rn(v);
  } else {
    return v;
  }
}

template <typename C>
__device__ __forceinline__ bool is_nan(C v) {
  if constexpr (std::is_floating_point_v<C>) {
    return v != v;
  } else {
    return false;
  }
}

// Floating dtypes plus int32 and int64: the arithmetic the op set defines on integers.
template <typename F>
void dispatch_numeric(const char* op, DType dtype, F&& f) {
  switch (dtype) {
    case DType::i32: f(int32_t{}); return;
    case DType::i64: f(int64_t{}); return;
    default: dispatch_floating(op, dtype, f);
  }
}

// Every dtype (comparisons, selections).
template <typename F>
void dispatch_any(const char* op, DType dtype, F&& f) {
  switch (dtype) {
    case DType::u8: f(uint8_t{}); return;
    case DType::boolean: f(bool{}); return;
    default: dispatch_numeric(op, dtype, f);
  }
}

// An unsigned type of the dtype's size: kernels that only move elements
// dispatch on it, one instantiation serving every dtype of that width.
template <typename F>
void dispatch_by_size(DType dtype, F&& f) {
  switch (dtype_size(dtype)) {
    case 1: f(uint8_t{}); return;
    case 2: f(uint16_t{}); return;
    case 4: f(uint32_t{}); return;
    default: f(uint64_t{}); return;
  }
}

// ---- out[i] = f(a[i]) and out[i] = f(a[i], b[i]); f gets and returns raw elements ----

#define CUDASEG_GRID_STRIDE(i, n)                                                         \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

template <typename O, typename A, typename F>
__global__ void map1_flat(O* out, const A* a, int64_t n, F f) {
  CUDASEG_GRID_STRIDE(i, n) out[i] = f(a[i]);
}

template <typename O, typename A, typename F>
__global__ void map1_strided(O* out, const A* a, int64_t n, StridedOffsets<2> idx, F f) {
  CUDASEG_GRID_STRIDE(i, n) {
    int64_t off[2];
    idx.get(i, off);
    out[off[0]] = f(a[off[1]]);
  }
}

template <typename O, typename A, typename B, typename F>
__global__ void map2_flat(O* out, const A* a, const B* b, int64_t n, F f) {
  CUDASEG_GRID_STRIDE(i, n) out[i] = f(a[i], b[i]);
}

template <typename O, typename A, typename B, typename F>
__global__ void map2_strided(O* out, const A* a, const B* b, int64_t n, StridedOffsets<3> idx, F f) {
  CUDASEG_GRID_STRIDE(i, n) {
    int64_t off[3];
    idx.get(i, off);
    out[off[0]] = f(a[off[1]], b[off[2]]);
  }
}

// a has out's shape (any strides).
template <typename O, typename A, typename F>
void launch_map1(const char* op, const Tensor& out, const Tensor& a, F f) {
  const int64_t n = out.numel();
  if (n == 0) return;
  gpu::DeviceGuard guard(out.device().index);
  cudaStream_t stream = stream_for(out);
  if (a.is_contiguous() && out.is_contiguous()) {
    map1_flat<O, A><<<blocks_for(n), kThreads, 0, stream>>>(ptr<O>(out), ptr<const A>(a), n, f);
  } else {
    const auto idx = make_offsets<2>(out.shape(), {&out, &a}, op);
    map1_strided<O, A><<<blocks_for(n), kThreads, 0, stream>>>(ptr<O>(out), ptr<const A>(a), n, idx, f);
  }
  CUDASEG_CUDA_LAUNCH_CHECK(op, " ", a.str(), " -> ", out.str());
}

// a and b already expanded to out's shape.
template <typename O, typename A, typename B, typename F>
void launch_map2(const char* op, const Tensor& out, const Tensor& a, const Tensor& b, F f) {
  const int64_t n = out.numel();
  if (n == 0) return;
  gpu::DeviceGuard guard(out.device().index);
  cudaStream_t stream = stream_for(out);
  if (a.is_contiguous() && b.is_contiguous() && out.is_contiguous()) {
    map2_flat<O, A, B><<<blocks_for(n), kThreads, 0, stream>>>(ptr<O>(out), ptr<const A>(a), ptr<const B>(b),
                                                                n, f);
  } else {
    const auto idx = make_offsets<3>(out.shape(), {&out, &a, &b}, op);
    map2_strided<O, A, B><<<blocks_for(n), kThreads, 0, stream>>>(ptr<O>(out), ptr<const A>(a),
                                                                   ptr<const B>(b), n, idx, f);
  }
  CUDASEG_CUDA_LAUNCH_CHECK(op, " ", a.str(), ", ", b.str(), " -> ", out.str());
}

}  // namespace cudaseg::cuda
