// Shared by the CUDA kernels of the op set: the device element types of each
// dtype, their accumulation types, stream and launch-size helpers.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <type_traits>

#include "runtime/cuda/check.h"
#include "runtime/gpu.h"
#include "runtime/tensor.h"

namespace cudaseg::cuda {

// float and double compute in themselves; the 16-bit types load and store as
// half / bfloat16 and compute in float.
template <typename T>
using acc_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

template <typename T>
__device__ __forceinline__ acc_t<T> load(const T& v) {
  return static_cast<acc_t<T>>(v);
}

template <typename T>
__device__ __forceinline__ T store(acc_t<T> v) {
  if constexpr (std::is_same_v<T, __half>) {
    return __float2half_rn(v);
  } else if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    return __float2bfloat16_rn(v);
  } else {
    return static_cast<T>(v);
  }
}

// Calls f(T{}) with the device type of a floating dtype.
template <typename F>
void dispatch_floating(const char* op, DType dtype, F&& f) {
  switch (dtype) {
    case DType::f32: f(float{}); return;
    case DType::f64: f(double{}); return;
    case DType::f16: f(__half{}); return;
    case DType::bf16: f(__nv_bfloat16{}); return;
    default: CUDASEG_FAIL(op, ": CUDA kernel needs a floating dtype, got ", dtype_name(dtype));
  }
}

template <typename T>
T* ptr(const Tensor& t) {
  return reinterpret_cast<T*>(t.raw_data());
}

inline cudaStream_t stream_for(const Tensor& t) {
  return static_cast<cudaStream_t>(gpu::Stream::current(t.device().index).handle());
}

constexpr int kThreads = 256;

// Blocks for a grid-stride loop over n items: enough to fill the device, capped.
inline unsigned blocks_for(int64_t n, int threads = kThreads) {
  const int64_t blocks = (n + threads - 1) / threads;
  return static_cast<unsigned>(std::clamp<int64_t>(blocks, 1, 65535 * 8));
}

}  // namespace cudaseg::cuda
