// Shared by cuda/loss.cu and cuda/loss_pointwise.cu: deterministic two-pass
// sums and the device view of a loss's upstream gradient.
//
// row_sums<K>(f, e, rows, m) computes K sums per row r of f(r, j, acc) over
// j in [0, m). Pass 1: block (chunk c, row r) accumulates its chunk in
// double, one element per thread in a strided loop, then a shared-memory
// tree; the partial goes to its own slot (no atomics). Pass 2: one thread
// per row adds its chunks in order and hands the K sums to e(r, sums). The
// chunk count depends only on m, so a result is the same on every run and
// every device. f may also write outputs (the fused per-position kernels):
// every (r, j) is visited exactly once.
#pragma once

#include <algorithm>

#include "cuda/common.cuh"
#include "ops/kernels/loss.h"

namespace cudaseg::cuda {

using ops::kernels::Pointwise;
using ops::kernels::UpstreamGrad;

constexpr int kReduceThreads = 256;
constexpr int64_t kReduceChunk = 8192;
constexpr int64_t kReduceMaxChunks = 1024;

template <int K, typename F>
__global__ void __launch_bounds__(kReduceThreads)
    partial_sums_kernel(F f, int64_t rows, int64_t m, int64_t chunks, int64_t chunk_len, double* partials) {
  __shared__ double buf[K][kReduceThreads];
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    double acc[K];
    for (int k = 0; k < K; ++k) acc[k] = 0;
    const int64_t begin = blockIdx.x * chunk_len, end = begin + chunk_len < m ? begin + chunk_len : m;
    for (int64_t j = begin + threadIdx.x; j < end; j += blockDim.x) f(r, j, acc);
    for (int k = 0; k < K; ++k) buf[k][threadIdx.x] = acc[k];
    __syncthreads();
    for (int s = kReduceThreads / 2; s > 0; s >>= 1) {
      if (static_cast<int>(threadIdx.x) < s)
        for (int k = 0; k < K; ++k) buf[k][threadIdx.x] += buf[k][threadIdx.x + s];
      __syncthreads();
    }
    if (threadIdx.x == 0)
      for (int k = 0; k < K; ++k) partials[(r * chunks + blockIdx.x) * K + k] = buf[k][0];
    __syncthreads();  // buf is reused for the next row
  }
}

template <int K, typename E>
__global__ void finish_sums_kernel(const double* partials, int64_t rows, int64_t chunks, E e) {
  for (int64_t r = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; r < rows;
       r += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    double sums[K];
    for (int k = 0; k < K; ++k) sums[k] = 0;
    for (int64_t c = 0; c < chunks; ++c)
      for (int k = 0; k < K; ++k) sums[k] += partials[(r * chunks + c) * K + k];
    e(r, sums);
  }
}

template <int K, typename F, typename E>
void row_sums(F f, E e, int64_t rows, int64_t m, Device device, const char* op) {
  if (rows == 0) return;
  const int64_t chunks = std::clamp<int64_t>((m + kReduceChunk - 1) / kReduceChunk, 1, kReduceMaxChunks);
  const int64_t chunk_len = (m + chunks - 1) / chunks;
  const Tensor partials = Tensor::empty({rows * chunks * K}, DType::f64, device);
  cudaStream_t stream = static_cast<cudaStream_t>(gpu::Stream::current(device.index).handle());
  const dim3 grid(static_cast<unsigned>(chunks), static_cast<unsigned>(std::min<int64_t>(rows, 65535)));
  partial_sums_kernel<K><<<grid, kReduceThreads, 0, stream>>>(f, rows, m, chunks, chunk_len, ptr<double>(partials));
  CUDASEG_CUDA_LAUNCH_CHECK(op, " (first reduction pass, ", rows, " x ", m, ")");
  finish_sums_kernel<K><<<blocks_for(rows), kThreads, 0, stream>>>(ptr<const double>(partials), rows, chunks, e);
  CUDASEG_CUDA_LAUNCH_CHECK(op, " (second reduction pass, ", rows, " x ", m, ")");
}

// Stores factor * sums[0] into out[0] (a 0-dim loss) and/or sums into keep.
template <typename T, int K>
struct StoreSum {
  T* out;        // or null
  double factor;
  double* keep;  // K doubles, or null
  __device__ void operator()(int64_t, const double (&sums)[K]) const {
    if (out) out[0] = store<T>(static_cast<acc_t<T>>(sums[0] * factor));
    if (keep)
      for (int k = 0; k < K; ++k) keep[k] = sums[k];
  }
};

// dL/dloss at element i, as ops::kernels::UpstreamGrad reads it, optionally
// times a per-element scale.
template <typename T>
struct Upstream {
  const T* grad;
  const T* scale;  // or null
  acc_t<T> factor;
  bool per_element;
  __device__ acc_t<T> at(int64_t i) const {
    acc_t<T> g = load(grad[per_element ? i : 0]) * factor;
    if (scale) g *= load(scale[i]);
    return g;
  }
};

template <typename T>
Upstream<T> upstream_of(const ops::kernels::UpstreamGrad& g, const Tensor& scale = Tensor()) {
  return {ptr<const T>(g.grad), scale.defined() ? ptr<const T>(scale) : nullptr, static_cast<acc_t<T>>(g.factor),
          g.per_element};
}

template <typename T>
T* ptr_or_null(const Tensor& t) {
  return t.defined() ? ptr<T>(t) : nullptr;
}

template <typename A>
__device__ __forceinline__ A exp_(A x) {
  if constexpr (std::is_same_v<A, double>) {
    return exp(x);
  } else {
    return expf(x);
  }
}

template <typename A>
__device__ __forceinline__ A log_(A x) {
  if constexpr (std::is_same_v<A, double>) {
    return log(x);
  } else {
    return logf(x);
  }
}

}  // namespace cudaseg::cuda
